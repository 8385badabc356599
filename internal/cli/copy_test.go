package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// figure5 sets up examples/figure5.yaml with small data and runs its
// backup.
func figure5(t *testing.T, edit func(string) string) (dir, cfg string) {
	t.Helper()
	dir, cfg = example(t, "figure5.yaml", nil, testtree.Spec{SmallFiles: 60, LargeFiles: 1, LargeSize: 2 << 20}, 10, edit)
	backupJSON(t, cfg, 0)
	return dir, cfg
}

func copyJSON(t *testing.T, want int, args ...string) jobs.CopyResult {
	t.Helper()
	code, out, errs := run(t, append([]string{"--json"}, args...)...)
	if code != want {
		t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errs)
	}
	var res jobs.CopyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v --json: %v\n%s", args, err, out)
	}
	return res
}

func newCopies(res jobs.CopyResult) map[string][]int {
	m := map[string][]int{}
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			if c.State == jobs.CopyGood {
				m[o.Source] = append(m[o.Source], c.Number)
			}
		}
	}
	return m
}

func openCatalog(t *testing.T, dir string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// Issue 3, acceptance 1: figure 5's copy job gives D1 and D5 two more
// copies and D2 one, in one read pass, and each restores identical.
func TestFigure5CopyJob(t *testing.T) {
	dir, cfg := figure5(t, nil)
	dry := copyJSON(t, 0, "-c", cfg, "copy", "--job", "figure5", "--dry-run")
	if !dry.DryRun || len(dry.Objects) != 3 {
		t.Fatalf("dry run planned %d objects: %+v", len(dry.Objects), dry)
	}
	cat := openCatalog(t, dir)
	before, _ := cat.AllCopies(context.Background())
	res := copyJSON(t, 0, "-c", cfg, "copy", "--job", "figure5")
	got := newCopies(res)
	want := map[string][]int{"D1": {4, 5}, "D5": {2, 3}, "D2": {4}}
	for src, nums := range want {
		if fmt.Sprint(got[src]) != fmt.Sprint(nums) {
			t.Fatalf("%s new copies %v, want %v (all: %+v)", src, got[src], nums, got)
		}
	}
	after, _ := cat.AllCopies(context.Background())
	if len(after) != len(before)+5 {
		t.Fatalf("catalog has %d copies, had %d before: want 5 more (dry run must add none)", len(after), len(before))
	}
	// The new copies point back to their objects and record their pools.
	pools := map[string]string{}
	for _, c := range after {
		pools[fmt.Sprintf("%s/%d", c.ObjectID, c.Number)] = c.Pool
	}
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			if p := pools[fmt.Sprintf("%s/%d", o.Object, c.Number)]; p != c.Pool || (p != "copy4" && p != "copy5") {
				t.Fatalf("%s copy %d in pool %q (result says %q)", o.Source, c.Number, p, c.Pool)
			}
		}
	}
	for src, nums := range want {
		for _, n := range nums {
			restoreAndCompare(t, dir, cfg, src, n)
		}
	}
	code, out, _ := run(t, "-c", cfg, "graph", "--job", "figure5")
	if code != 0 || !strings.Contains(out, "RMA150") || !strings.Contains(out, "BMA166") {
		t.Fatalf("graph --job figure5: exit %d\n%s", code, out)
	}
}

