package vtape

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/device"
	"daisy/internal/durable"
	"daisy/internal/testtree"
)

// The filesystem's free space gives the early warning: a volume stops
// before the filesystem is full, keeping MinFree free after its reserve.
func TestFreeSpaceEarlyWarning(t *testing.T) {
	fs := testtree.MountTmpfs(t, "1m")
	const minFree = 256 << 10
	m, err := Create(filepath.Join(fs, "vol"), Options{BlockSize: tbs, MinFree: minFree})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fill := func() int {
		t.Helper()
		for i := 0; i < 1<<20/tbs; i++ {
			err := m.WriteBlock(blockOf(i, tbs))
			if errors.Is(err, device.ErrEndOfMedium) {
				if !strings.Contains(err.Error(), "free on its filesystem") || !strings.Contains(err.Error(), m.Name()) {
					t.Errorf("the early warning does not say why: %v", err)
				}
				return i
			}
			if err != nil {
				t.Fatalf("block %d: %v, want the early warning before the filesystem is full", i, err)
			}
		}
		t.Fatal("no early warning on a full filesystem")
		return 0
	}
	n := fill()
	if m.Size() != int64(n)*tbs {
		t.Fatalf("the early warning wrote something: size %d after %d blocks", m.Size(), n)
	}
	// The reserve can be written, then nothing more.
	writeN(t, m, n, ReserveBlocks)
	if err := m.WriteBlock(blockOf(0, tbs)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("write past the reserve: %v, want ErrFull", err)
	}
	free, err := FreeSpace(fs)
	if err != nil {
		t.Fatal(err)
	}
	if free < minFree {
		t.Fatalf("%d bytes free after the reserve, want at least %d kept free", free, minFree)
	}
	if free >= minFree+(2+ReserveBlocks)*tbs {
		t.Fatalf("the warning came early: %d bytes free after the reserve", free)
	}
	// Cutting the volume frees the space and clears the warning.
	if err := m.Truncate(1); err != nil {
		t.Fatal(err)
	}
	if n2 := fill(); n2 != n-1 {
		t.Fatalf("after the cut to one block, the early warning came after %d more blocks, first after %d", n2, n)
	}
}

// Where statfs shows less free than MinFree from the start, the first
// block gives the early warning; a medium without MinFree never looks.
func TestFreeSpaceBelowMinFree(t *testing.T) {
	m, _ := create(t, Options{MinFree: 1 << 62})
	if err := m.WriteBlock(blockOf(0, tbs)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("first write with MinFree beyond the filesystem: %v, want ErrEndOfMedium", err)
	}
	writeN(t, m, 0, ReserveBlocks)
	if err := m.WriteBlock(blockOf(2, tbs)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("write past the reserve: %v, want ErrFull", err)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "v"), Options{BlockSize: tbs, MinFree: -1}); err == nil {
		t.Fatal("negative MinFree accepted")
	}
}

// Issue 8 item 5: a new volume file's directory entry is synced before
// Create returns.
func TestCreateSyncsDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vol0001")
	var synced []string
	stop := durable.Observe(func(d string) {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("directory %s synced before the volume file exists: %v", d, err)
		}
		synced = append(synced, d)
	})
	m, err := Create(path, Options{BlockSize: tbs})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if len(synced) != 1 || synced[0] != dir {
		t.Fatalf("directories synced by Create: %q, want [%s]", synced, dir)
	}
}
