package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pools"
)

// KindPrune is the job kind of a prune in the catalog.
const KindPrune = "prune"

// PruneOptions select what a prune does.
type PruneOptions struct {
	Now    time.Time // the time a retention in days (30d) is counted back from; zero: time.Now()
	DryRun bool      // plan only: change nothing, report the same lists
	// Reclaim cuts the file of every recyclable vtape volume of the
	// configured pools (those this prune made recyclable too) to its label
	// block (pools.Reclaim); with DryRun it only says what that would free.
	Reclaim bool
	Logger  *slog.Logger
	// Locks says how long to wait for pools another process writes.
	Locks PoolWait
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
	// With Reclaim: the recyclable volume files cut to their label block
	// (or that would be, with DryRun), and the bytes that freed.
	Reclaimed []pools.Reclaimed `json:"reclaimed,omitempty"`
	Freed     int64             `json:"freed_bytes"`
	// NothingToDo says why no job ran (Job is 0, not in the JSON): no
	// pool has a retention.
	NothingToDo string `json:"nothing_to_do,omitempty"`
}

// Prune applies the retention of every pool that has one. With a
// retention in time (config.Pool.Retention) a copy in the pool expires
// when its object was backed up (Object.Started) before Now minus the
// retention; with a retention in copies (config.Pool.RetentionCopies, N)
// the pool keeps, per source, the copies of the N newest objects that have
// a good copy in it, and the copies there of older objects expire (failed
// ones too). A pool with both is an error (ErrUsage). Expired copies are
// dropped from the catalog; an object left without any copy is removed
// with its files; the volumes of those pools left without a good copy
// become recyclable. An object that another object staying in the catalog
// names as its base keeps all its copies, and so does the whole chain
// below it. Pools without a retention, and copies in pools the
// configuration does not know, keep everything. The pools are locked while
// the catalog changes, so that no backup writes to them meanwhile.
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
	rules := map[string]retention{}
	for _, p := range cfg.Pools {
		switch {
		case p.Retention > 0 && p.RetentionCopies > 0:
			return nil, fmt.Errorf("%w: pool %s has a retention of both %s and %d copies; give it one", ErrUsage, p.Name, config.FormatDuration(p.Retention), p.RetentionCopies)
		case p.Retention > 0:
			rules[p.Name] = retention{cutoff: now.Add(-p.Retention)}
		case p.RetentionCopies > 0:
			rules[p.Name] = retention{copies: p.RetentionCopies}
		}
	}
	if len(rules) == 0 && !o.Reclaim {
		res.NothingToDo = "no pool has a retention; no job was recorded"
		return res, nil
	}
	if !o.DryRun {
		mgr := pools.NewManager(cat)
		defer mgr.Close()
		var names []string
		for _, p := range cfg.Pools {
			if p.HasRetention() || o.Reclaim {
				names = append(names, p.Name)
			}
		}
		if err := lockJobPools(ctx, cfg, mgr, names, o.Locks); err != nil {
			return nil, err
		}
	}
	plan, err := planPrune(ctx, cat, rules, res)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		if o.Reclaim {
			err = reclaim(ctx, cfg, cat, log, res, true)
		}
		return res, err
	}
	job, err := cat.StartJob(ctx, KindPrune)
	if err != nil {
		return nil, err
	}
	res.Job = job.ID
	runErr := applyPrune(ctx, cat, log, plan, res)
	if runErr == nil && o.Reclaim {
		runErr = reclaim(ctx, cfg, cat, log, res, false)
	}
	job.State, job.Finished = JobSuccess, time.Now().UTC()
	if runErr != nil {
		job.State, job.Error = JobFailed, runErr.Error()
	}
	if errors.Is(runErr, context.Canceled) {
		job.State = JobInterrupted
	}
	// Recorded even when a signal cancelled ctx.
	if err := cat.FinishJob(context.WithoutCancel(ctx), job); err != nil {
		log.Error("record job end", "job", job.ID, "err", err)
	}
	return res, runErr
}

type copyKey struct {
	object string
	number int
}

// retention is the rule of one pool: a cutoff time (retention in time) or
// a number of objects per source (retention in copies).
type retention struct {
	cutoff time.Time // copies of objects backed up before it expire
	copies int       // if > 0: per source, this many of the newest objects with a good copy in the pool keep their copies there
}

