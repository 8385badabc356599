package pools

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/durable"
	"daisy/internal/testtree"
)

const testBlock = 64 << 10

func testDrive(t *testing.T, pool config.Pool) (*catalog.Catalog, *Drive) {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if err := cat.EnsurePool(ctx, catalog.Pool{Name: pool.Name, Type: "vtape", Directory: pool.Directory}); err != nil {
		t.Fatal(err)
	}
	m := NewManager(cat)
	t.Cleanup(func() { m.Close() })
	return cat, m.Drive(pool, config.Device{Name: "d", Type: "vtape", BlockSize: testBlock})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Issue 8 item 4: the blocks of a failed session are cut from the volume
// file when the session is released, on a new volume and after a complete
// session alike; the catalog keeps the complete sessions' block count.
func TestReleaseCutsFailedSession(t *testing.T) {
	ctx := context.Background()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(t.TempDir(), "p"), VolumeCapacity: 1 << 30}
	cat, d := testDrive(t, pool)
	failed := errors.New("device failed")
	session := func(blocks int, fail error) (path string, at int64) {
		t.Helper()
		mt, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := mt.Medium.(device.Locator).Locate(mt.At); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < blocks; i++ {
			if err := mt.Medium.WriteBlock(make([]byte, testBlock)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Release(ctx, mt, mt.At+int64(blocks), false, fail); err != nil {
			t.Fatal(err)
		}
		return mt.Medium.Name(), mt.At
	}
	path, at := session(7, failed)
	if at != 1 || fileSize(t, path) != testBlock {
		t.Fatalf("after a failed first session the volume file has %d bytes, want its label only (%d)", fileSize(t, path), testBlock)
	}
	if p2, _ := session(5, nil); p2 != path || fileSize(t, path) != 6*testBlock {
		t.Fatalf("complete session: %s has %d bytes, want %d", p2, fileSize(t, path), 6*testBlock)
	}
	if _, at := session(9, failed); at != 6 || fileSize(t, path) != 6*testBlock {
		t.Fatalf("after a failed session from block %d the file has %d bytes, want %d", at, fileSize(t, path), 6*testBlock)
	}
	vols, err := cat.Volumes(ctx, "p")
	if err != nil || len(vols) != 1 || vols[0].Blocks != 6 || vols[0].State != StateAppendable {
		t.Fatalf("catalog volumes %+v, %v", vols, err)
	}
}

// A drive mounts nothing, and creates no volume file, when the pool's
// filesystem has less free than the pool keeps free.
func TestNextNoRoom(t *testing.T) {
	ctx := context.Background()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(t.TempDir(), "p"), VolumeCapacity: 1 << 30, FreeSpace: 1 << 62}
	cat, d := testDrive(t, pool)
	_, err := d.Next(ctx)
	if !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), pool.Directory) || !strings.Contains(err.Error(), "free_space") {
		t.Fatalf("Next with no room: %v, want ErrNoRoom naming the directory and free_space", err)
	}
	files, _ := filepath.Glob(filepath.Join(pool.Directory, "*"))
	for _, f := range files {
		if filepath.Base(f) != ".daisy-lock" {
			t.Errorf("file %s left in the pool directory", f)
		}
	}
	if vols, err := cat.Volumes(ctx, "p"); err != nil || len(vols) != 0 {
		t.Fatalf("catalog volumes %+v, %v", vols, err)
	}
}

// The free space a pool keeps: as configured, or an eighth of its
// filesystem, at most MaxAutoFreeSpace.
func TestFreeSpaceDerived(t *testing.T) {
	small := testtree.MountTmpfs(t, "16m")
	for _, c := range []struct {
		dir  string
		set  int64
		want int64
	}{
		{small, config.FreeSpaceAuto, 2 << 20},
		{small, 0, 0},
		{small, 5 << 20, 5 << 20},
		{t.TempDir(), 123, 123},
	} {
		got, err := FreeSpace(config.Pool{Name: "p", Directory: c.dir, FreeSpace: c.set})
		if err != nil || got != c.want {
			t.Errorf("FreeSpace of %s set to %d: %d, %v; want %d", c.dir, c.set, got, err, c.want)
		}
	}
	if got, err := FreeSpace(config.Pool{Name: "p", Directory: t.TempDir(), FreeSpace: config.FreeSpaceAuto}); err != nil || got <= 0 || got > MaxAutoFreeSpace {
		t.Errorf("derived FreeSpace on the test's filesystem: %d, %v", got, err)
	}
	if _, err := FreeSpace(config.Pool{Name: "p", Directory: filepath.Join(small, "missing"), FreeSpace: config.FreeSpaceAuto}); err == nil {
		t.Error("FreeSpace of a missing directory: no error")
	}
}

// Issue 8 item 5: a new pool directory (with its missing parents) and a
// new volume file are synced in their parent directories before the
// catalog records the volume.
func TestNewVolumeSyncedBeforeCatalog(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(root, "a", "b", "p"), VolumeCapacity: 1 << 30}
	cat, d := testDrive(t, pool)
	var synced []string
	stop := durable.Observe(func(dir string) {
		if vols, err := cat.Volumes(ctx, "p"); err != nil || len(vols) != 0 {
			t.Errorf("directory %s synced after the catalog recorded volumes %+v (%v)", dir, vols, err)
		}
		synced = append(synced, dir)
	})
	mt, err := d.Next(ctx)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, mt, 1, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), pool.Directory} {
		if !slices.Contains(synced, dir) {
			t.Errorf("directory %s was not synced (synced: %q)", dir, synced)
		}
	}
	if vols, err := cat.Volumes(ctx, "p"); err != nil || len(vols) != 1 {
		t.Fatalf("catalog volumes %+v, %v", vols, err)
	}
}
