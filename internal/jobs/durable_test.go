package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"daisy/internal/durable"
)

// Issue 8 item 5: the catalog moved aside for a rebuild is renamed
// durably before a new catalog takes its name.
func TestMoveAsideSyncsDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.db")
	for _, p := range []string{path, path + "-wal"} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var synced []string
	stop := durable.Observe(func(d string) {
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Errorf("directory %s synced before the WAL file was moved", d)
		}
		synced = append(synced, d)
	})
	defer stop()
	dst, err := moveAside(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst + "-wal"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, dir) {
		t.Fatalf("moving the catalog aside synced %q, not %s", synced, dir)
	}
}