func TestCopyAndMigrate(t *testing.T) {
	dir, cfg := figure5(t, nil)
	res := copyJSON(t, 0, "-c", cfg, "copy", "--to-pool", "copy3", "--source", "D3")
	if got := newCopies(res)["D3"]; fmt.Sprint(got) != "[2]" {
		t.Fatalf("D3 new copies %v, want [2]", got)
	}
	restoreAndCompare(t, dir, cfg, "D3", 2)

	// Migrate D5 out of copy1: afterwards no copy of it is left there.
	res = copyJSON(t, 0, "-c", cfg, "migrate", "--from-pool", "copy1", "--to-pool", "copy4", "--source", "D5")
	if len(res.Dropped) != 1 || res.Dropped[0].Pool != "copy1" {
		t.Fatalf("migrate dropped %+v, want D5's copy in copy1", res.Dropped)
	}
	cat := openCatalog(t, dir)
	obj, err := jobs.FindObject(context.Background(), cat, "", "D5")
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := cat.Copies(context.Background(), obj.ID)
	for _, c := range cps {
		if c.Pool == "copy1" {
			t.Fatalf("copy %d of D5 is still in pool copy1 after migrate", c.Number)
		}
	}
	restoreAndCompare(t, dir, cfg, "D5", 0)
}

// volumeOf returns the label of the volume holding a source's copy.
func volumeOf(t *testing.T, dir, source string, copyN int) string {
	t.Helper()
	cat := openCatalog(t, dir)
	obj, err := jobs.FindObject(context.Background(), cat, "", source)
	if err != nil {
		t.Fatal(err)
	}
	exts, err := cat.Extents(context.Background(), obj.ID, copyN)
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents of %s copy %d: %v", source, copyN, err)
	}
	v, err := cat.Volume(context.Background(), exts[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	return v.Label
}

func volumeState(t *testing.T, dir, label string) string {
	t.Helper()
	v, err := openCatalog(t, dir).Volume(context.Background(), label)
	if err != nil {
		t.Fatal(err)
	}
	return v.State
}

func TestRefreshAndDemux(t *testing.T) {
	dir, cfg := figure5(t, nil)
	// BMA124 wrote D3, D2 and D4 interleaved onto one copy1 volume.
	// (BMA126 may have appended D5 and D1 to the same volume when it ran
	// after BMA124: count what the volume holds.)
	vol := volumeOf(t, dir, "D2", 1)
	cat := openCatalog(t, dir)
	v, err := cat.Volume(context.Background(), vol)
	if err != nil {
		t.Fatal(err)
	}
	exts, _ := cat.VolumeExtents(context.Background(), v.ID)
	onVol := map[string]bool{}
	for _, e := range exts {
		onVol[e.ObjectID] = true
	}
	n := len(onVol)
	if n < 3 {
		t.Fatalf("volume %s holds %d objects, want at least D2, D3 and D4", vol, n)
	}
	res := copyJSON(t, 0, "-c", cfg, "demux", vol)
	if len(res.Objects) != n {
		t.Fatalf("demux of %s copied %d objects, want %d", vol, len(res.Objects), n)
	}
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			exts, _ := cat.Extents(context.Background(), o.Object, c.Number)
			if c.State != jobs.CopyGood || len(exts) != 1 {
				t.Fatalf("after demux %s copy %d is %s in %d extents, want good in 1", o.Source, c.Number, c.State, len(exts))
			}
		}
	}
	if st := volumeState(t, dir, vol); st != "recyclable" {
		t.Fatalf("demuxed volume %s is %s, want recyclable", vol, st)
	}
	for _, src := range []string{"D2", "D3", "D4"} {
		restoreAndCompare(t, dir, cfg, src, 0)
	}
	// Refresh the new volume: everything moves again, the old one retires.
	var vol2 string
	for _, o := range res.Objects {
		if o.Source == "D3" {
			vol2 = volumeOf(t, dir, "D3", o.NewCopies[0])
		}
	}
	res = copyJSON(t, 0, "-c", cfg, "refresh", vol2)
	if len(res.Objects) != n || len(res.Dropped) != n {
		t.Fatalf("refresh of %s: %d objects, %d dropped copies; want %d and %d", vol2, len(res.Objects), len(res.Dropped), n, n)
	}
	if st := volumeState(t, dir, vol2); st != "retired" {
		t.Fatalf("refreshed volume %s is %s, want retired", vol2, st)
	}
	for _, src := range []string{"D2", "D3", "D4"} {
		restoreAndCompare(t, dir, cfg, src, 0)
	}
}

