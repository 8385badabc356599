package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pools"
)

// KindPrune is the job kind of a prune in the catalog.
const KindPrune = "prune"

// PruneOptions select what a prune does.
type PruneOptions struct {
	Now    time.Time // the time retention is counted back from; zero: time.Now()
	DryRun bool      // plan only: change nothing, report the same lists
	Logger *slog.Logger
}

// ExpiredCopy is a copy past its pool's retention, dropped from the
// catalog.
type ExpiredCopy struct {
	Object  string    `json:"object"`
	Source  string    `json:"source"`
	Copy    int       `json:"copy"`
	Pool    string    `json:"pool"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
}

// RemovedObject is an object left without any copy, removed from the
// catalog with its files.
type RemovedObject struct {
	Object  string    `json:"object"`
	Source  string    `json:"source"`
	Started time.Time `json:"started"`
}

// KeptObject is an object whose copies are past retention but kept
// because an object that stays depends on it (its base).
type KeptObject struct {
	Object   string    `json:"object"`
	Source   string    `json:"source"`
	Started  time.Time `json:"started"`
	NeededBy string    `json:"needed_by"`
}

// RecycledVolume is a volume left without a good copy: it becomes
// recyclable, to be labelled anew when its pool needs a volume.
type RecycledVolume struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Pool  string `json:"pool"`
	From  string `json:"from"`
}

// PruneResult is the outcome of a prune (or its plan, with DryRun).
type PruneResult struct {
	Job      int64            `json:"job,omitempty"`
	DryRun   bool             `json:"dry_run,omitempty"`
	Now      time.Time        `json:"now"`
	Expired  []ExpiredCopy    `json:"expired"`
	Removed  []RemovedObject  `json:"removed"`
	Kept     []KeptObject     `json:"kept,omitempty"`
	Recycled []RecycledVolume `json:"recycled"`
}

// Prune applies the retention of every pool that has one: a copy in such
// a pool expires when its object was backed up (Object.Started) before
// Now minus the retention. Expired copies are dropped from the catalog; an
// object left without any copy is removed with its files; the volumes of
// those pools left without a good copy become recyclable. An object that
// another object staying in the catalog names as its base keeps all its
// copies, and so does the whole chain below it. Pools without a
// retention, and copies in pools the configuration does not know, keep
// everything. The pools are locked while the catalog changes, so that no
// backup writes to them meanwhile.
func Prune(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, o PruneOptions) (*PruneResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	res := &PruneResult{DryRun: o.DryRun, Now: now.UTC(), Expired: []ExpiredCopy{}, Removed: []RemovedObject{}, Recycled: []RecycledVolume{}}
	cutoff := map[string]time.Time{}
	for _, p := range cfg.Pools {
		if p.Retention > 0 {
			cutoff[p.Name] = now.Add(-p.Retention)
		}
	}
	if len(cutoff) == 0 {
		return res, nil
	}
	if !o.DryRun {
		mgr := pools.NewManager(cat)
		defer mgr.Close()
		for _, p := range cfg.Pools {
			if p.Retention > 0 {
				if err := mgr.Lock(p); err != nil {
					return nil, err
				}
			}
		}
	}
	plan, err := planPrune(ctx, cat, cutoff, res)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		return res, nil
	}
	job, err := cat.StartJob(ctx, KindPrune)
	if err != nil {
		return nil, err
	}
	res.Job = job.ID
	runErr := applyPrune(ctx, cat, log, plan, res)
	job.State, job.Finished = JobSuccess, time.Now().UTC()
	if runErr != nil {
		job.State, job.Error = JobFailed, runErr.Error()
	}
	if err := cat.FinishJob(ctx, job); err != nil {
		log.Error("record job end", "job", job.ID, "err", err)
	}
	return res, runErr
}

type copyKey struct {
	object string
	number int
}

type prunePlan struct {
	drop    map[copyKey]bool
	removed map[string]bool
}

// planPrune fills res with what a prune does, changing nothing.
func planPrune(ctx context.Context, cat *catalog.Catalog, cutoff map[string]time.Time, res *PruneResult) (*prunePlan, error) {
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		return nil, err
	}
	byID := map[string]catalog.Object{}
	expired := map[string][]catalog.Copy{}
	stays := map[string]bool{} // objects that keep a copy (or never had one)
	for _, ob := range objs {
		byID[ob.ID] = ob
		cps, err := cat.Copies(ctx, ob.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range cps {
			if cut, ok := cutoff[c.Pool]; ok && ob.Started.Before(cut) {
				expired[ob.ID] = append(expired[ob.ID], c)
			}
		}
		if len(cps) == 0 || len(expired[ob.ID]) < len(cps) {
			stays[ob.ID] = true
		}
	}
	// The dependency guard: every object that stays keeps its base, and
	// the base's base, with all their copies.
	neededBy := map[string]string{}
	var work []string
	for _, ob := range objs {
		if stays[ob.ID] {
			work = append(work, ob.ID)
		}
	}
	for len(work) > 0 {
		id := work[len(work)-1]
		work = work[:len(work)-1]
		base := byID[id].Base
		if base == "" || base == id {
			continue
		}
		if _, known := byID[base]; !known {
			continue
		}
		if _, done := neededBy[base]; done {
			continue
		}
		neededBy[base] = id
		stays[base] = true
		work = append(work, base)
	}

	plan := &prunePlan{drop: map[copyKey]bool{}, removed: map[string]bool{}}
	vols := map[string]bool{}
	for _, ob := range objs {
		cps := expired[ob.ID]
		if len(cps) == 0 {
			continue
		}
		if by, ok := neededBy[ob.ID]; ok {
			res.Kept = append(res.Kept, KeptObject{Object: ob.ID, Source: ob.Source, Started: ob.Started, NeededBy: by})
			continue
		}
		for _, c := range cps {
			exts, err := cat.Extents(ctx, ob.ID, c.Number)
			if err != nil {
				return nil, err
			}
			for _, e := range exts {
				vols[e.VolumeID] = true
			}
			plan.drop[copyKey{ob.ID, c.Number}] = true
			res.Expired = append(res.Expired, ExpiredCopy{Object: ob.ID, Source: ob.Source, Copy: c.Number, Pool: c.Pool, State: c.State, Started: ob.Started})
		}
		if !stays[ob.ID] {
			plan.removed[ob.ID] = true
			res.Removed = append(res.Removed, RemovedObject{Object: ob.ID, Source: ob.Source, Started: ob.Started})
		}
	}

	// Volumes: those the dropped copies were on, and every full volume of
	// a pool with a retention (one left without a good copy by an
	// interrupted prune or by failed copies is caught here).
	all, err := cat.Volumes(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, v := range all {
		if _, ok := cutoff[v.Pool]; !ok || (!vols[v.ID] && v.State != pools.StateFull) {
			continue
		}
		if v.State != pools.StateFull && v.State != pools.StateAppendable {
			continue
		}
		live, err := liveAfter(ctx, cat, v.ID, plan.drop)
		if err != nil {
			return nil, err
		}
		if !live {
			res.Recycled = append(res.Recycled, RecycledVolume{ID: v.ID, Label: v.Label, Pool: v.Pool, From: v.State})
		}
	}
	sort.Slice(res.Recycled, func(i, j int) bool { return res.Recycled[i].Label < res.Recycled[j].Label })
	return plan, nil
}

// liveAfter reports whether a good copy that is not dropped has an extent
// on the volume. A volume with no extents at all is not live.
func liveAfter(ctx context.Context, cat *catalog.Catalog, volumeID string, drop map[copyKey]bool) (bool, error) {
	exts, err := cat.VolumeExtents(ctx, volumeID)
	if err != nil {
		return false, err
	}
	seen := map[copyKey]bool{}
	for _, e := range exts {
		k := copyKey{e.ObjectID, e.Copy}
		if drop[k] || seen[k] {
			continue
		}
		seen[k] = true
		c, err := cat.Copy(ctx, e.ObjectID, e.Copy)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if c.State == CopyGood {
			return true, nil
		}
	}
	return false, nil
}

// applyPrune changes the catalog as planned: copies first, then objects,
// then volume states, so that an interruption never leaves a recyclable
// volume with a good copy on it.
func applyPrune(ctx context.Context, cat *catalog.Catalog, log *slog.Logger, plan *prunePlan, res *PruneResult) error {
	for _, e := range res.Expired {
		if plan.removed[e.Object] {
			continue // DeleteObject takes its copies with it
		}
		if err := cat.DeleteCopy(ctx, e.Object, e.Copy); err != nil {
			return err
		}
		log.Info("expired copy", "object", e.Object, "copy", e.Copy, "pool", e.Pool)
	}
	for _, r := range res.Removed {
		if err := cat.DeleteObject(ctx, r.Object); err != nil {
			return err
		}
		log.Info("removed object", "object", r.Object, "source", r.Source)
	}
	for _, rv := range res.Recycled {
		v, err := cat.Volume(ctx, rv.ID)
		if err != nil {
			return err
		}
		// Checked again now that the copies are gone.
		n, err := cat.GoodExtentsOnVolume(ctx, v.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("prune: volume %s still holds %d extent(s) of good copies; left %s", v.Label, n, v.State)
		}
		v.State = pools.StateRecyclable
		v.Updated = time.Now().UTC()
		if err := cat.UpdateVolume(ctx, v); err != nil {
			return err
		}
		log.Info("volume recyclable", "volume", v.Label, "was", rv.From)
	}
	return nil
}
