package config

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const figure5 = "../../examples/figure5.yaml"

func TestFigure5Loads(t *testing.T) {
	c, err := Load(figure5)
	if err != nil {
		t.Fatalf("Load(%s): %v", figure5, err)
	}

	// The backup topology is figure 2's, and figure 2 has no copy job.
	c2, err := Load(figure2)
	if err != nil {
		t.Fatalf("Load(%s): %v", figure2, err)
	}
	if len(c2.CopyJobs) != 0 {
		t.Fatalf("figure2 has copy jobs: %+v", c2.CopyJobs)
	}
	if !reflect.DeepEqual(c.BackupGroup, c2.BackupGroup) || !reflect.DeepEqual(c.MirrorGroups, c2.MirrorGroups) ||
		!reflect.DeepEqual(c.Sources, c2.Sources) || !reflect.DeepEqual(c.Devices, c2.Devices) || c.Defaults != c2.Defaults {
		t.Fatalf("the backup topology of figure5.yaml differs from figure2.yaml")
	}
	if !reflect.DeepEqual(c.Pools[:3], c2.Pools) || len(c.Pools) != 5 {
		t.Fatalf("pools %+v", c.Pools)
	}
	for i, name := range []string{"copy4", "copy5"} {
		p := c.Pools[3+i]
		if p.Name != name || p.Directory != filepath.Join(c.Dir, "state", "volumes", name) {
			t.Fatalf("pool %+v, want %s in state/volumes/%s", p, name, name)
		}
	}

	if len(c.CopyJobs) != 1 {
		t.Fatalf("copy jobs %+v", c.CopyJobs)
	}
	if _, ok := c.CopyJob("figure2"); ok {
		t.Fatalf("CopyJob(figure2) found")
	}
	j, ok := c.CopyJob("figure5")
	if !ok || j != &c.CopyJobs[0] {
		t.Fatalf("CopyJob(figure5) = %p %v, want %p", j, ok, &c.CopyJobs[0])
	}

	// The restore group: RMA150 on R2 reads copy1, RMA152 on R5 reads copy2.
	type rb struct{ id, device, pool, source string }
	var rbs []rb
	for _, a := range j.RestoreGroup {
		for _, b := range a.Buffers {
			rbs = append(rbs, rb{b.ID(a.Name), a.Device, a.Pool, b.Select.Source})
			want := Selection{Source: b.Select.Source, Latest: true}
			if b.Select != want || b.Size != 32*MiB {
				t.Fatalf("restore buffer %s: %+v, want size 32MiB, selection %#v", b.ID(a.Name), b, want)
			}
		}
	}
	wantRB := []rb{{"RMA150.B1", "R2", "copy1", "D1"}, {"RMA150.B2", "R2", "copy1", "D5"}, {"RMA152.B1", "R5", "copy2", "D2"}}
	if !reflect.DeepEqual(rbs, wantRB) {
		t.Fatalf("restore buffers %+v, want %+v", rbs, wantRB)
	}

	// The chains of figure 5.
	want := map[string][]string{
		"RMA150.B1": {"BMA158.B1", "BMA164.B2"},
		"RMA150.B2": {"BMA160.B1", "BMA166.B3"},
		"RMA152.B1": {"BMA158.B2"},
	}
	devices := map[string]string{"BMA158": "R1", "BMA160": "R3", "BMA164": "R6", "BMA166": "R8"}
	newCopies := map[string][]string{} // source → devices of its new copies
	for id, ids := range want {
		chain := j.Chain(id)
		if len(chain) != len(ids) {
			t.Fatalf("Chain(%s) has %d links, want %d: %+v", id, len(chain), len(ids), chain)
		}
		_, b, _ := j.RestoreBuffer(id)
		for i, l := range chain {
			if got := l.Buffer.ID(l.Agent.Name); got != ids[i] {
				t.Fatalf("Chain(%s)[%d] = %s, want %s", id, i, got, ids[i])
			}
			if l.Copy != i+1 || l.Agent.Level != i+1 || l.Agent.Role != RoleCopy {
				t.Fatalf("Chain(%s)[%d]: copy %d, level %d, role %q; want stage %d, role copy", id, i, l.Copy, l.Agent.Level, l.Agent.Role, i+1)
			}
			if wantPool := []string{"copy4", "copy5"}[i]; l.Agent.Pool != wantPool || l.Agent.Device != devices[l.Agent.Name] {
				t.Fatalf("Chain(%s)[%d] on %s in pool %s, want %s in %s", id, i, l.Agent.Device, l.Agent.Pool, devices[l.Agent.Name], wantPool)
			}
			newCopies[b.Select.Source] = append(newCopies[b.Select.Source], l.Agent.Device)
		}
	}
	wantCopies := map[string][]string{"D1": {"R1", "R6"}, "D5": {"R3", "R8"}, "D2": {"R1"}}
	if !reflect.DeepEqual(newCopies, wantCopies) {
		t.Fatalf("new copies %v, want %v", newCopies, wantCopies)
	}
	for _, id := range []string{"RMA150.B3", "RMA999.B1", "BMA158.B1", ""} {
		if ch := j.Chain(id); ch != nil {
			t.Fatalf("Chain(%q) = %+v, want nil", id, ch)
		}
	}

	var names []string
	for _, a := range j.MediaAgents() {
		names = append(names, fmt.Sprintf("%s/%d", a.Name, a.Level))
	}
	if strings.Join(names, " ") != "BMA158/1 BMA160/1 BMA164/2 BMA166/2" {
		t.Fatalf("MediaAgents() = %v", names)
	}
	if a, b, ok := j.RestoreBuffer("RMA152.B1"); !ok || a.Name != "RMA152" || a.Device != "R5" || b.Select.Source != "D2" {
		t.Fatalf("RestoreBuffer(RMA152.B1) = %+v %+v %v", a, b, ok)
	}
	if _, _, ok := j.RestoreBuffer("BMA158.B1"); ok {
		t.Fatalf("RestoreBuffer(BMA158.B1) found")
	}
	// The copy job's media agents are not in the backup topology.
	if _, ok := c.MediaAgent("BMA158"); ok {
		t.Fatalf("MediaAgent(BMA158) found in the backup topology")
	}
	if _, _, ok := c.Buffer("RMA150.B1"); ok {
		t.Fatalf("Buffer(RMA150.B1) found in the backup topology")
	}
	if id := (RestoreBuffer{Name: "B1"}).ID("RMA150"); id != "RMA150.B1" {
		t.Fatalf("ID = %q", id)
	}
}

