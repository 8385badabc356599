package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conf", "daisy.yaml")
	c, err := Parse(file, []byte(`catalog:
  sqlite: ../state/./cat.db
sources:
  - name: D1
    paths: [data/D1, ./data/../other/, /srv/abs/./x/]
pools:
  - name: p
  - name: q
    directory: vols/q
  - name: r
    directory: /var/lib/daisy/r
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	confDir := filepath.Join(dir, "conf")
	if c.File != file || c.Dir != confDir {
		t.Fatalf("File, Dir = %q, %q", c.File, c.Dir)
	}
	if want := filepath.Join(dir, "state", "cat.db"); c.Catalog.SQLite != want {
		t.Fatalf("catalog %q, want %q", c.Catalog.SQLite, want)
	}
	wantPaths := []string{filepath.Join(confDir, "data", "D1"), filepath.Join(confDir, "other"), "/srv/abs/x"}
	if strings.Join(c.Sources[0].Paths, "|") != strings.Join(wantPaths, "|") {
		t.Fatalf("paths %q, want %q", c.Sources[0].Paths, wantPaths)
	}
	wantDirs := []string{filepath.Join(confDir, "state", "volumes", "p"), filepath.Join(confDir, "vols", "q"), "/var/lib/daisy/r"}
	for i, p := range c.Pools {
		if p.Directory != wantDirs[i] {
			t.Fatalf("pool %s directory %q, want %q", p.Name, p.Directory, wantDirs[i])
		}
	}

	// A relative file name is taken from the working directory.
	wd, _ := os.Getwd()
	c, err = Parse("sub/daisy.yaml", []byte("sources:\n  - name: D1\n    paths: [x]\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Dir != filepath.Join(wd, "sub") || c.Sources[0].Paths[0] != filepath.Join(wd, "sub", "x") {
		t.Fatalf("Dir %q, path %q", c.Dir, c.Sources[0].Paths[0])
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("/etc/daisy/daisy.yaml", []byte(`sources:
  - name: D1
    paths: [/home]
devices:
  - name: R1
backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Catalog.SQLite != "/etc/daisy/state/catalog.db" {
		t.Fatalf("catalog %q", c.Catalog.SQLite)
	}
	if c.Defaults != (Defaults{BufferSize: 64 * MiB, BlockSize: 256 * KiB, Pool: "default", ExtentSize: 64 * MiB}) {
		t.Fatalf("defaults %+v", c.Defaults)
	}
	if len(c.Clients) != 1 || c.Clients[0].Name != "testhost" || c.Sources[0].Client != "testhost" {
		t.Fatalf("clients %+v, source %+v", c.Clients, c.Sources[0])
	}
	if len(c.Pools) != 1 || c.Pools[0] != (Pool{Name: "default", Type: "vtape", Directory: "/etc/daisy/state/volumes/default", VolumeCapacity: 10 * GiB, FreeSpace: FreeSpaceAuto}) {
		t.Fatalf("pools %+v", c.Pools)
	}
	if c.Devices[0] != (Device{Name: "R1", Type: "vtape", BlockSize: 256 * KiB}) {
		t.Fatalf("device %+v", c.Devices[0])
	}
	a := c.BackupGroup[0]
	if a.Pool != "default" || a.Role != RoleBackup || a.Level != 0 || a.Buffers[0].Size != 64*MiB {
		t.Fatalf("media agent %+v", a)
	}
	if c.MirrorGroups != nil {
		t.Fatalf("mirror groups %+v", c.MirrorGroups)
	}
	if ch := c.Chain("D1"); len(ch) != 1 || ch[0].Copy != 1 {
		t.Fatalf("chain %+v", ch)
	}

	// Defaults given in the file reach devices, buffers and media agents;
	// a single pool is the default pool.
	c, err = Parse("/d/daisy.yaml", []byte(`defaults:
  buffer_size: 8MiB
  block_size: 1MiB
clients:
  - name: web1
sources:
  - name: D1
    paths: [/home]
pools:
  - name: only
    volume_capacity: 4MiB
devices:
  - name: R1
  - name: R2
    block_size: 64KiB
backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
        size: 2MiB
mirror_groups:
  - media_agents:
      - name: BMA2
        device: R2
        buffers:
          - name: B1
            follows: BMA1.B1
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Defaults.Pool != "only" || c.Devices[0].BlockSize != MiB || c.Devices[1].BlockSize != 64*KiB {
		t.Fatalf("defaults %+v, devices %+v", c.Defaults, c.Devices)
	}
	if c.BackupGroup[0].Buffers[0].Size != 2*MiB || c.MirrorGroups[0][0].Buffers[0].Size != 8*MiB {
		t.Fatalf("buffer sizes %+v %+v", c.BackupGroup[0].Buffers, c.MirrorGroups[0][0].Buffers)
	}
	if a := c.MirrorGroups[0][0]; a.Pool != "only" || a.Role != RoleMirror || a.Level != 1 {
		t.Fatalf("mirror agent %+v", a)
	}
	if c.Sources[0].Client != "web1" {
		t.Fatalf("source client %q", c.Sources[0].Client)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	c, err := Parse("/d/daisy.yaml", []byte(`sources:
  - name: D1
    paths: &paths [/a, /b]
  - name: D2
    paths: *paths
devices:
  - &tape {name: R1, type: vtape, block_size: 1MiB}
  - <<: *tape
    name: R2
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if strings.Join(c.Sources[1].Paths, ",") != "/a,/b" {
		t.Fatalf("D2 paths %v", c.Sources[1].Paths)
	}
	if c.Devices[1].Name != "R2" || c.Devices[1].BlockSize != MiB {
		t.Fatalf("R2 = %+v", c.Devices[1])
	}

	// Merge keys that expand exponentially end with one error, quickly.
	doc := "x0: &a0 {k: v}\n"
	for i := 1; i <= 30; i++ {
		p := "*a" + itoa(i-1)
		doc += "x" + itoa(i) + ": &a" + itoa(i) + " {<<: [" + p + ", " + p + ", " + p + ", " + p + "]}\n"
	}
	doc += "sources:\n  - <<: *a30\n"
	_, err = Parse("d.yaml", []byte(doc))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("merge bomb: %v", err)
	}
	found := false
	for _, e := range *errs {
		found = found || strings.Contains(e.Msg, "nest too deeply") || strings.Contains(e.Msg, "expands to too much data")
	}
	if !found || len(*errs) > 40 {
		t.Fatalf("merge bomb: %d errors:\n%v", len(*errs), err)
	}
}

func TestAliasBudget(t *testing.T) {
	// Shallow but wide: 8^10 merged pairs exhaust the budget of work.
	doc := "x0: &a0 {k: v}\n"
	for i := 1; i <= 10; i++ {
		p := "*a" + itoa(i-1)
		doc += "x" + itoa(i) + ": &a" + itoa(i) + " {<<: [" + strings.Repeat(p+", ", 7) + p + "]}\n"
	}
	doc += "sources:\n  - <<: *a10\n"
	_, err := Parse("d.yaml", []byte(doc))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("alias bomb: %v", err)
	}
	for _, e := range *errs {
		if strings.Contains(e.Msg, "expands to too much data") {
			return
		}
	}
	t.Fatalf("alias bomb: no error about its size:\n%v", err)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestErrorsType(t *testing.T) {
	_, err := Parse("x.yaml", []byte("sources: 1\ndevices: 2\n"))
	var errs *Errors
	if !errors.As(err, &errs) || len(*errs) != 2 {
		t.Fatalf("errors.As(*Errors) failed for %v", err)
	}
	var vals Errors
	if !errors.As(err, &vals) || len(vals) != 2 {
		t.Fatalf("errors.As(Errors) failed for %v", err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 1 || one.Column != 10 || one.File != "x.yaml" {
		t.Fatalf("errors.As(*Error) = %+v", one)
	}
	want := "x.yaml:1:10: sources must be a list, not a number; write e.g. sources: [{name: home, paths: [/home]}]\n" +
		"x.yaml:2:10: devices must be a list, not a number; write e.g. devices: [{name: tape0, type: vtape}]"
	if err.Error() != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || errors.As(err, new(*Errors)) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
	path := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(path, []byte("sources:\n  - name: D1\n    paths: [data]\n    clinet: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:4:5: unknown key "clinet" in source D1; did you mean "client"? valid keys are name, client, paths, exclude, compression, may_be_absent`
	if err == nil || err.Error() != want {
		t.Fatalf("Load: %v\nwant %s", err, want)
	}
	if err := os.WriteFile(path, []byte("sources:\n  - name: D1\n    paths: [data]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.Sources[0].Paths[0] != filepath.Join(dir, "data") {
		t.Fatalf("Load: %v, %+v", err, c)
	}
}

func TestLargeConfig(t *testing.T) {
	// Thousands of sources and buffers stay far below the bound of work.
	// (Their 375GiB of buffers pass the memory check of a big machine.)
	defer func(f func() (int64, string)) { machineMemory = f }(machineMemory)
	machineMemory = func() (int64, string) { return 1 << 40, "test" }
	var b strings.Builder
	b.WriteString("sources:\n")
	for i := 0; i < 3000; i++ {
		b.WriteString("  - name: S" + itoa(i) + "\n    paths: [/data/" + itoa(i) + "]\n")
	}
	b.WriteString("devices: [{name: R1}, {name: R2}]\nbackup_group:\n  - name: A\n    device: R1\n    buffers:\n")
	for i := 0; i < 3000; i++ {
		b.WriteString("      - {name: B" + itoa(i) + ", source: S" + itoa(i) + "}\n")
	}
	b.WriteString("mirror_groups:\n  - media_agents:\n      - name: M\n        device: R2\n        buffers:\n")
	for i := 0; i < 3000; i++ {
		b.WriteString("          - {name: B" + itoa(i) + ", follows: A.B" + itoa(i) + "}\n")
	}
	c, err := Parse("/d/daisy.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if ch := c.Chain("S2999"); len(ch) != 2 || ch[1].Buffer.ID(ch[1].Agent.Name) != "M.B2999" {
		t.Fatalf("Chain(S2999) = %+v", ch)
	}
}
