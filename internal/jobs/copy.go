package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"daisy/internal/buffers"
	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device/devices"
	"daisy/internal/mediaagent"
	"daisy/internal/pools"
	"daisy/internal/records"
)

// Copy job kinds: a configured copy job, and the patent's uses of copying.
const (
	KindCopy        = "copy"
	KindCompact     = "compact"
	KindRefresh     = "refresh"
	KindDemux       = "demux"
	KindConsolidate = "consolidate"
	KindMigrate     = "migrate"
)

// PlannedObject is one object a copy job copies.
type PlannedObject struct {
	Object    string `json:"object"`
	Source    string `json:"source"`
	Bytes     int64  `json:"bytes"`
	FromCopy  int    `json:"from_copy"`
	FromPool  string `json:"from_pool"`
	Buffer    string `json:"buffer"`     // the restore media agent's buffer it goes through
	NewCopies []int  `json:"new_copies"` // the copy numbers it gets, stage by stage

	obj       catalog.Object
	from      catalog.Copy
	fallbacks []int // other good copies, read from where FromCopy fails
	links     []config.ChainLink
}

// CopiedObject is a planned object after the job.
type CopiedObject struct {
	PlannedObject
	Error string `json:"error,omitempty"`
	// FellBack says why copies could not be read, when the job went on
	// from another copy; ReadCopy is then the copy that completed it.
	FellBack []string      `json:"fell_back,omitempty"`
	ReadCopy int           `json:"read_copy,omitempty"`
	Copies   []CopyOutcome `json:"copies"`
}