// fixedNow is the time of Load in the selection tests.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func withNow(t *testing.T, at time.Time) {
	t.Helper()
	saved := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = saved })
}

func TestSelections(t *testing.T) {
	withNow(t, fixedNow)
	c, err := Parse("/d/daisy.yaml", []byte(`clients: [{name: h1}, {name: h2}]
sources:
  - {name: D1, client: h1, paths: [/a]}
pools: [{name: p}, {name: offsite}]
devices: [{name: R1}, {name: R2}]
defaults:
  buffer_size: 8MiB
  pool: p
copy_jobs:
  - name: all-forms
    restore_group:
      - name: RMA1
        device: R1
        buffers:
          - {name: B1, select: {source: D1}}
          - {name: B2, select: {client: h2, level: incremental, latest: false}}
          - {name: B3, size: 1MiB, select: {object: 0190A3C2-7B}}
          - {name: B4, select: {since: 7d, until: 1d12h}}
          - {name: B5, select: {since: 2026-11-01, until: "2026-11-20T22:00:00+01:00"}}
          - {name: B6, select: {all: true}}
          - {name: B7, select: {not_in_pool: offsite, latest: true}}
    copy_groups:
      - media_agents:
          - name: BMA1
            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
              - {name: B3, follows: RMA1.B3}
              - {name: B4, follows: RMA1.B4}
              - {name: B5, follows: RMA1.B5}
              - {name: B6, follows: RMA1.B6}
              - {name: B7, follows: RMA1.B7, size: 2MiB}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	j, ok := c.CopyJob("all-forms")
	if !ok {
		t.Fatalf("no copy job all-forms")
	}
	day := 24 * time.Hour
	plus1 := time.FixedZone("", 3600)
	want := []struct {
		sel   Selection
		short string
	}{
		{Selection{Source: "D1", Latest: true}, "source D1"},
		{Selection{Client: "h2", Level: LevelIncremental}, "client h2, level incremental, every object"},
		{Selection{Object: "0190a3c2-7b", Latest: true}, "object 0190a3c2-7b"},
		{Selection{Since: fixedNow.Add(-7 * day), SinceAgo: 7 * day, Until: fixedNow.Add(-36 * time.Hour), UntilAgo: 36 * time.Hour, Latest: true}, "since 7d, until 1d12h"},
		{Selection{Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local), Until: time.Date(2026, 11, 20, 22, 0, 0, 0, plus1), Latest: true}, "since 2026-11-01, until 2026-11-20T22:00:00+01:00"},
		{Selection{All: true}, "all"},
		{Selection{NotInPool: "offsite", Latest: true}, "not in pool offsite"},
	}
	bufs := j.RestoreGroup[0].Buffers
	if len(bufs) != len(want) {
		t.Fatalf("%d buffers", len(bufs))
	}
	for i, b := range bufs {
		if !sameSelection(b.Select, want[i].sel) {
			t.Fatalf("%s selects %#v, want %#v", b.Name, b.Select, want[i].sel)
		}
		if got := b.Select.String(); got != want[i].short {
			t.Fatalf("%s: String() = %q, want %q", b.Name, got, want[i].short)
		}
		wantSize := 8 * MiB // defaults.buffer_size
		if b.Name == "B3" {
			wantSize = MiB
		}
		if b.Size != wantSize {
			t.Fatalf("%s: size %d, want %d", b.Name, b.Size, wantSize)
		}
	}
	stage := j.CopyGroups[0][0]
	if stage.Pool != "p" || stage.Role != RoleCopy || stage.Level != 1 || stage.Buffers[0].Size != 8*MiB || stage.Buffers[6].Size != 2*MiB {
		t.Fatalf("stage media agent %+v", stage)
	}
	if j.RestoreGroup[0].Pool != "" {
		t.Fatalf("restore media agent pool %q, want none", j.RestoreGroup[0].Pool)
	}

	// A long-running server resolves the durations again.
	later := fixedNow.Add(48 * time.Hour)
	r := bufs[3].Select.Resolve(later)
	if !r.Since.Equal(later.Add(-7*day)) || !r.Until.Equal(later.Add(-36*time.Hour)) || r.SinceAgo != 7*day {
		t.Fatalf("Resolve: %#v", r)
	}
	if r := bufs[4].Select.Resolve(later); !sameSelection(r, bufs[4].Select) {
		t.Fatalf("Resolve changed fixed times: %#v", r)
	}
	if s := (Selection{}).String(); s != "nothing, every object" {
		t.Fatalf("String of the zero selection = %q", s)
	}
}

func TestGraphFigure5(t *testing.T) {
	c, err := Load(figure5)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	j, _ := c.CopyJob("figure5")
	got := GraphCopyJob(c, j)
	golden := filepath.Join("testdata", "figure5.graph.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("GraphCopyJob(figure5) differs from %s (go test -update rewrites it):\n%s\nwant:\n%s", golden, got, want)
	}
	for i, line := range strings.Split(got, "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Fatalf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
	for _, s := range []string{
		"restore group",
		"copy group 1",
		"copy group 2",
		"│ B1 ← select source D1 │",
		"│ B2 ← RMA152.B1 │",
		"│ B3 ← BMA160.B1 │",
		"▲ R2 (pool copy1)",
		"▼ R6 (pool copy5)",
		"RMA150.B1 (source D1) → BMA158.B1 → BMA164.B2 (2 new copies)",
		"RMA150.B2 (source D5) → BMA160.B1 → BMA166.B3 (2 new copies)",
		"RMA152.B1 (source D2) → BMA158.B2 (1 new copy)",
	} {
		if !strings.Contains(got, s) {
			t.Fatalf("GraphCopyJob(figure5) lacks %q:\n%s", s, got)
		}
	}
	// The backup topology's graph is figure 2's.
	c2, err := Load(figure2)
	if err != nil {
		t.Fatal(err)
	}
	if Graph(c) != Graph(c2) || Dot(c) != Dot(c2) {
		t.Fatalf("Graph(figure5) differs from Graph(figure2)")
	}
}

func TestDotFigure5(t *testing.T) {
	c, err := Load(figure5)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	j, _ := c.CopyJob("figure5")
	d := DotCopyJob(c, j)
	for _, s := range []string{
		"digraph daisy {",
		"rankdir=LR",
		`label="copy job figure5"`,
		`subgraph cluster_restore {`,
		`label="restore group"`,
		`label="copy group 1"`,
		`label="copy group 2"`,
		`"agent RMA150":"buf_B1":e -> "agent BMA158":"buf_B1":w`,
		`"agent RMA152":"buf_B1":e -> "agent BMA158":"buf_B2":w`,
		`"agent RMA150":"buf_B2":e -> "agent BMA160":"buf_B1":w`,
		`"agent BMA158":"buf_B1":e -> "agent BMA164":"buf_B2":w`,
		`"agent BMA160":"buf_B1":e -> "agent BMA166":"buf_B3":w`,
		`<TD PORT="buf_B1" BORDER="1" SIDES="T">B1 ← select source D1</TD>`,
		`▲ R2<BR/><FONT POINT-SIZE="9">pool copy1</FONT>`,
		`▼ R8<BR/><FONT POINT-SIZE="9">pool copy5</FONT>`,
	} {
		if !strings.Contains(d, s) {
			t.Fatalf("DotCopyJob(figure5) lacks %q:\n%s", s, d)
		}
	}
	if n := strings.Count(d, `:e -> "agent `); n != 5 {
		t.Fatalf("DotCopyJob(figure5) has %d chain arrows, want 5", n)
	}
	if n := strings.Count(d, `[shape=plain`); n != 6 {
		t.Fatalf("DotCopyJob(figure5) has %d media agents, want 6", n)
	}
	if path, err := exec.LookPath("dot"); err == nil {
		cmd := exec.Command(path, "-Tsvg")
		cmd.Stdin = strings.NewReader(d)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
		}
	} else {
		t.Log("Graphviz not installed: the dot output was checked by content only")
	}
}

func TestGraphCopyJobOdd(t *testing.T) {
	// A copy job built in code, even an odd one, is drawn without panicking.
	c := &Config{}
	for _, j := range []*CopyJob{
		nil,
		{},
		{Name: "x", RestoreGroup: []RestoreAgent{{Name: "R"}}},
		{RestoreGroup: []RestoreAgent{{Name: "R", Buffers: []RestoreBuffer{{Name: "B"}}}}, CopyGroups: [][]MediaAgent{nil, {{Name: "M", Buffers: []Buffer{{Name: "B", Follows: "nowhere"}, {Name: "C", Follows: "R.B"}}}}}},
	} {
		g := GraphCopyJob(c, j)
		if !strings.HasPrefix(g, "restore group") || !strings.Contains(g, "new copies per restore buffer:") {
			t.Fatalf("GraphCopyJob(%+v) = %q", j, g)
		}
		if d := DotCopyJob(c, j); !strings.HasPrefix(d, "digraph daisy {") || !strings.HasSuffix(d, "}\n") {
			t.Fatalf("DotCopyJob(%+v) = %q", j, d)
		}
	}
	j := &CopyJob{RestoreGroup: []RestoreAgent{{Name: "R", Device: "T", Buffers: []RestoreBuffer{{Name: "B", Select: Selection{All: true}}}}}}
	want := `restore group
─────────────
┌─ R ────────────┐
│ B ← select all │
└────────────────┘
▲ T

new copies per restore buffer:
  R.B (all) (no new copy: no copy stage follows it)
`
	if got := GraphCopyJob(c, j); got != want {
		t.Fatalf("GraphCopyJob:\n%s\nwant:\n%s", got, want)
	}
}

func TestDotCopyJobEscapes(t *testing.T) {
	j := &CopyJob{
		Name:         `a"b`,
		RestoreGroup: []RestoreAgent{{Name: "r&s", Device: "x<y>", Buffers: []RestoreBuffer{{Name: "B<1>", Select: Selection{Source: `s"t`}}}}},
		CopyGroups:   [][]MediaAgent{{{Name: "m", Device: "d", Buffers: []Buffer{{Name: "C", Follows: "r&s.B<1>"}}}}},
	}
	d := DotCopyJob(&Config{}, j)
	for _, s := range []string{`label="copy job a\"b"`, `<B>r&amp;s</B>`, `▲ x&lt;y&gt;`, `PORT="buf_B&lt;1&gt;"`, `B&lt;1&gt; ← select source s&quot;t, every object`, `"agent r&s":"buf_B<1>":e -> "agent m":"buf_C":w`} {
		if !strings.Contains(d, s) {
			t.Fatalf("DotCopyJob lacks %q:\n%s", s, d)
		}
	}
}
