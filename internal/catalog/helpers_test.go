package catalog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// openTest opens a new catalog in a temporary directory and closes it when
// the test ends.
func openTest(t testing.TB) *Catalog {
	t.Helper()
	c, err := Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// objectID returns a UUID-shaped id made from n.
func objectID(n int) string {
	return fmt.Sprintf("0190%04x-0000-7000-8000-%012x", n>>16, n)
}

// addObject records an object and, if length >= 0, finishes it complete
// with that length.
func addObject(t testing.TB, c *Catalog, id string, length int64) {
	t.Helper()
	ctx := context.Background()
	err := c.AddObject(ctx, Object{ID: id, Source: "home", Client: "alpha", Level: "full", Started: time.Now()})
	if err != nil {
		t.Fatalf("AddObject: %v", err)
	}
	if length >= 0 {
		if err := c.FinishObject(ctx, id, length, 10, 3, "sha256:00", ObjectComplete, time.Time{}); err != nil {
			t.Fatalf("FinishObject: %v", err)
		}
	}
}

// addVolumes records pool "p" with one volume per id, labelled L-id.
func addVolumes(t testing.TB, c *Catalog, ids ...string) {
	t.Helper()
	ctx := context.Background()
	if err := c.EnsurePool(ctx, Pool{Name: "p", Type: "vtape", Directory: "/srv/p"}); err != nil {
		t.Fatalf("EnsurePool: %v", err)
	}
	for _, id := range ids {
		err := c.CreateVolume(ctx, Volume{ID: id, Label: "L-" + id, Pool: "p", BlockSize: 262144, Capacity: 1 << 30})
		if err != nil {
			t.Fatalf("CreateVolume %s: %v", id, err)
		}
	}
}

// addCopy records a copy in state writing.
func addCopy(t testing.TB, c *Catalog, id string, number int) {
	t.Helper()
	err := c.AddCopy(context.Background(), Copy{ObjectID: id, Number: number, Role: RoleBackup, Device: "d1", Pool: "p"})
	if err != nil {
		t.Fatalf("AddCopy %s/%d: %v", id, number, err)
	}
}

// copyState returns the state of a copy and how many extents it has.
func copyState(t testing.TB, c *Catalog, id string, number int) (string, int) {
	t.Helper()
	ctx := context.Background()
	cp, err := c.Copy(ctx, id, number)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	ext, err := c.Extents(ctx, id, number)
	if err != nil {
		t.Fatalf("Extents: %v", err)
	}
	return cp.State, len(ext)
}

// goodCopy gives a complete object of that length a good copy 1, on a
// volume of pool "p" made for it.
func goodCopy(t testing.TB, c *Catalog, id string, length int64) {
	t.Helper()
	ctx := context.Background()
	if err := c.EnsurePool(ctx, Pool{Name: "p", Type: "vtape", Directory: "/srv/p"}); err != nil {
		t.Fatalf("EnsurePool: %v", err)
	}
	vol := "V-" + id
	if err := c.CreateVolume(ctx, Volume{ID: vol, Label: "L-" + vol, Pool: "p", BlockSize: 262144, Capacity: 1 << 30}); err != nil {
		t.Fatalf("CreateVolume %s: %v", vol, err)
	}
	addCopy(t, c, id, 1)
	if err := c.CommitCopy(ctx, id, 1, []Extent{{VolumeID: vol, FirstBlock: 1, LastBlock: 1, EndOffset: length}}); err != nil {
		t.Fatalf("CommitCopy %s/1: %v", id, err)
	}
}
