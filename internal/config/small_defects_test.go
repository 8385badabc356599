package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestParseStripsBOM: a leading UTF-8 byte order mark is not part of the
// first key; errors after it keep their line:column.
func TestParseStripsBOM(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	data := InitTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "D", Path: dir}}})
	c, err := Parse(file, append([]byte("\ufeff"), data...))
	if err != nil {
		t.Fatalf("with a BOM: %v", err)
	}
	if c.Catalog.SQLite != filepath.Join(dir, "state", "catalog.db") {
		t.Fatalf("catalog %q", c.Catalog.SQLite)
	}
	_, err = Parse(file, []byte("\ufeffcatalogue:\n  sqlite: x\n"))
	if err == nil || !strings.Contains(err.Error(), `:1:1: unknown top-level key "catalogue"`) {
		t.Fatalf("want the unknown key at 1:1 without the BOM, got %v", err)
	}
}

// initYAML is the configuration daisy init writes for one source in dir,
// edited by the replacements old, new, ...
func initYAML(t *testing.T, dir string, oldNew ...string) []byte {
	t.Helper()
	s := string(InitTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "D", Path: dir}}}))
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("the init template has no %q", oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return []byte(s)
}

// wantError parses data and checks the one error it gives is at line:col
// of the line holding key and says every one of want.
func wantError(t *testing.T, file string, data []byte, key string, want ...string) {
	t.Helper()
	_, err := Parse(file, data)
	if err == nil {
		t.Fatalf("no error; want one at %q saying %q", key, want)
	}
	line := 0
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, key) && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			line = i + 1
			break
		}
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Line != line || es[0].File != file {
		t.Fatalf("want one error at line %d (%q) of %s, got %v", line, key, file, err)
	}
	for _, w := range want {
		if !strings.Contains(es[0].Msg, w) {
			t.Errorf("error %q does not say %q", es[0].Msg, w)
		}
	}
}

// TestCatalogPathNotAFile: a catalog that is a directory or a device, or
// is under /dev, /proc or /sys, is a configuration error at catalog.sqlite
// naming the path.
func TestCatalogPathNotAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	wantError(t, file, initYAML(t, dir, "sqlite: state/catalog.db", "sqlite: "+dir), "sqlite:", "catalog.sqlite "+dir, "a directory")
	wantError(t, file, initYAML(t, dir, "sqlite: state/catalog.db", "sqlite: /dev/null"), "sqlite:", "catalog.sqlite /dev/null", "/dev")
	wantError(t, file, initYAML(t, dir, "sqlite: state/catalog.db", "sqlite: /proc/x.db"), "sqlite:", "catalog.sqlite /proc/x.db")
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	below := filepath.Join(dir, "f", "c.db")
	wantError(t, file, initYAML(t, dir, "sqlite: state/catalog.db", "sqlite: "+below), "sqlite:", "catalog.sqlite "+below, "below a file")
	if _, err := Parse(file, initYAML(t, dir)); err != nil {
		t.Fatalf("the catalog of the template: %v", err)
	}
}

// TestPoolDirectories: two pools sharing a directory, and a pool under
// /dev, are errors naming both pools and where the first one is.
func TestPoolDirectories(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	shared := initYAML(t, dir, "pools:\n", "pools:\n  - {name: p2, directory: state/volumes/default}\n")
	_, err := Parse(file, initYAML(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(shared), "\n")
	first := 0
	for i, l := range lines {
		if strings.Contains(l, "name: p2, directory: state/volumes/default") {
			first = i + 1
		}
	}
	wantError(t, file, shared, "    directory: state/volumes/default", "pool p2", "pool default",
		fmt.Sprintf("%s:%d:", file, first), filepath.Join(dir, "state", "volumes", "default"))
	for _, d := range []string{"/dev/shm/x", "/dev", "/sys/fs/x", "/proc/1"} {
		wantError(t, file, initYAML(t, dir, "directory: state/volumes/default", "directory: "+d), "directory: "+d, "pool default", d)
	}
	// /devices is not /dev.
	if _, err := Parse(file, initYAML(t, dir, "directory: state/volumes/default", "directory: /devices/x")); err != nil {
		t.Fatalf("/devices/x: %v", err)
	}
}

// TestBuffersAboveMemory: buffers whose total is above the machine's
// memory are an error naming the buffer and the memory.
func TestBuffersAboveMemory(t *testing.T) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo:", err)
	}
	var kb int64
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" {
			kb, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if kb <= 0 {
		t.Fatalf("no MemTotal in /proc/meminfo:\n%s", data)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	big := fmt.Sprintf("%dMiB", 2*kb/1024)
	wantError(t, file, initYAML(t, dir, "buffer_size: 64MiB", "buffer_size: "+big), "buffer_size:",
		"bma0.B1 "+big, "more than this machine's memory", "/proc/meminfo")
}

// TestCopyJobBuffersAboveMemory: the buffers of a copy job, which runs
// alone, are checked against the memory on their own.
func TestCopyJobBuffersAboveMemory(t *testing.T) {
	defer func(f func() (int64, string)) { machineMemory = f }(machineMemory)
	machineMemory = func() (int64, string) { return 1 * GiB, "test" }
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "figure5.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "daisy.yaml")
	if _, err := Parse(file, src); err != nil {
		t.Fatalf("figure5.yaml within 1GiB: %v", err)
	}
	old := "          - name: B2\n            select:\n              source: D5"
	if !strings.Contains(string(src), old) {
		t.Fatal("figure5.yaml changed shape")
	}
	data := []byte(strings.Replace(string(src), old, "          - name: B2\n            size: 1GiB\n            select:\n              source: D5", 1))
	wantError(t, file, data, "size: 1GiB", "copy job figure5", "RMA150.B2 1GiB", "memory of 1.0GiB (test)")
}

// TestSourceMayBeAbsent: may_be_absent is a boolean of a source; anything
// else is an error at its line naming the key. MissingSourcePaths warns of
// a path that does not exist, saying whether the source allows it.
func TestSourceMayBeAbsent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daisy.yaml")
	src := "    paths: ["
	c, err := Parse(file, initYAML(t, dir, src, "    may_be_absent: true\n"+src))
	if err != nil || len(c.Sources) != 1 || !c.Sources[0].MayBeAbsent {
		t.Fatalf("may_be_absent: true: %+v, %v", c.Sources, err)
	}
	if w := c.MissingSourcePaths(); len(w) != 0 {
		t.Fatalf("warnings %q for a path that exists", w)
	}
	wantError(t, file, initYAML(t, dir, src, "    may_be_absent: sometimes\n"+src), "may_be_absent:", "may_be_absent", "true or false")

	gone := filepath.Join(dir, "usb")
	c, err = Parse(file, initYAML(t, dir, src, src+gone+", "))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.MissingSourcePaths(); len(w) != 1 || !strings.Contains(w[0].Msg, gone+" does not exist") || !strings.Contains(w[0].Msg, "add may_be_absent: true") {
		t.Fatalf("warnings %q; want one for %s", w, gone)
	}
	c.Sources[0].MayBeAbsent = true
	if w := c.MissingSourcePaths(); len(w) != 1 || !strings.Contains(w[0].Msg, "may_be_absent: a backup records it as absent") {
		t.Fatalf("warnings %q with may_be_absent", w)
	}
}
