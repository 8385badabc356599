package pools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device/vtape"
	"daisy/internal/volume"
)

func setState(t *testing.T, cat *catalog.Catalog, id, state string) {
	t.Helper()
	v, err := cat.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	v.State = state
	if err := cat.UpdateVolume(context.Background(), v); err != nil {
		t.Fatal(err)
	}
}

// A pool that needs a volume relabels a recyclable one (new ID, same label
// and file) before it creates a file; one that still holds a good copy is
// left alone.
func TestNextRecyclesVolumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(dir, "p"), VolumeCapacity: 1 << 20}
	dev := config.Device{Name: "d", Type: "vtape", BlockSize: 64 << 10}
	if err := cat.EnsurePool(ctx, catalog.Pool{Name: "p", Type: "vtape", Directory: pool.Directory}); err != nil {
		t.Fatal(err)
	}
	m := NewManager(cat)
	defer m.Close()
	d := m.Drive(pool, dev)

	next := func() (string, string) {
		t.Helper()
		mt, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Release(ctx, mt, 10, true, nil); err != nil {
			t.Fatal(err)
		}
		return mt.Label.VolumeID.String(), mt.Label.Label
	}
	id1, label1 := next()
	setState(t, cat, id1, StateRecyclable)
	id2, label2 := next()
	if label2 != label1 || id2 == id1 {
		t.Fatalf("second volume %s (%s), want %s relabelled with a new id (was %s)", label2, id2, label1, id1)
	}
	files, _ := filepath.Glob(filepath.Join(pool.Directory, "*.vtape"))
	if len(files) != 1 {
		t.Fatalf("%d volume files, want 1", len(files))
	}
	// The file holds the new label and nothing after it.
	med, err := vtape.Open(files[0], vtape.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := volume.NewReader(med)
	if err != nil {
		t.Fatal(err)
	}
	if r.Label().VolumeID.String() != id2 || med.Blocks() != 1 {
		t.Fatalf("file holds %s with %d blocks, want %s with 1", r.Label().VolumeID, med.Blocks(), id2)
	}
	med.Close()
	v, err := cat.Volume(ctx, id2)
	if err != nil || v.Label != label1 || v.State != StateFull {
		t.Fatalf("catalog row %+v, %v", v, err)
	}

	// A recyclable volume with a good copy on it is not reused.
	const obj = "0190aaaa-0000-7000-8000-000000000001"
	if err := cat.AddObject(ctx, catalog.Object{ID: obj, Source: "S", Client: "h", Level: "full"}); err != nil {
		t.Fatal(err)
	}
	if err := cat.FinishObject(ctx, obj, 100, 3, 1, "sha256:00", catalog.ObjectComplete, v.Created); err != nil {
		t.Fatal(err)
	}
	if err := cat.AddCopy(ctx, catalog.Copy{ObjectID: obj, Number: 1, Role: catalog.RoleBackup, Pool: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := cat.CommitCopy(ctx, obj, 1, []catalog.Extent{{VolumeID: id2, FirstBlock: 1, LastBlock: 1, EndOffset: 100}}); err != nil {
		t.Fatal(err)
	}
	setState(t, cat, id2, StateRecyclable)
	id3, label3 := next()
	if id3 == id2 || label3 == label1 {
		t.Fatalf("volume %s with a good copy was reused as %s (%s)", label1, label3, id3)
	}
	if _, err := cat.Volume(ctx, id2); err != nil {
		t.Fatalf("the volume with the good copy: %v", err)
	}
	files, _ = filepath.Glob(filepath.Join(pool.Directory, "*.vtape"))
	if len(files) != 2 {
		t.Fatalf("%d volume files, want 2", len(files))
	}
}

// LockAll waits for a pool another holder has, says so once, and takes it
// when it is free; with no wait left it fails with ErrPoolBusy naming the
// holder's pid; a cancelled context stops the wait.
func TestLockAllWaitsForHolder(t *testing.T) {
	p := config.Pool{Name: "p1", Directory: t.TempDir()}
	held, err := LockDir(p)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(nil)
	defer m.Close()
	err = m.LockAll(context.Background(), []config.Pool{p, p}, 0, nil)
	if !errors.Is(err, ErrPoolBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), "pool p1") {
		t.Fatalf("LockAll of a held pool: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.LockAll(ctx, []config.Pool{p}, time.Minute, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("LockAll with a cancelled context: %v", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		Unlock(held)
	}()
	var msgs []string
	if err := m.LockAll(context.Background(), []config.Pool{p}, 10*time.Second, func(s string) { msgs = append(msgs, s) }); err != nil {
		t.Fatalf("LockAll after the holder let go: %v", err)
	}
	if len(msgs) != 2 || !strings.Contains(msgs[0], "waiting") || !strings.Contains(msgs[1], "free") {
		t.Fatalf("LockAll said %q", msgs)
	}
	if _, err := LockDir(p); !errors.Is(err, ErrPoolBusy) {
		t.Fatalf("the manager does not hold p1: %v", err)
	}
}
