package catalog

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"daisy/internal/durable"
)

// Issue 8 item 5: a new catalog's directories and its file are synced in
// their parent directories, so a crash cannot take the catalog's name
// away after it recorded copies; opening an existing catalog syncs none.
func TestOpenSyncsNewCatalogDirectory(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	path := filepath.Join(root, "x", "y", "catalog.db")
	var synced []string
	stop := durable.Observe(func(dir string) { synced = append(synced, dir) })
	defer stop()
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, dir := range []string{root, filepath.Join(root, "x"), filepath.Join(root, "x", "y")} {
		if !slices.Contains(synced, dir) {
			t.Errorf("directory %s not synced (synced: %q)", dir, synced)
		}
	}
	synced = nil
	c, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(synced) != 0 {
		t.Errorf("opening an existing catalog synced %q", synced)
	}
}
