package pools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/volume"
)

// Reclaimed is what Reclaim did (or would do) to one recyclable volume.
type Reclaimed struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Pool  string `json:"pool"`
	Path  string `json:"path"`
	// Before and After are the sizes of the volume file; Freed is their
	// difference.
	Before int64 `json:"before"`
	After  int64 `json:"after"`
	Freed  int64 `json:"freed"`
}

// Reclaim gives back the space of a recyclable volume of pool p, when its
// library can (device.Reclaimer: a volume file is cut to its label block),
// durably, and the catalog row keeps
// state recyclable with one block. The volume stays in the pool: Drive
// relabels it (cut to nothing, a new volume ID) when the pool needs a
// volume, as it does any recyclable one. It refuses a volume that is not
// recyclable, that a good copy still has an extent on, or that holds
// another volume's label. With dryRun it only measures the file (a
// volume a dry-run prune would make recyclable is given as recyclable).
// A volume already
// at its label block, or whose file is gone, frees nothing. The caller
// holds the pool's lock.
func Reclaim(ctx context.Context, cat *catalog.Catalog, p config.Pool, v catalog.Volume, dryRun bool) (Reclaimed, error) {
	r := Reclaimed{ID: v.ID, Label: v.Label, Pool: v.Pool, Path: v.Path}
	if v.State != StateRecyclable {
		return r, fmt.Errorf("pool %s: reclaim %s: the volume is %s, not recyclable", p.Name, v.Label, v.State)
	}
	if v.Path == "" {
		return r, nil
	}
	lib, err := devices.Build(p, config.Device{})
	if err != nil {
		return r, err
	}
	defer lib.Close()
	rc, ok := device.As[device.Reclaimer](lib)
	if !ok {
		return r, nil
	}
	if !dryRun {
		n, err := cat.GoodExtentsOnVolume(ctx, v.ID)
		if err != nil {
			return r, err
		}
		if n > 0 {
			return r, fmt.Errorf("pool %s: reclaim %s: %w: %d extent(s) of good copies are on it", p.Name, v.Label, catalog.ErrVolumeInUse, n)
		}
	}
	size, err := rc.VolumeSize(ctx, v.Path)
	switch {
	case errors.Is(err, device.ErrNoVolume):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	r.Before, r.After = size, size
	keep := int64(v.BlockSize)
	if r.Before <= keep {
		return r, nil
	}
	r.After, r.Freed = keep, r.Before-keep
	if dryRun {
		return r, nil
	}
	med, err := lib.Open(ctx, v.Path, device.ReadOnly, v.BlockSize)
	if err != nil {
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	rd, err := volume.NewReader(med)
	if err == nil {
		if l := rd.Label(); l.VolumeID.String() != v.ID || l.Label != v.Label {
			err = fmt.Errorf("the volume holds %s (%s), the catalog expects %s (%s); left as it is", l.Label, l.VolumeID, v.Label, v.ID)
		}
	}
	if cerr := med.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.After, r.Freed = r.Before, 0
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	// A failed cut says what the volume takes now; the catalog row keeps
	// its old count then, which recycling cuts anyway.
	r.After, err = rc.Cut(ctx, v.Path, v.BlockSize, 1)
	r.Freed = r.Before - r.After
	if err != nil {
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	// The file is cut and synced before the catalog says so: a crash in
	// between leaves a recyclable volume whose row counts more blocks
	// than its file holds, which recycling cuts to nothing anyway.
	v.Blocks, v.Bytes = 1, keep
	v.Updated = time.Now().UTC()
	if err := cat.UpdateVolume(ctx, v); err != nil {
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	return r, nil
}
