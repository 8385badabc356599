package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pools"
)

// CopySelect selects objects for the copy job types (any field set
// narrows the selection; Objects alone names objects exactly).
type CopySelect struct {
	Objects   []string  `json:"objects,omitempty"`
	Source    string    `json:"source,omitempty"`
	Client    string    `json:"client,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Until     time.Time `json:"until,omitzero"`
	FromPool  string    `json:"from_pool,omitempty"` // objects with a good copy in this pool, read from it
	Volume    string    `json:"volume,omitempty"`    // objects with a good copy on this volume, read from it
	NotInPool string    `json:"not_in_pool,omitempty"`
	All       bool      `json:"all,omitempty"`
}

func (s CopySelect) empty() bool {
	return len(s.Objects) == 0 && s.Source == "" && s.Client == "" && s.Since.IsZero() && s.Until.IsZero() &&
		s.FromPool == "" && s.Volume == "" && s.NotInPool == "" && !s.All
}

// Target says where the new copies of a job type go.
type Target struct {
	Pool   string // pool of the new copies
	Device string // a configured device to write with ("" = a virtual tape drive with the default block size)
}

// adHocJob is a copy job of one restore media agent and one copy stage.
func adHocJob(cfg *config.Config, kind string, t Target) (*config.CopyJob, error) {
	if _, ok := cfg.Pool(t.Pool); !ok {
		return nil, fmt.Errorf("%w: no pool %q in %s", ErrUsage, t.Pool, cfg.File)
	}
	dev := t.Device
	if dev == "" {
		dev = "vtape"
	} else if _, ok := cfg.Device(dev); !ok {
		return nil, fmt.Errorf("%w: no device %q in %s", ErrUsage, dev, cfg.File)
	}
	size := cfg.Defaults.BufferSize
	return &config.CopyJob{
		Name: kind,
		RestoreGroup: []config.RestoreAgent{{
			Name: "RMA", Device: "reader",
			Buffers: []config.RestoreBuffer{{Name: "B1", Size: size}},
		}},
		CopyGroups: [][]config.MediaAgent{{{
			Name: "BMA", Device: dev, Pool: t.Pool, Role: config.RoleCopy, Level: 1,
			Buffers: []config.Buffer{{Name: "B1", Follows: "RMA.B1", Size: size}},
		}}},
	}, nil
}

// selectForCopy resolves a CopySelect: complete objects, oldest first, and
// the chooser of the copy to read.
func selectForCopy(ctx context.Context, cat *catalog.Catalog, sel CopySelect) ([]catalog.Object, copyChooser, error) {
	choose := inPool(sel.FromPool)
	var objs []catalog.Object
	switch {
	case len(sel.Objects) > 0:
		for _, id := range sel.Objects {
			o, err := cat.Object(ctx, id)
			if errors.Is(err, catalog.ErrNotFound) {
				return nil, choose, fmt.Errorf("%w: no object %q in the catalog", ErrUsage, id)
			}
			if err != nil {
				return nil, choose, err
			}
			objs = append(objs, o)
		}
	case sel.Volume != "":
		v, err := cat.Volume(ctx, sel.Volume)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, choose, fmt.Errorf("%w: no volume %q in the catalog", ErrUsage, sel.Volume)
		}
		if err != nil {
			return nil, choose, err
		}
		onVol, err := copiesOnVolume(ctx, cat, v.ID)
		if err != nil {
			return nil, choose, err
		}
		for _, c := range onVol {
			o, err := cat.Object(ctx, c.ObjectID)
			if err != nil {
				return nil, choose, err
			}
			objs = append(objs, o)
		}
		chosen := map[string]int{}
		for _, c := range onVol {
			chosen[c.ObjectID] = c.Number
		}
		choose = copyChooser{ok: func(c catalog.Copy) bool { return chosen[c.ObjectID] == c.Number }, what: "volume " + v.Label}
	default:
		var err error
		objs, err = cat.Objects(ctx, catalog.ObjectFilter{Source: sel.Source, Client: sel.Client, State: ObjectComplete})
		if err != nil {
			return nil, choose, err
		}
	}
	var out []catalog.Object
	for _, o := range objs {
		if o.State != ObjectComplete {
			continue
		}
		if (sel.Source != "" && o.Source != sel.Source) || (sel.Client != "" && o.Client != sel.Client) {
			continue
		}
		if (!sel.Since.IsZero() && o.Started.Before(sel.Since)) || (!sel.Until.IsZero() && o.Started.After(sel.Until)) {
			continue
		}
		cps, err := cat.Copies(ctx, o.ID)
		if err != nil {
			return nil, choose, err
		}
		keep := sel.FromPool == ""
		for _, c := range cps {
			if c.State != CopyGood {
				continue
			}
			if c.Pool == sel.FromPool {
				keep = true
			}
			if sel.NotInPool != "" && c.Pool == sel.NotInPool {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, o)
		}
	}
	return out, choose, nil
}

// copiesOnVolume returns the good copies with an extent on a volume.
func copiesOnVolume(ctx context.Context, cat *catalog.Catalog, volumeID string) ([]catalog.Copy, error) {
	exts, err := cat.VolumeExtents(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	seen := map[[2]any]bool{}
	var out []catalog.Copy
	for _, e := range exts {
		k := [2]any{e.ObjectID, e.Copy}
		if seen[k] {
			continue
		}
		seen[k] = true
		c, err := cat.Copy(ctx, e.ObjectID, e.Copy)
		if err != nil {
			return nil, err
		}
		if c.State == CopyGood {
			out = append(out, c)
		}
	}
	return out, nil
}

// Copy copies the selected objects into a pool: one read pass, one new
// copy each.
func Copy(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, sel CopySelect, t Target, o CopyOptions) (*CopyResult, error) {
	if sel.empty() {
		return nil, fmt.Errorf("%w: select what to copy (--object, --source, --client, --since, --until, --from-pool, --volume, --not-in-pool or --all)", ErrUsage)
	}
	spec, err := planSelected(ctx, cfg, cat, KindCopy, sel, t)
	if err != nil {
		return nil, err
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

func planSelected(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, kind string, sel CopySelect, t Target) (*copySpec, error) {
	job, err := adHocJob(cfg, kind, t)
	if err != nil {
		return nil, err
	}
	objs, choose, err := selectForCopy(ctx, cat, sel)
	if err != nil {
		return nil, err
	}
	spec := &copySpec{kind: kind, job: job}
	return spec, spec.add(ctx, cat, "RMA.B1", objs, choose)
}

// Migrate copies the selected objects into another pool, then drops the
// copies that were read (with --from-pool: every good copy in that pool)
// from the catalog; volumes left without a live copy become recyclable.
func Migrate(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, sel CopySelect, t Target, o CopyOptions) (*CopyResult, error) {
	if sel.empty() {
		return nil, fmt.Errorf("%w: select what to migrate (--from-pool, --source, --volume, --object … or --all)", ErrUsage)
	}
	if sel.FromPool != "" && sel.FromPool == t.Pool {
		return nil, fmt.Errorf("%w: migrate from pool %s to itself", ErrUsage, t.Pool)
	}
	spec, err := planSelected(ctx, cfg, cat, KindMigrate, sel, t)
	if err != nil {
		return nil, err
	}
	spec.after = func(ctx context.Context, res *CopyResult) error {
		return dropOld(ctx, cat, res, func(o CopiedObject, c catalog.Copy) bool {
			if sel.FromPool != "" {
				return c.Pool == sel.FromPool
			}
			return c.Number == o.FromCopy
		}, pools.StateRecyclable)
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

// Refresh copies everything live on a volume onto a new volume of the
// same pool; the old volume is retired.
func Refresh(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, volume, device string, o CopyOptions) (*CopyResult, error) {
	return rewriteVolume(ctx, cfg, cat, KindRefresh, volume, device, false, pools.StateRetired, o)
}

// Demux rewrites an interleaved volume so that each object is one
// contiguous extent on a new volume of the same pool; the old volume
// becomes recyclable.
func Demux(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, volume, device string, o CopyOptions) (*CopyResult, error) {
	return rewriteVolume(ctx, cfg, cat, KindDemux, volume, device, true, pools.StateRecyclable, o)
}

func rewriteVolume(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, kind, volume, device string, serial bool, end string, o CopyOptions) (*CopyResult, error) {
	v, err := cat.Volume(ctx, volume)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: no volume %q in the catalog", ErrUsage, volume)
	}
	if err != nil {
		return nil, err
	}
	spec, err := planSelected(ctx, cfg, cat, kind, CopySelect{Volume: v.Label}, Target{Pool: v.Pool, Device: device})
	if err != nil {
		return nil, err
	}
	spec.serial, spec.fresh = serial, true
	// Nothing live on it (a recyclable or emptied volume): nothing to
	// do, and its state stays as it is.
	if !o.DryRun && len(spec.plan) > 0 {
		if err := setVolumeState(ctx, cat, v.ID, pools.StateFull, nil); err != nil {
			return nil, err
		}
	}
	spec.after = func(ctx context.Context, res *CopyResult) error {
		return dropOld(ctx, cat, res, func(o CopiedObject, c catalog.Copy) bool { return c.Number == o.FromCopy }, end, v.ID)
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

// Compact copies the live objects of the pool's volumes that are filled
// below threshold (0..1 of their capacity) onto new volumes, then marks the
// old volumes recyclable.
func Compact(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, pool string, threshold float64, device string, o CopyOptions) (*CopyResult, error) {
	if _, ok := cfg.Pool(pool); !ok {
		return nil, fmt.Errorf("%w: no pool %q in %s", ErrUsage, pool, cfg.File)
	}
	if threshold <= 0 || threshold > 1 {
		return nil, fmt.Errorf("%w: threshold %.2f: give a fill between 0 and 100%%", ErrUsage, threshold)
	}
	vols, err := cat.Volumes(ctx, pool)
	if err != nil {
		return nil, err
	}
	job, err := adHocJob(cfg, KindCompact, Target{Pool: pool, Device: device})
	if err != nil {
		return nil, err
	}
	spec := &copySpec{kind: KindCompact, job: job, fresh: true}
	var sparse []catalog.Volume
	for _, v := range vols {
		if v.State != pools.StateFull && v.State != pools.StateAppendable {
			continue
		}
		live, err := copiesOnVolume(ctx, cat, v.ID)
		if err != nil {
			return nil, err
		}
		var bytes int64
		exts, err := cat.VolumeExtents(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		good := map[[2]any]bool{}
		for _, c := range live {
			good[[2]any{c.ObjectID, c.Number}] = true
		}
		for _, e := range exts {
			if good[[2]any{e.ObjectID, e.Copy}] {
				bytes += e.Bytes
			}
		}
		capacity := v.Capacity
		if capacity <= 0 {
			capacity = v.Bytes
		}
		if capacity > 0 && float64(bytes)/float64(capacity) >= threshold {
			continue
		}
		sparse = append(sparse, v)
		chosen := map[string]int{}
		var objs []catalog.Object
		for _, c := range live {
			o, err := cat.Object(ctx, c.ObjectID)
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
			chosen[c.ObjectID] = c.Number
		}
		sort.Slice(objs, func(i, j int) bool { return objs[i].Started.Before(objs[j].Started) })
		if err := spec.add(ctx, cat, "RMA.B1", objs, copyChooser{ok: func(c catalog.Copy) bool { return chosen[c.ObjectID] == c.Number }, what: "volume " + v.Label}); err != nil {
			return nil, err
		}
	}
	if len(sparse) < 2 && len(spec.plan) > 0 {
		spec.skipped = append(spec.skipped, fmt.Sprintf("only %d volume of pool %s is below the threshold: compaction needs two to save a volume", len(sparse), pool))
		spec.plan = nil
	}
	var ids []string
	for _, v := range sparse {
		ids = append(ids, v.ID)
		if !o.DryRun && len(spec.plan) > 0 {
			if err := setVolumeState(ctx, cat, v.ID, pools.StateFull, nil); err != nil {
				return nil, err
			}
		}
	}
	spec.after = func(ctx context.Context, res *CopyResult) error {
		return dropOld(ctx, cat, res, func(o CopiedObject, c catalog.Copy) bool { return c.Number == o.FromCopy }, pools.StateRecyclable, ids...)
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

// Consolidate puts a source's restore chain (the full backup that its
// latest backup is based on, then each backup up to the latest one:
// catalog.Chain) together, in order, on a new volume of a pool.
func Consolidate(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, source string, t Target, o CopyOptions) (*CopyResult, error) {
	latest, err := cat.LatestObject(ctx, source)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: source %q has no complete backup to consolidate", ErrUsage, source)
	}
	if err != nil {
		return nil, err
	}
	chain, err := cat.Chain(ctx, latest)
	if err != nil {
		return nil, err
	}
	if chain[0].Level != LevelFull {
		return nil, fmt.Errorf("%w: the restore chain of source %q starts with %s %s, not a full backup", ErrUsage, source, chain[0].Level, chain[0].ID)
	}
	if t.Pool == "" {
		cps, err := cat.Copies(ctx, chain[0].ID)
		if err != nil {
			return nil, err
		}
		for _, c := range cps {
			if c.State == CopyGood {
				t.Pool = c.Pool
				break
			}
		}
	}
	job, err := adHocJob(cfg, KindConsolidate, t)
	if err != nil {
		return nil, err
	}
	spec := &copySpec{kind: KindConsolidate, job: job, serial: true, fresh: true}
	if err := spec.add(ctx, cat, "RMA.B1", chain, inPool("")); err != nil {
		return nil, err
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

// dropOld removes from the catalog, for every object whose new copies are
// all good, the old copies that drop selects; then every volume (among
// check, or those the dropped copies were on) left without a good copy
// takes the state end.
func dropOld(ctx context.Context, cat *catalog.Catalog, res *CopyResult, drop func(CopiedObject, catalog.Copy) bool, end string, check ...string) error {
	vols := map[string]bool{}
	for _, id := range check {
		vols[id] = true
	}
	for _, o := range res.Objects {
		ok := len(o.Copies) > 0
		for _, c := range o.Copies {
			ok = ok && c.State == CopyGood
		}
		if !ok {
			continue
		}
		cps, err := cat.Copies(ctx, o.Object)
		if err != nil {
			return err
		}
		isNew := map[int]bool{}
		for _, n := range o.NewCopies {
			isNew[n] = true
		}
		for _, c := range cps {
			if isNew[c.Number] || !drop(o, c) {
				continue
			}
			exts, err := cat.Extents(ctx, o.Object, c.Number)
			if err != nil {
				return err
			}
			for _, e := range exts {
				vols[e.VolumeID] = true
			}
			if err := cat.DeleteCopy(ctx, o.Object, c.Number); err != nil {
				return err
			}
			res.Dropped = append(res.Dropped, DroppedCopy{Object: o.Object, Copy: c.Number, Pool: c.Pool})
		}
	}
	ids := make([]string, 0, len(vols))
	for id := range vols {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		live, err := copiesOnVolume(ctx, cat, id)
		if err != nil {
			return err
		}
		if len(live) == 0 {
			if err := setVolumeState(ctx, cat, id, end, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// setVolumeState changes a volume's state and notes it in res.
func setVolumeState(ctx context.Context, cat *catalog.Catalog, id, state string, res *CopyResult) error {
	v, err := cat.Volume(ctx, id)
	if err != nil {
		return err
	}
	if v.State == state {
		return nil
	}
	from := v.State
	v.State = state
	v.Updated = time.Now().UTC()
	if err := cat.UpdateVolume(ctx, v); err != nil {
		return err
	}
	if res != nil {
		res.Volumes = append(res.Volumes, VolumeChange{Label: v.Label, From: from, To: state})
	}
	return nil
}
