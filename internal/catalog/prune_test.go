package catalog

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSetObjectStarted(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	id := objectID(1)
	addObject(t, c, id, 100)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := c.SetObjectStarted(ctx, id, when); err != nil {
		t.Fatal(err)
	}
	o, err := c.Object(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Started.Equal(when) {
		t.Fatalf("started %v, want %v", o.Started, when)
	}
	if err := c.SetObjectStarted(ctx, objectID(2), when); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown object: %v, want ErrNotFound", err)
	}
}

func TestRelabelVolume(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	addVolumes(t, c, "v1")
	id := objectID(1)
	addObject(t, c, id, 1000)
	addCopy(t, c, id, 1)
	if err := c.CommitCopy(ctx, id, 1, []Extent{{VolumeID: "v1", FirstBlock: 1, LastBlock: 2, EndOffset: 1000}}); err != nil {
		t.Fatal(err)
	}
	setState := func(state string) {
		t.Helper()
		v, err := c.Volume(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		v.State = state
		if err := c.UpdateVolume(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	nv := Volume{ID: "v2", State: VolumeAppendable, BlockSize: 65536, Blocks: 1, Bytes: 65536, Capacity: 1 << 20}

	// Not recyclable: refused.
	if err := c.RelabelVolume(ctx, "v1", nv); !errors.Is(err, ErrVolumeInUse) {
		t.Fatalf("relabel of an appendable volume: %v, want ErrVolumeInUse", err)
	}
	// Recyclable but holding a good copy: refused, nothing changed.
	setState(VolumeRecyclable)
	if n, err := c.GoodExtentsOnVolume(ctx, "v1"); err != nil || n != 1 {
		t.Fatalf("GoodExtentsOnVolume = %d, %v; want 1", n, err)
	}
	if err := c.RelabelVolume(ctx, "v1", nv); !errors.Is(err, ErrVolumeInUse) {
		t.Fatalf("relabel of a volume with a good copy: %v, want ErrVolumeInUse", err)
	}
	if _, err := c.Volume(ctx, "v1"); err != nil {
		t.Fatalf("refused relabel changed the volume: %v", err)
	}
	// The copy failed: its extents go with the relabel.
	if err := c.FailCopy(ctx, id, 1, "damaged"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.GoodExtentsOnVolume(ctx, "v1"); n != 0 {
		t.Fatalf("GoodExtentsOnVolume after FailCopy = %d", n)
	}
	if err := c.RelabelVolume(ctx, "v1", nv); err != nil {
		t.Fatal(err)
	}
	v, err := c.Volume(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if v.Label != "L-v1" || v.Pool != "p" || v.State != VolumeAppendable || v.BlockSize != 65536 || v.Blocks != 1 {
		t.Fatalf("relabelled volume %+v", v)
	}
	if _, err := c.Volume(ctx, "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old id still found: %v", err)
	}
	if ext, _ := c.VolumeExtents(ctx, "v1"); len(ext) != 0 {
		t.Fatalf("extents still on the old id: %+v", ext)
	}
	if st, n := copyState(t, c, id, 1); st != CopyFailed || n != 0 {
		t.Fatalf("failed copy is %s with %d extents", st, n)
	}
	// A new ID that exists already is refused.
	addVolumes(t, c, "v3")
	setState2 := func(id string) {
		v, _ := c.Volume(ctx, id)
		v.State = VolumeRecyclable
		if err := c.UpdateVolume(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	setState2("v3")
	if err := c.RelabelVolume(ctx, "v3", Volume{ID: "v2", BlockSize: 65536}); !errors.Is(err, ErrExists) {
		t.Fatalf("relabel onto an existing id: %v, want ErrExists", err)
	}
	if err := c.RelabelVolume(ctx, "nope", nv); !errors.Is(err, ErrNotFound) {
		t.Fatalf("relabel of an unknown volume: %v, want ErrNotFound", err)
	}
}
