package pools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device/vtape"
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

// Reclaim gives back the space of a recyclable vtape volume of pool p:
// its file is cut to its label block, synced, and the catalog row keeps
// state recyclable with one block. The volume stays in the pool: Drive
// relabels it (cut to nothing, a new volume ID) when the pool needs a
// volume, as it does any recyclable one. It refuses a volume that is not
// recyclable, that a good copy still has an extent on, or whose file holds
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
	if p.Type != config.TypeVTape || v.Path == "" {
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
	fi, err := os.Lstat(v.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	case !fi.Mode().IsRegular():
		return r, fmt.Errorf("pool %s: reclaim %s: %s is not a regular file", p.Name, v.Label, v.Path)
	}
	r.Before, r.After = fi.Size(), fi.Size()
	keep := int64(v.BlockSize)
	if r.Before <= keep {
		return r, nil
	}
	r.After, r.Freed = keep, r.Before-keep
	if dryRun {
		return r, nil
	}
	med, err := vtape.Open(v.Path, vtape.Options{BlockSize: v.BlockSize})
	if err != nil {
		return r, fmt.Errorf("pool %s: reclaim %s: %w", p.Name, v.Label, err)
	}
	rd, err := volume.NewReader(med)
	if err == nil {
		if l := rd.Label(); l.VolumeID.String() != v.ID || l.Label != v.Label {
			err = fmt.Errorf("the file holds volume %s (%s), the catalog expects %s (%s); left as it is", l.Label, l.VolumeID, v.Label, v.ID)
		}
	}
	if err == nil {
		err = med.Truncate(1)
	}
	if err == nil {
		err = med.Sync()
	}
	if cerr := med.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.After, r.Freed = r.Before, 0
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