func TestCompact(t *testing.T) {
	dir, cfg := figure5(t, nil)
	// BMA124 and BMA126 filled a little of one or two copy1 volumes (two
	// when they ran at the same time). Close those and back up D3 again, so
	// that the pool surely has at least two sparse volumes.
	cat := openCatalog(t, dir)
	vols, _ := cat.Volumes(context.Background(), "copy1")
	for _, v := range vols {
		v.State = "full"
		if err := cat.UpdateVolume(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := run(t, "-c", cfg, "backup", "--source", "D3"); code != 0 {
		t.Fatalf("second backup: exit %d\n%s%s", code, out, errs)
	}
	vols, _ = cat.Volumes(context.Background(), "copy1")
	if len(vols) < 2 {
		t.Fatalf("copy1 has %d volumes; the test needs at least 2", len(vols))
	}
	res := copyJSON(t, 0, "-c", cfg, "compact", "--pool", "copy1", "--threshold", "50%")
	if len(res.Objects) != 6 {
		t.Fatalf("compact copied %d objects, want the 6 live ones of copy1", len(res.Objects))
	}
	after, _ := cat.Volumes(context.Background(), "copy1")
	live, recyclable := 0, 0
	for _, v := range after {
		switch v.State {
		case "recyclable":
			recyclable++
		case "appendable", "full":
			live++
		}
	}
	if live != 1 || recyclable != len(vols) {
		t.Fatalf("after compact copy1 has %d live and %d recyclable volumes: want 1 and %d (%+v)", live, recyclable, len(vols), after)
	}
	for _, src := range []string{"D1", "D2", "D3", "D4", "D5"} {
		restoreAndCompare(t, dir, cfg, src, 0)
	}
}

func TestConsolidate(t *testing.T) {
	dir, cfg := figure5(t, nil)
	backupJSON(t, cfg, 0) // a second full backup: the restore chain starts there
	res := copyJSON(t, 0, "-c", cfg, "consolidate", "--source", "D1", "--to-pool", "copy4")
	if len(res.Objects) != 1 {
		t.Fatalf("consolidate copied %d objects, want the latest full", len(res.Objects))
	}
	c := res.Objects[0].Copies[0]
	if c.State != jobs.CopyGood || len(c.Volumes) != 1 || c.Extents != 1 {
		t.Fatalf("consolidated copy: %+v, want good, one volume, one extent", c)
	}
	restoreAndCompare(t, dir, cfg, "D1", c.Number)
}

// A copy job whose source copy is damaged goes on from another good copy
// at the record where the first one failed, and the new copy restores
// identical.
func TestCopyFallsBackToAnotherCopy(t *testing.T) {
	dir, cfg := figure5(t, nil)
	cat := openCatalog(t, dir)
	obj, err := jobs.FindObject(context.Background(), cat, "", "D2")
	if err != nil {
		t.Fatal(err)
	}
	// D2 has copies 1..3; the job reads copy 1 first.
	vol, block := damageCopy(t, dir, obj.ID, 1)
	res := copyJSON(t, 0, "-c", cfg, "copy", "--object", obj.ID, "--to-pool", "copy4")
	if len(res.Objects) != 1 {
		t.Fatalf("copied %d objects", len(res.Objects))
	}
	o := res.Objects[0]
	if o.FromCopy != 1 || o.ReadCopy < 2 || len(o.FellBack) != 1 || !strings.Contains(o.FellBack[0], vol.Label) {
		t.Fatalf("from copy %d, read copy %d, fell back %q: want copy 1 given up (volume %s, block %d)", o.FromCopy, o.ReadCopy, o.FellBack, vol.Label, block)
	}
	if len(o.Copies) != 1 || o.Copies[0].State != jobs.CopyGood {
		t.Fatalf("new copies %+v, want one good", o.Copies)
	}
	restoreAndCompare(t, dir, cfg, "D2", o.Copies[0].Number)
}
