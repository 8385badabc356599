package pools

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/mediaagent"
	"daisy/internal/volume"
)

// writeBlocks appends n data blocks without records to a mounted volume
// and releases it (full or not).
func writeBlocks(t *testing.T, d *Drive, mt mediaagent.Mount, n int, full bool) {
	t.Helper()
	if err := mt.Medium.(device.Locator).Locate(mt.At); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		blk := make([]byte, testBlock)
		volume.PutBlockHeader(blk, volume.BlockHeader{Volume: mt.Label.VolumeID, Number: uint64(mt.At) + uint64(i), BlockSize: testBlock})
		if err := mt.Medium.WriteBlock(blk); err != nil {
			t.Fatal(err)
		}
	}
	if err := mt.Medium.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(context.Background(), mt, mt.At+int64(n), full, nil); err != nil {
		t.Fatal(err)
	}
}

// Reclaim cuts a recyclable volume's file to its label block and records
// one block; it refuses a volume that is not recyclable and one whose file
// holds another volume's label, changing nothing; the drive then relabels
// the reclaimed volume as any recyclable one.
func TestReclaim(t *testing.T) {
	ctx := context.Background()
	pool := config.Pool{Name: "p", Type: "vtape", Directory: filepath.Join(t.TempDir(), "p"), VolumeCapacity: 1 << 30}
	cat, d := testDrive(t, pool)
	d.Fresh = true
	mtA, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, d, mtA, 10, true)
	mtB, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, d, mtB, 5, true)
	d.Fresh = false
	a, err := cat.Volume(ctx, mtA.Label.VolumeID.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cat.Volume(ctx, mtB.Label.VolumeID.String())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := Reclaim(ctx, cat, pool, a, false); err == nil || !strings.Contains(err.Error(), "not recyclable") {
		t.Fatalf("Reclaim of a full volume: %v, want an error saying it is not recyclable", err)
	}
	if got := fileSize(t, a.Path); got != 11*testBlock {
		t.Fatalf("volume file %s: %d bytes after a refused reclaim, want %d", a.Path, got, 11*testBlock)
	}

	// B's file in A's place: its label is not A's.
	for _, v := range []*catalog.Volume{&a, &b} {
		v.State = StateRecyclable
		if err := cat.UpdateVolume(ctx, *v); err != nil {
			t.Fatal(err)
		}
	}
	saved := a.Path + ".saved"
	if err := os.Rename(a.Path, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(b.Path, a.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := Reclaim(ctx, cat, pool, a, false); err == nil || !strings.Contains(err.Error(), b.Label) || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("Reclaim of a file holding another volume: %v, want an error naming both", err)
	}
	if got := fileSize(t, b.Path); got != 6*testBlock {
		t.Fatalf("the other volume's file was cut to %d bytes", got)
	}
	if err := os.Rename(saved, a.Path); err != nil {
		t.Fatal(err)
	}

	dry, err := Reclaim(ctx, cat, pool, a, true)
	if err != nil || dry.Freed != 10*testBlock || fileSize(t, a.Path) != 11*testBlock {
		t.Fatalf("dry run: %+v, %v; file %d bytes", dry, err, fileSize(t, a.Path))
	}
	r, err := Reclaim(ctx, cat, pool, a, false)
	if err != nil || r.Freed != 10*testBlock || r.Before != 11*testBlock || r.After != testBlock {
		t.Fatalf("Reclaim: %+v, %v; want 10 blocks freed", r, err)
	}
	if got := fileSize(t, a.Path); got != testBlock {
		t.Fatalf("reclaimed volume file: %d bytes, want its label block %d", got, testBlock)
	}
	va, err := cat.Volume(ctx, a.ID)
	if err != nil || va.State != StateRecyclable || va.Blocks != 1 || va.Bytes != testBlock {
		t.Fatalf("catalog after Reclaim: %+v, %v; want recyclable with one block", va, err)
	}
	if again, err := Reclaim(ctx, cat, pool, va, false); err != nil || again.Freed != 0 {
		t.Fatalf("second Reclaim: %+v, %v; want nothing freed", again, err)
	}

	// The next volume the pool needs is a recyclable one, relabelled.
	mt, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Label.Label != a.Label && mt.Label.Label != b.Label {
		t.Fatalf("Next labelled %s, want a recyclable volume reused", mt.Label.Label)
	}
	writeBlocks(t, d, mt, 1, false)
	if _, err := cat.Volume(ctx, mt.Label.VolumeID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Volume(ctx, "p-0003"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("a new volume file was labelled: %v", err)
	}
}
