package config

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestGraphFigure2(t *testing.T) {
	c, err := Load(figure2)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := Graph(c)
	golden := filepath.Join("testdata", "figure2.graph.golden")
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
		t.Fatalf("Graph(figure2) differs from %s (go test -update rewrites it):\n%s\nwant:\n%s", golden, got, want)
	}
	for i, line := range strings.Split(got, "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Fatalf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
	for _, s := range []string{
		"D1: BMA126.B3 → BMA140.B1 → BMA146.B1 (3 copies)",
		"D2: BMA124.B2 → BMA138.B2 → BMA144.B2 (3 copies)",
		"D3: BMA124.B1 (1 copy)",
		"D4: BMA124.B3 → BMA138.B3 (2 copies)",
		"D5: BMA126.B1 (1 copy)",
		"│ B2 ← BMA124.B2 │",
		"D3 ───▶ │ B1 ← D3  │",
		"▼ R6 (pool copy3)",
	} {
		if !strings.Contains(got, s) {
			t.Fatalf("Graph(figure2) lacks %q:\n%s", s, got)
		}
	}
}

func TestGraphNotBackedUp(t *testing.T) {
	c, err := Parse("/d/daisy.yaml", []byte(`sources:
  - name: home
    paths: [/home]
  - name: scratch
    paths: [/scratch]
devices:
  - name: tape0
backup_group:
  - name: bma0
    device: tape0
    buffers:
      - name: B1
        source: home
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `sources  backup group
───────  ────────────
         ┌─ bma0 ────┐
home ──▶ │ B1 ← home │
         └───────────┘
         ▼ tape0 (pool default)

scratch

copies per source:
  home:    bma0.B1 (1 copy)
  scratch: (not backed up)
`
	if got := Graph(c); got != want {
		t.Fatalf("Graph:\n%s\nwant:\n%s", got, want)
	}
}

func TestGraphEmpty(t *testing.T) {
	// A Config built in code, even an odd one, is drawn without panicking.
	for _, c := range []*Config{
		{},
		{Sources: []Source{{Name: "a"}}, MirrorGroups: [][]MediaAgent{nil, {{Name: "x", Buffers: []Buffer{{Name: "B", Follows: "nowhere"}}}}}},
		{BackupGroup: []MediaAgent{{Name: "m"}}},
	} {
		if g := Graph(c); !strings.Contains(g, "copies per source:") {
			t.Fatalf("Graph(%+v) = %q", c, g)
		}
		if d := Dot(c); !strings.HasPrefix(d, "digraph daisy {") || !strings.HasSuffix(d, "}\n") {
			t.Fatalf("Dot(%+v) = %q", c, d)
		}
	}
}

func TestDotFigure2(t *testing.T) {
	c, err := Load(figure2)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d := Dot(c)
	for _, s := range []string{
		"digraph daisy {",
		"rankdir=LR",
		`subgraph cluster_sources {`,
		`label="backup group"`,
		`label="mirror group 1"`,
		`label="mirror group 2"`,
		`"source D2" -> "agent BMA124":"buf_B2":w;`,
		`"agent BMA124":"buf_B2":e -> "agent BMA138":"buf_B2":w`,
		`"agent BMA138":"buf_B2":e -> "agent BMA144":"buf_B2":w`,
		`"agent BMA126":"buf_B3":e -> "agent BMA140":"buf_B1":w`,
		`"agent BMA140":"buf_B1":e -> "agent BMA146":"buf_B1":w`,
		`<TD PORT="buf_B2" BORDER="1" SIDES="T">B2 ← BMA124.B2</TD>`,
		`▼ R5<BR/>`,
	} {
		if !strings.Contains(d, s) {
			t.Fatalf("Dot(figure2) lacks %q:\n%s", s, d)
		}
	}
	// Chains: 3 + 2 + 1 + 1 + 1 - 5 backup buffers = 5 buffer-to-buffer arrows,
	// and 5 arrows from sources.
	if n := strings.Count(d, `:e -> "agent `); n != 5 {
		t.Fatalf("Dot(figure2) has %d chain arrows, want 5", n)
	}
	if n := strings.Count(d, `"source D`); n != 10 {
		t.Fatalf("Dot(figure2) names sources %d times, want 10 (5 nodes, 5 arrows)", n)
	}
	// When Graphviz is installed, it must accept the graph without a word.
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

func TestDotEscapes(t *testing.T) {
	c := &Config{
		Sources:     []Source{{Name: `a"b`, Client: "c<d>"}},
		BackupGroup: []MediaAgent{{Name: "m&n", Device: "x", Buffers: []Buffer{{Name: "B<1>", Source: `a"b`}}}},
	}
	d := Dot(c)
	for _, s := range []string{`"source a\"b"`, `label="a\"b\nc<d>"`, `<B>m&amp;n</B>`, `PORT="buf_B&lt;1&gt;"`, `B&lt;1&gt; ← a&quot;b`} {
		if !strings.Contains(d, s) {
			t.Fatalf("Dot lacks %q:\n%s", s, d)
		}
	}
}
