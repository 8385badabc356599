package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestInitTemplate(t *testing.T) {
	opts := InitOptions{
		Host: "web1",
		Sources: []InitSource{
			{Name: "home", Path: "/home"},
			{Name: "my docs", Path: "/srv/my docs #1"},
			{Name: "home", Path: "/root"},
			{Name: "", Path: "/"},
			{Name: "yes", Path: "/etc: x"},
			{Name: ".hidden", Path: `/tmp/"quoted"\back`},
		},
		VolumeCapacity: 2 * GiB,
	}
	out := InitTemplate(opts)
	c, err := Parse("/etc/daisy/daisy.yaml", out)
	if err != nil {
		t.Fatalf("InitTemplate output does not parse: %v\n%s", err, out)
	}
	if len(c.Clients) != 1 || c.Clients[0].Name != "web1" {
		t.Fatalf("clients %+v", c.Clients)
	}
	wantNames := []string{"home", "my-docs", "home-2", "source4", "yes", "hidden"}
	if len(c.Sources) != len(opts.Sources) {
		t.Fatalf("sources %+v", c.Sources)
	}
	for i, s := range c.Sources {
		if s.Name != wantNames[i] || s.Client != "web1" || len(s.Paths) != 1 || s.Paths[0] != filepath.Clean(opts.Sources[i].Path) {
			t.Fatalf("source %d = %+v, want %s reading %s", i, s, wantNames[i], opts.Sources[i].Path)
		}
		if ch := c.Chain(s.Name); len(ch) != 1 || ch[0].Agent.Name != "bma0" || ch[0].Agent.Device != "tape0" {
			t.Fatalf("chain of %s: %+v", s.Name, ch)
		}
	}
	if c.Catalog.SQLite != "/etc/daisy/state/catalog.db" {
		t.Fatalf("catalog %q", c.Catalog.SQLite)
	}
	if len(c.Pools) != 1 || c.Pools[0] != (Pool{Name: "default", Type: "vtape", Directory: "/etc/daisy/state/volumes/default", VolumeCapacity: 2 * GiB, FreeSpace: FreeSpaceAuto}) {
		t.Fatalf("pools %+v", c.Pools)
	}
	if len(c.Devices) != 1 || c.Devices[0].Name != "tape0" || c.Devices[0].Type != "vtape" {
		t.Fatalf("devices %+v", c.Devices)
	}
	if len(c.BackupGroup) != 1 || c.BackupGroup[0].Name != "bma0" || len(c.BackupGroup[0].Buffers) != len(opts.Sources) || c.MirrorGroups != nil {
		t.Fatalf("groups %+v %+v", c.BackupGroup, c.MirrorGroups)
	}
	for _, s := range []string{"# mirror_groups:", "#       - name: bma1", "#   - name: tape1", "#             follows: bma0.B1"} {
		if !strings.Contains(string(out), s) {
			t.Fatalf("template lacks the commented-out mirror example %q:\n%s", s, out)
		}
	}

	// The commented-out mirror level works once uncommented.
	c, err = Parse("/etc/daisy/daisy.yaml", initTemplate(opts, true))
	if err != nil {
		t.Fatalf("template with the mirror level does not parse: %v\n%s", err, initTemplate(opts, true))
	}
	for _, s := range c.Sources {
		if ch := c.Chain(s.Name); len(ch) != 2 || ch[1].Agent.Name != "bma1" || ch[1].Agent.Device != "tape1" || ch[1].Copy != 2 {
			t.Fatalf("chain of %s with the mirror level: %+v", s.Name, ch)
		}
	}
	// Uncommenting means removing "# " from the example lines.
	if !sameExample(string(out), string(initTemplate(opts, true))) {
		t.Fatalf("the commented-out example is not the working one with \"# \" before each line")
	}
}

// sameExample reports whether a and b differ only by "# " at the start of
// lines.
func sameExample(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		if la[i] != lb[i] && strings.TrimPrefix(la[i], "# ") != lb[i] {
			return false
		}
	}
	return true
}

func TestInitTemplateMinimal(t *testing.T) {
	// No host: this machine; no sources: still a file that parses.
	out := InitTemplate(InitOptions{})
	c, err := Parse("/d/daisy.yaml", out)
	if err != nil {
		t.Fatalf("empty InitTemplate does not parse: %v\n%s", err, out)
	}
	if len(c.Clients) != 1 || c.Clients[0].Name != "testhost" || len(c.Sources) != 0 || c.Pools[0].VolumeCapacity != 10*GiB {
		t.Fatalf("config %+v", c)
	}
	// A tiny capacity is raised to four blocks.
	out = InitTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "a", Path: "/a"}}, VolumeCapacity: 1000})
	if c, err = Parse("/d/daisy.yaml", out); err != nil || c.Pools[0].VolumeCapacity != 1*MiB {
		t.Fatalf("tiny capacity: %v %+v", err, c)
	}
	// An unusable host name is made usable.
	out = InitTemplate(InitOptions{Host: "host name!", Sources: []InitSource{{Name: "a", Path: "/a"}}})
	if c, err = Parse("/d/daisy.yaml", out); err != nil || c.Clients[0].Name != "host-name" {
		t.Fatalf("odd host: %v %+v", err, c)
	}
}

func TestYAMLQuote(t *testing.T) {
	for in, want := range map[string]string{
		"home":      "home",
		"/srv/data": "/srv/data",
		"":          `""`,
		"yes":       `"yes"`,
		"123":       `"123"`,
		"1.5":       `"1.5"`,
		"a b":       `"a b"`,
		"a: b":      `"a: b"`,
		"#x":        `"#x"`,
		"-x":        `"-x"`,
		"é":         `"é"`,
		`a"b`:       `"a\"b"`,
	} {
		if got := yamlQuote(in); got != want {
			t.Fatalf("yamlQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
