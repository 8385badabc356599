package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"daisy/internal/catalog"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// catalogVolumes gives the media agents' readers (mediaagent.Volumes) the
// volumes of the catalog: what it records of each, and the medium mounted
// through the device of its pool.
type catalogVolumes struct {
	cat  *catalog.Catalog
	devs *devices.Set // nil: volumes by their reference alone
	mu   sync.Mutex
	vol  map[string]catalog.Volume
}

func newCatalogVolumes(cat *catalog.Catalog, devs *devices.Set) *catalogVolumes {
	return &catalogVolumes{cat: cat, devs: devs}
}

func (c *catalogVolumes) volume(ctx context.Context, id string) (catalog.Volume, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.vol[id]; ok {
		return v, nil
	}
	v, err := c.cat.Volume(ctx, id)
	if err != nil {
		return v, err
	}
	if c.vol == nil {
		c.vol = map[string]catalog.Volume{}
	}
	c.vol[id] = v
	return v, nil
}

// Volume returns what the catalog records of volume id.
func (c *catalogVolumes) Volume(ctx context.Context, id string) (mediaagent.Volume, error) {
	v, err := c.volume(ctx, id)
	if err != nil {
		return mediaagent.Volume{}, err
	}
	return mediaagent.Volume{ID: v.ID, Label: v.Label, Pool: v.Pool, Ref: v.Path, BlockSize: v.BlockSize, Created: v.Created}, nil
}

// Open mounts v for reading.
func (c *catalogVolumes) Open(ctx context.Context, v mediaagent.Volume) (device.Medium, error) {
	devs := c.devs
	if devs == nil {
		devs = readDevices()
	}
	return devs.Open(ctx, devices.Volume{Pool: v.Pool, Label: v.Label, Ref: v.Ref, BlockSize: v.BlockSize}, device.ReadOnly)
}

// readExtents turns catalog extents into what the media agents' readers
// read.
func readExtents(exts []catalog.Extent) []mediaagent.ReadExtent {
	out := make([]mediaagent.ReadExtent, 0, len(exts))
	for _, e := range exts {
		out = append(out, mediaagent.ReadExtent{VolumeID: e.VolumeID, FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
			FirstOffset: e.FirstOffset, EndOffset: e.EndOffset})
	}
	return out
}

// copyExtentReader returns a reader of the records of object id in the
// extents of its copy cp.
func copyExtentReader(ctx context.Context, cat *catalog.Catalog, vols mediaagent.Volumes, id records.ID, cp catalog.Copy, log *slog.Logger) (*mediaagent.ExtentReader, error) {
	exts, err := cat.Extents(ctx, id.String(), cp.Number)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, fmt.Errorf("copy %d of object %s: the catalog lists no extent", cp.Number, id)
	}
	rd := mediaagent.NewExtentReader(ctx, vols, id, readExtents(exts))
	if log != nil {
		rd.OnVolume = func(v mediaagent.Volume) {
			log.Debug("opened volume", "volume", v.Label, "object", id.String(), "copy", cp.Number)
		}
	}
	return rd, nil
}

// objectCopies returns the copies cps of object id for a reader, each
// read through its extents in the catalog.
func objectCopies(ctx context.Context, cat *catalog.Catalog, vols mediaagent.Volumes, id records.ID, cps []catalog.Copy, log *slog.Logger) []mediaagent.ObjectCopy {
	out := make([]mediaagent.ObjectCopy, len(cps))
	for i, cp := range cps {
		out[i] = mediaagent.ObjectCopy{Number: cp.Number, Open: func() (*mediaagent.ExtentReader, error) {
			return copyExtentReader(ctx, cat, vols, id, cp, log)
		}}
	}
	return out
}
