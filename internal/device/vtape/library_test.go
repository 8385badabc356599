package vtape

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/devicetest"
	"daisy/internal/volume"
)

func newTestLibrary(t *testing.T, capacity int64) *Library {
	t.Helper()
	l, err := NewLibrary(LibraryOptions{Dir: filepath.Join(t.TempDir(), "pool"), Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Issue 10: vtape passes the device conformance suite.
func TestConformance(t *testing.T) {
	devicetest.Run(t, devicetest.Config{
		New: func(t *testing.T) device.Library { return newTestLibrary(t, 0) },
		Small: func(t *testing.T, blocks int) device.Library {
			return newTestLibrary(t, int64(blocks)*volume.MinBlockSize)
		},
	})
}

// The library's volumes are LABEL.vtape files of its directory; Open and
// Erase take any volume file path; a non-regular file is no volume.
func TestLibraryFiles(t *testing.T) {
	ctx := context.Background()
	l := newTestLibrary(t, 0)
	m, ref, err := l.Create(ctx, "P-0001", tbs)
	if err != nil {
		t.Fatal(err)
	}
	if ref != filepath.Join(l.Dir(), "P-0001.vtape") || m.Name() != ref {
		t.Fatalf("Create: ref %q, name %q", ref, m.Name())
	}
	m.Close()
	for _, bad := range []string{"", "a/b", "..", "."} {
		if m, _, err := l.Create(ctx, bad, tbs); err == nil {
			m.Close()
			t.Errorf("Create with label %q: no error", bad)
		}
	}
	// A file elsewhere (a pool directory that moved) opens too.
	other := filepath.Join(t.TempDir(), "moved.vtape")
	if err := os.Rename(ref, other); err != nil {
		t.Fatal(err)
	}
	if m, err := l.Open(ctx, other, device.Append, tbs); err != nil {
		t.Fatalf("Open of a file outside the directory: %v", err)
	} else {
		m.Close()
	}
	dir := filepath.Join(l.Dir(), "D-0001.vtape")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Erase(ctx, dir, tbs); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("Erase of a directory: %v, want ErrNoVolume", err)
	}
	if found, err := l.List(ctx); err != nil || len(found) != 0 {
		t.Fatalf("List with only a directory named *.vtape: %v, %v", found, err)
	}
	if _, err := l.Open(ctx, other, device.ReadOnly, 0); !errors.Is(err, ErrNoLabel) {
		t.Fatalf("Open of an empty file without a block size: %v, want ErrNoLabel", err)
	}
}

// Space and Reclaimer: free space of the directory's filesystem, the size
// of a volume file, and cutting it after its label.
func TestLibrarySpaceReclaim(t *testing.T) {
	ctx := context.Background()
	l := newTestLibrary(t, 0)
	var lib device.Library = l
	sp, ok := device.As[device.Space](lib)
	rc, ok2 := device.As[device.Reclaimer](lib)
	if !ok || !ok2 {
		t.Fatal("vtape.Library is not a device.Space and device.Reclaimer")
	}
	m, ref, err := l.Create(ctx, "R", tbs)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, m.(*Medium), 0, 5)
	m.Close()
	if free, err := sp.Free(); err != nil || free <= 0 {
		t.Fatalf("Free: %d, %v", free, err)
	}
	if n, err := rc.VolumeSize(ctx, ref); err != nil || n != 5*tbs {
		t.Fatalf("VolumeSize: %d, %v", n, err)
	}
	if n, err := rc.Cut(ctx, ref, tbs, 1); err != nil || n != tbs {
		t.Fatalf("Cut: %d, %v", n, err)
	}
	if fi, err := os.Stat(ref); err != nil || fi.Size() != tbs {
		t.Fatalf("after Cut: %v, %v", fi, err)
	}
	if n, err := rc.Cut(ctx, ref, tbs, 3); err != nil || n != tbs {
		t.Fatalf("Cut of a shorter file: %d, %v", n, err)
	}
	if _, err := rc.VolumeSize(ctx, ref+"-gone"); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("VolumeSize of a missing file: %v", err)
	}
	// KeepFree: more than the filesystem has gives the early warning at
	// the first block (after the label).
	sp.KeepFree(1 << 62)
	m, _, err = l.Create(ctx, "S", tbs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.WriteBlock(blockOf(0, tbs)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("write with more to keep free than there is: %v, want ErrEndOfMedium", err)
	}
}