// VolumeChange is a volume whose state a job changed.
type VolumeChange struct {
	Label string `json:"label"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// DroppedCopy is an old copy a job removed from the catalog after the new
// ones were good.
type DroppedCopy struct {
	Object string `json:"object"`
	Copy   int    `json:"copy"`
	Pool   string `json:"pool"`
}

// CopyResult is the outcome of a copy job (or its plan, with DryRun).
type CopyResult struct {
	Job       int64     `json:"job,omitempty"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	DryRun    bool      `json:"dry_run,omitempty"`
	State     string    `json:"state"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	BytesRead int64     `json:"bytes_read"` // read from devices by the restore media agents
	// Volumes are the device counters of the volumes the restore media
	// agents read.
	VolumesRead []mediaagent.VolumeRead `json:"volumes_read,omitempty"`
	Bytes       int64                   `json:"bytes"` // object bytes copied
	Objects     []CopiedObject          `json:"objects"`
	Skipped     []string                `json:"skipped,omitempty"`
	Volumes     []VolumeChange          `json:"volumes,omitempty"`
	Dropped     []DroppedCopy           `json:"dropped,omitempty"`
	// NothingToDo says why no job ran (Job is 0, not in the JSON): no
	// live copy was selected.
	NothingToDo string `json:"nothing_to_do,omitempty"`
}

// CopyOptions are common to every copy job.
type CopyOptions struct {
	DryRun bool
	Logger *slog.Logger
	// Locks says how long to wait for pools another process writes.
	Locks PoolWait
	// Progress, if set, is called once the job is planned, before any
	// data moves, with counters of the bytes written to the new copies
	// against the planned objects' lengths times their new copies.
	Progress func(*Progress)
}

// copySpec is what a copy job does, whatever asked for it.
type copySpec struct {
	kind   string
	job    *config.CopyJob
	plan   []PlannedObject
	serial bool // each object whole before the next (demux, consolidate)
	fresh  bool // write onto new volumes only
	// after runs when every new copy was attempted (not on a dry run).
	after   func(ctx context.Context, res *CopyResult) error
	skipped []string
	prog    *Progress // nil: nobody watches
}

// CopyJob runs the copy job of the configuration named name.
func CopyJob(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, name string, o CopyOptions) (*CopyResult, error) {
	job, ok := cfg.CopyJob(name)
	if !ok {
		var names []string
		for _, j := range cfg.CopyJobs {
			names = append(names, j.Name)
		}
		return nil, fmt.Errorf("%w: no copy job %q in %s (copy jobs: %s)", ErrUsage, name, cfg.File, strings.Join(names, ", "))
	}
	spec := &copySpec{kind: KindCopy, job: job}
	for _, rma := range job.RestoreGroup {
		for _, b := range rma.Buffers {
			objs, err := selectObjects(ctx, cat, b.Select)
			if err != nil {
				return nil, err
			}
			if err := spec.add(ctx, cat, b.ID(rma.Name), objs, inPool(rma.Pool)); err != nil {
				return nil, err
			}
		}
	}
	return runCopy(ctx, cfg, cat, spec, o)
}

// copyChooser picks the copy of an object to read among its copies.
type copyChooser struct {
	ok   func(catalog.Copy) bool
	what string // for messages: where the copy had to be
}

// inPool chooses the lowest-numbered good copy in a pool ("" = any pool).
func inPool(pool string) copyChooser {
	if pool == "" {
		return copyChooser{ok: func(catalog.Copy) bool { return true }, what: "any pool"}
	}
	return copyChooser{ok: func(c catalog.Copy) bool { return c.Pool == pool }, what: "pool " + pool}
}

// add plans objects through an RMA buffer: the copy to read (the first
// good one the chooser accepts) and the new copy numbers.
func (s *copySpec) add(ctx context.Context, cat *catalog.Catalog, buffer string, objs []catalog.Object, choose copyChooser) error {
	links := s.job.Chain(buffer)
	seen := map[string]bool{}
	for _, p := range s.plan {
		seen[p.Object] = true
	}
	for _, obj := range objs {
		if seen[obj.ID] {
			s.skipped = append(s.skipped, fmt.Sprintf("object %s (%s) is selected twice; copied through the first buffer only", obj.ID, obj.Source))
			continue
		}
		cps, err := cat.Copies(ctx, obj.ID)
		if err != nil {
			return err
		}
		var from *catalog.Copy
		maxN := 0
		for i := range cps {
			c := &cps[i]
			maxN = max(maxN, c.Number)
			if c.State == CopyGood && from == nil && choose.ok(*c) {
				from = c
			}
		}
		if from == nil {
			s.skipped = append(s.skipped, fmt.Sprintf("object %s (%s) has no good copy in %s to read", obj.ID, obj.Source, choose.what))
			continue
		}
		p := PlannedObject{Object: obj.ID, Source: obj.Source, Bytes: obj.Length, FromCopy: from.Number, FromPool: from.Pool, Buffer: buffer, obj: obj, from: *from, links: links}
		for _, c := range cps {
			if c.State == CopyGood && c.Number != from.Number {
				p.fallbacks = append(p.fallbacks, c.Number)
			}
		}
		for i := range links {
			p.NewCopies = append(p.NewCopies, maxN+1+i)
		}
		s.plan = append(s.plan, p)
		seen[obj.ID] = true
	}
	return nil
}

// selectObjects resolves a selection against the catalog: complete
// objects, oldest first.
func selectObjects(ctx context.Context, cat *catalog.Catalog, sel config.Selection) ([]catalog.Object, error) {
	if sel.Object != "" {
		o, err := cat.Object(ctx, sel.Object)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%w: no object %q in the catalog", ErrUsage, sel.Object)
		}
		if err != nil {
			return nil, err
		}
		if o.State != ObjectComplete {
			return nil, nil
		}
		return []catalog.Object{o}, nil
	}
	all, err := cat.Objects(ctx, catalog.ObjectFilter{Source: sel.Source, Client: sel.Client, State: ObjectComplete})
	if err != nil {
		return nil, err
	}
	var out []catalog.Object
	for _, o := range all {
		if sel.Level != "" && o.Level != sel.Level {
			continue
		}
		if !sel.Since.IsZero() && o.Started.Before(sel.Since) {
			continue
		}
		if !sel.Until.IsZero() && o.Started.After(sel.Until) {
			continue
		}
		if sel.NotInPool != "" {
			cps, err := cat.Copies(ctx, o.ID)
			if err != nil {
				return nil, err
			}
			in := false
			for _, c := range cps {
				in = in || (c.State == CopyGood && c.Pool == sel.NotInPool)
			}
			if in {
				continue
			}
		}
		out = append(out, o)
	}
	if sel.Latest && !sel.All {
		latest := map[string]int{}
		for i, o := range out {
			latest[o.Source] = i // objects come oldest first
		}
		var keep []catalog.Object
		for i, o := range out {
			if latest[o.Source] == i {
				keep = append(keep, o)
			}
		}
		out = keep
	}
	return out, nil
}

// runCopy runs a planned copy job: restore media agents read the planned
// objects into their buffers, the copy stages' media agents write them.
func runCopy(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, s *copySpec, o CopyOptions) (*CopyResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &CopyResult{Kind: s.kind, Name: s.job.Name, DryRun: o.DryRun, Started: time.Now().UTC(), Skipped: s.skipped}
	for _, p := range s.plan {
		res.Objects = append(res.Objects, CopiedObject{PlannedObject: p})
	}
	if o.DryRun || len(s.plan) == 0 {
		res.State = JobSuccess
		res.Finished = time.Now().UTC()
		if res.Objects == nil {
			res.Objects = []CopiedObject{}
		}
		if !o.DryRun {
			res.NothingToDo = "no live copy was selected; no job was recorded"
		}
		return res, nil
	}
	// The locks of the pools it writes, and of those whose volumes it
	// changes afterwards (migrate, compact, refresh, demux), before it
	// records anything.
	mgr := pools.NewManager(cat)
	defer mgr.Close()
	if err := lockJobPools(ctx, cfg, mgr, s.pools(), o.Locks); err != nil {
		return nil, err
	}
	if err := registerPools(ctx, cfg, cat); err != nil {
		return nil, err
	}
	job, err := cat.StartJob(ctx, s.kind)
	if err != nil {
		return nil, err
	}
	res.Job = job.ID
	var total int64
	for _, p := range s.plan {
		total += p.Bytes * int64(len(p.links))
		log.Debug(s.kind+": planned object", "object", p.Object, "source", p.Source, "from_copy", p.FromCopy, "from_pool", p.FromPool, "new_copies", p.NewCopies, "bytes", p.Bytes)
	}
	s.prog = startProgress(o.Progress, s.kind, total)
	defer s.prog.end()
	runErr := s.execute(ctx, cfg, cat, mgr, log, job.ID, res)
	if runErr == nil && s.after != nil {
		runErr = s.after(ctx, res)
	}
	// The job's end is recorded even when ctx is cancelled (SIGINT,
	// SIGTERM), and no new copy it registered stays writing.
	wctx := context.WithoutCancel(ctx)
	if err := cat.FailUnfinished(wctx, job.ID, "the "+s.kind+" job stopped before this copy was finished: "+errOr(runErr, "unknown")); err != nil {
		log.Error("record unfinished copies", "job", job.ID, "err", err)
	}
	finishCopyJob(wctx, cat, log, job, res, runErr)
	return res, runErr
}

// pools names the pools the job writes, and with an after step those it
// reads from, whose volumes that step may change.
func (s *copySpec) pools() []string {
	var names []string
	for _, ma := range s.job.MediaAgents() {
		names = append(names, ma.Pool)
	}
	if s.after != nil {
		for _, p := range s.plan {
			names = append(names, p.FromPool)
		}
	}
	return names
}

func (s *copySpec) execute(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, mgr *pools.Manager, log *slog.Logger, jobID int64, res *CopyResult) error {
	host, _ := os.Hostname()
	// The new copies, in the catalog first (state writing).
	copyFor := map[string]map[records.ID]int{} // stage buffer → object → copy number
	for _, p := range s.plan {
		id, err := records.ParseID(p.Object)
		if err != nil {
			return err
		}
		for i, l := range p.links {
			bid := l.Buffer.ID(l.Agent.Name)
			if copyFor[bid] == nil {
				copyFor[bid] = map[records.ID]int{}
			}
			copyFor[bid][id] = p.NewCopies[i]
			cp := catalog.Copy{ObjectID: p.Object, Number: p.NewCopies[i], Role: config.RoleCopy, Level: l.Agent.Level, MediaAgent: l.Agent.Name, Device: l.Agent.Device, Pool: l.Agent.Pool, State: CopyWriting, JobID: jobID}
			if err := cat.AddCopy(ctx, cp); err != nil {
				return err
			}
		}
	}
	// Buffers of the restore group and of every copy stage.
	bufs := map[string]*buffers.Buffer{}
	for _, rma := range s.job.RestoreGroup {
		for _, b := range rma.Buffers {
			bufs[b.ID(rma.Name)] = buffers.New(b.ID(rma.Name), b.Size)
		}
	}
	stageAgents := s.job.MediaAgents()
	for _, ma := range stageAgents {
		for _, b := range ma.Buffers {
			bufs[b.ID(ma.Name)] = buffers.New(b.ID(ma.Name), b.Size)
		}
	}
	var bmas []*mediaagent.BMA
	var exts extentLog // the extents the agents report as they write
	for _, ma := range stageAgents {
		pool, _ := cfg.Pool(ma.Pool)
		dev, ok := cfg.Device(ma.Device)
		if !ok {
			dev = config.Device{Name: ma.Device, Type: config.TypeVTape, BlockSize: cfg.Defaults.BlockSize}
		}
		drive := mgr.Drive(pool, dev)
		drive.Fresh = s.fresh
		a := &mediaagent.BMA{Name: ma.Name, Device: ma.Device, Volumes: drive, Notify: make(chan struct{}, 1), ExtentTarget: ma.ExtentSize, OnExtent: exts.report}
		if prog := s.prog; prog != nil {
			a.OnWrite = func(n int) { prog.add(int64(n)) }
		}
		a.Session.Job, a.Session.Host = jobID, host
		for _, b := range ma.Buffers {
			bid := b.ID(ma.Name)
			numbers := copyFor[bid]
			a.Inputs = append(a.Inputs, mediaagent.Input{
				Name: bid, Cursor: bufs[bid].Attach(ma.Name, a.Notify), Role: config.RoleCopy, Level: ma.Level,
				CopyFor: func(id records.ID) int { return numbers[id] },
			})
		}
		bmas = append(bmas, a)
	}
	// Restore media agents and their tasks.
	devs := devices.New(cfg)
	defer devs.Close()
	vols := newCatalogVolumes(cat, devs)
	pool := &records.Pool{}
	var rmas []*mediaagent.RMA
	used := map[string]bool{}
	for _, rma := range s.job.RestoreGroup {
		a := &mediaagent.RMA{Name: rma.Name, Device: rma.Device, Volumes: vols, Pool: pool, Serial: s.serial}
		for _, p := range s.plan {
			var owner string
			for _, b := range rma.Buffers {
				if b.ID(rma.Name) == p.Buffer {
					owner = p.Buffer
				}
			}
			if owner == "" {
				continue
			}
			id, _ := records.ParseID(p.Object)
			exts, err := cat.Extents(ctx, p.Object, p.FromCopy)
			if err != nil {
				return err
			}
			t := mediaagent.ReadTask{Object: id, Out: bufs[owner], Extents: readExtents(exts)}
			for _, n := range p.fallbacks {
				fx, err := cat.Extents(ctx, p.Object, n)
				if err != nil {
					return err
				}
				t.Fallbacks = append(t.Fallbacks, readExtents(fx))
				t.FallbackCopies = append(t.FallbackCopies, n)
			}
			a.Tasks = append(a.Tasks, t)
			used[owner] = true
		}
		rmas = append(rmas, a)
	}
	for id, b := range bufs {
		if _, _, ok := s.job.RestoreBuffer(id); ok && !used[id] {
			b.Close() // nothing selected for it
		}
	}
	// Run: chains, writers, readers.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, ma := range stageAgents {
		for _, b := range ma.Buffers {
			cur := bufs[b.Follows].Attach("chain→"+b.ID(ma.Name), nil)
			next := bufs[b.ID(ma.Name)]
			wg.Go(func() { buffers.Forward(ctx, cur, next) })
		}
	}
	written := map[string][]mediaagent.CopyResult{}
	var mu sync.Mutex
	for _, a := range bmas {
		wg.Go(func() {
			r, err := a.Run(ctx)
			if err != nil {
				log.Error("media agent failed; its copies are marked failed", "media_agent", a.Name, "device", a.Device, "err", err)
			}
			mu.Lock()
			written[a.Name] = r
			mu.Unlock()
		})
	}
	read := map[records.ID]mediaagent.ReadResult{}
	readCopy := map[records.ID]int{}
	for _, a := range rmas {
		wg.Go(func() {
			r, err := a.Run(ctx)
			if err != nil {
				log.Error("restore media agent stopped", "media_agent", a.Name, "err", err)
			}
			mu.Lock()
			for i, x := range r {
				read[x.Object] = x
				if x.Fallback >= 0 {
					readCopy[x.Object] = a.Tasks[i].FallbackCopies[x.Fallback]
				}
			}
			res.BytesRead += a.BytesRead()
			res.VolumesRead = mediaagent.AddReads(res.VolumesRead, a.Reads())
			mu.Unlock()
		})
	}
	wg.Wait()
	// Commit each new copy, even when the job was cancelled: what was
	// written whole is good, the rest failed with the reason.
	runErr := ctx.Err()
	ctx = context.WithoutCancel(ctx)
	type key struct {
		id   records.ID
		copy int
	}
	byCopy := map[key]mediaagent.CopyResult{}
	for _, rs := range written {
		for _, cr := range rs {
			byCopy[key{cr.Object, cr.Copy}] = cr
		}
	}
	for i := range res.Objects {
		co := &res.Objects[i]
		id, _ := records.ParseID(co.Object)
		rr := read[id]
		co.FellBack, co.ReadCopy = rr.FellBack, readCopy[id]
		if len(rr.FellBack) > 0 {
			log.Warn("copy unreadable; the job went on from another copy", "object", co.Object, "copies_failed", rr.FellBack, "read_copy", co.ReadCopy)
		}
		var upstream error
		if rr.Err != nil {
			n := co.FromCopy
			if co.ReadCopy != 0 {
				n = co.ReadCopy
			}
			upstream = fmt.Errorf("reading copy %d: %w", n, rr.Err)
			co.Error = upstream.Error()
		}
		res.Bytes += rr.Bytes
		for j, l := range co.links {
			var cr *mediaagent.CopyResult
			if c, ok := byCopy[key{id, co.NewCopies[j]}]; ok {
				cr = &c
			}
			out := commitCopy(ctx, cat, log, co.Object, co.NewCopies[j], l.Agent.Name, cr, exts.extents(id, co.NewCopies[j]), upstream)
			log.Debug(s.kind+": copy committed", "object", co.Object, "copy", co.NewCopies[j], "state", out.State, "volumes", out.Volumes)
			out.MediaAgent, out.Device, out.Pool = l.Agent.Name, l.Agent.Device, l.Agent.Pool
			co.Copies = append(co.Copies, out)
		}
	}
	return runErr
}

// registerPools records the configured pools in the catalog.
func registerPools(ctx context.Context, cfg *config.Config, cat *catalog.Catalog) error {
	for _, p := range cfg.Pools {
		if err := cat.EnsurePool(ctx, catalog.Pool{Name: p.Name, Type: p.Type, Directory: p.Directory}); err != nil {
			return err
		}
	}
	return nil
}

func finishCopyJob(ctx context.Context, cat *catalog.Catalog, log *slog.Logger, job catalog.Job, res *CopyResult, runErr error) {
	good, total := 0, 0
	var msgs []error
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			total++
			if c.State == CopyGood {
				good++
			} else {
				msgs = append(msgs, fmt.Errorf("%s (%s) copy %d: %s", o.Object, o.Source, c.Number, c.Error))
			}
		}
	}
	switch {
	case errors.Is(runErr, context.Canceled):
		res.State = JobInterrupted
	case runErr != nil || (total > 0 && good == 0):
		res.State = JobFailed
	case good < total:
		res.State = JobPartial
	default:
		res.State = JobSuccess
	}
	if runErr != nil {
		msgs = append([]error{runErr}, msgs...)
	}
	res.Finished = time.Now().UTC()
	job.State, job.Finished, job.Bytes = res.State, res.Finished, res.Bytes
	if err := errors.Join(msgs...); err != nil {
		job.Error = err.Error()
	}
	if err := cat.FinishJob(ctx, job); err != nil {
		log.Error("record job end", "job", job.ID, "err", err)
	}
}
