package pools

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/volume"
)

// A volume whose label block is damaged is read from its block headers,
// but a drive does not append to it: it is marked full and the next
// volume is used.
func TestNextSkipsDamagedLabel(t *testing.T) {
	ctx := context.Background()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(t.TempDir(), "p"), VolumeCapacity: 1 << 30}
	cat, d := testDrive(t, pool)
	mt, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := mt.Medium.(device.Locator).Locate(mt.At); err != nil {
		t.Fatal(err)
	}
	blk := make([]byte, testBlock) // a valid data block without records
	volume.PutBlockHeader(blk, volume.BlockHeader{Volume: mt.Label.VolumeID, Number: uint64(mt.At), BlockSize: testBlock})
	if err := mt.Medium.WriteBlock(blk); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, mt, mt.At+1, false, nil); err != nil {
		t.Fatal(err)
	}
	path := mt.Medium.Name()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, volume.BlockHeaderSize+20)
	b[0] ^= 8
	f.WriteAt(b, volume.BlockHeaderSize+20)
	f.Close()

	mt2, err := d.Next(ctx)
	if err != nil {
		t.Fatalf("Next after the label of the only volume was damaged: %v", err)
	}
	if mt2.Medium.Name() == path || mt2.Label.VolumeID == mt.Label.VolumeID {
		t.Fatalf("Next mounted the volume with the damaged label again")
	}
	if err := d.Release(ctx, mt2, mt2.At, false, nil); err != nil {
		t.Fatal(err)
	}
	v, err := cat.Volume(ctx, mt.Label.VolumeID.String())
	if err != nil || v.State != StateFull {
		t.Fatalf("volume with the damaged label: %+v, %v; want full", v, err)
	}
}