// expires reports whether the copies of ob in pool expire under r; oldest
// is what oldestKept returned.
func (r retention) expires(pool string, ob catalog.Object, oldest map[poolSource]catalog.Object) bool {
	if r.copies == 0 {
		return ob.Started.Before(r.cutoff)
	}
	last, ok := oldest[poolSource{pool, ob.Source}]
	return ok && newestFirst(last, ob) < 0
}

// poolSource names the objects of one source with copies in one pool.
type poolSource struct {
	pool, source string
}

// newestFirst orders objects by the time they were backed up, the newest
// first, and objects of the same time by ID (a UUIDv7, in time order too).
func newestFirst(a, b catalog.Object) int {
	if c := b.Started.Compare(a.Started); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// oldestKept returns, for each pool with a retention in copies and each
// source, the oldest object whose copies in the pool the retention keeps:
// the one that is the N-th newest among the source's objects with a good
// copy in the pool. A source with fewer than N of them has no entry:
// none of its copies in that pool expires.
func oldestKept(objs []catalog.Object, copies map[string][]catalog.Copy, rules map[string]retention) map[poolSource]catalog.Object {
	newest := slices.Clone(objs)
	slices.SortFunc(newest, newestFirst)
	counted := map[poolSource]int{}
	oldest := map[poolSource]catalog.Object{}
	for _, ob := range newest {
		inPool := map[string]bool{} // an object counts once per pool, whatever its number of copies there
		for _, c := range copies[ob.ID] {
			n := rules[c.Pool].copies
			if n == 0 || c.State != CopyGood || inPool[c.Pool] {
				continue
			}
			inPool[c.Pool] = true
			k := poolSource{c.Pool, ob.Source}
			if counted[k] < n {
				counted[k]++
				if counted[k] == n {
					oldest[k] = ob
				}
			}
		}
	}
	return oldest
}

type prunePlan struct {
	drop    map[copyKey]bool
	removed map[string]bool
}

// planPrune fills res with what a prune does, changing nothing.
func planPrune(ctx context.Context, cat *catalog.Catalog, rules map[string]retention, res *PruneResult) (*prunePlan, error) {
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		return nil, err
	}
	copies := make(map[string][]catalog.Copy, len(objs))
	for _, ob := range objs {
		if copies[ob.ID], err = cat.Copies(ctx, ob.ID); err != nil {
			return nil, err
		}
	}
	oldest := oldestKept(objs, copies, rules)
	byID := map[string]catalog.Object{}
	expired := map[string][]catalog.Copy{}
	stays := map[string]bool{} // objects that keep a copy (or never had one)
	for _, ob := range objs {
		byID[ob.ID] = ob
		cps := copies[ob.ID]
		for _, c := range cps {
			if r, ok := rules[c.Pool]; ok && r.expires(c.Pool, ob, oldest) {
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
		if _, ok := rules[v.Pool]; !ok || (!vols[v.ID] && v.State != pools.StateFull) {
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

// reclaim cuts the recyclable vtape volumes of the configured pools to
// their label block (pools.Reclaim), those the prune made recyclable
// included (with dryRun: those it would make recyclable), and adds them
// and the bytes freed to res. Volumes of pools the configuration no
// longer has are left alone: their directory is not known to be theirs.
func reclaim(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, log *slog.Logger, res *PruneResult, dryRun bool) error {
	res.Reclaimed = []pools.Reclaimed{}
	planned := map[string]bool{}
	if dryRun {
		for _, rv := range res.Recycled {
			planned[rv.ID] = true
		}
	}
	for _, p := range cfg.Pools {
		vols, err := cat.Volumes(ctx, p.Name)
		if err != nil {
			return err
		}
		for _, v := range vols {
			if err := ctx.Err(); err != nil {
				return err
			}
			if planned[v.ID] {
				v.State = pools.StateRecyclable
			}
			if v.State != pools.StateRecyclable {
				continue
			}
			r, err := pools.Reclaim(ctx, cat, p, v, dryRun)
			if err != nil {
				return err
			}
			if r.Freed == 0 {
				continue
			}
			res.Reclaimed = append(res.Reclaimed, r)
			res.Freed += r.Freed
			if !dryRun {
				log.Info("volume reclaimed", "volume", v.Label, "freed", r.Freed)
			}
		}
	}
	return nil
}
