package durable

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func record(t *testing.T) *[]string {
	t.Helper()
	var got []string
	stop := Observe(func(dir string) { got = append(got, dir) })
	t.Cleanup(stop)
	return &got
}

func TestMkdirAllSyncsEveryNewDirectory(t *testing.T) {
	root := t.TempDir()
	got := record(t)
	dir := filepath.Join(root, "a", "b", "c")
	if err := MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("%s: %v", dir, err)
	}
	want := []string{filepath.Join(root, "a", "b"), filepath.Join(root, "a"), root}
	if !slices.Equal(*got, want) {
		t.Fatalf("synced %q, want %q", *got, want)
	}
	// Nothing new, nothing synced.
	*got = nil
	if err := MkdirAll(dir, 0o750); err != nil || len(*got) != 0 {
		t.Fatalf("MkdirAll of an existing directory: %v, synced %q", err, *got)
	}
	// A file in the way is an error.
	f := filepath.Join(root, "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(filepath.Join(f, "x"), 0o750); err == nil {
		t.Fatal("MkdirAll under a file: no error")
	}
}

func TestRenameSyncsBothDirectories(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := record(t)
	if err := Rename(filepath.Join(a, "f"), filepath.Join(b, "g")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*got, []string{b, a}) {
		t.Fatalf("synced %q, want %q", *got, []string{b, a})
	}
	*got = nil
	if err := Rename(filepath.Join(b, "g"), filepath.Join(b, "h")); err != nil || !slices.Equal(*got, []string{b}) {
		t.Fatalf("rename in one directory: %v, synced %q", err, *got)
	}
}

func TestSyncDirErrors(t *testing.T) {
	got := record(t)
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("SyncDir of a missing directory: no error")
	}
	if len(*got) != 0 {
		t.Fatalf("a failed sync was observed: %q", *got)
	}
}
