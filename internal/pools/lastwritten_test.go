package pools

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/volume"
)

// TestReleaseMovesLastWritten: every session that adds blocks to a volume
// moves its last_written; one that adds none leaves it.
func TestReleaseMovesLastWritten(t *testing.T) {
	ctx := context.Background()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(t.TempDir(), "p"), VolumeCapacity: 1 << 30}
	cat, d := testDrive(t, pool)
	session := func(blocks int) time.Time {
		t.Helper()
		mt, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := mt.Medium.(device.Locator).Locate(mt.At); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < blocks; i++ {
			blk := make([]byte, testBlock)
			volume.PutBlockHeader(blk, volume.BlockHeader{Volume: mt.Label.VolumeID, Number: uint64(mt.At) + uint64(i), BlockSize: testBlock})
			if err := mt.Medium.WriteBlock(blk); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Release(ctx, mt, mt.At+int64(blocks), false, nil); err != nil {
			t.Fatal(err)
		}
		v, err := cat.Volume(ctx, mt.Label.VolumeID.String())
		if err != nil {
			t.Fatal(err)
		}
		return v.LastWritten
	}
	first := session(1)
	time.Sleep(5 * time.Millisecond)
	second := session(2)
	if !second.After(first) {
		t.Fatalf("last_written %v after a second session that wrote 2 blocks, the first's was %v", second, first)
	}
	time.Sleep(5 * time.Millisecond)
	if third := session(0); !third.Equal(second) {
		t.Fatalf("last_written moved from %v to %v on a session that wrote nothing", second, third)
	}
}
