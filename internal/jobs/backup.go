package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"daisy/internal/agent"
	"daisy/internal/buffers"
	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/mediaagent"
	"daisy/internal/pools"
	"daisy/internal/records"
)

// ErrUsage marks a request that names something that does not exist (a
// source, an object, a copy): the command line is wrong, not the data.
var ErrUsage = errors.New("usage")

// Job, copy and object states, as the catalog records them.
const (
	JobRunning     = catalog.JobRunning
	JobSuccess     = catalog.JobSuccess
	JobPartial     = catalog.JobPartial // every object has a good copy, some copy failed
	JobFailed      = catalog.JobFailed
	JobInterrupted = catalog.JobInterrupted // stopped by a signal, or its process is gone
	CopyWriting    = catalog.CopyWriting
	CopyGood       = catalog.CopyGood
	CopyFailed     = catalog.CopyFailed
	ObjectWriting  = catalog.ObjectWriting
	ObjectComplete = catalog.ObjectComplete
	ObjectFailed   = catalog.ObjectFailed
)

// filesBatchLimit is how many file entries go to the catalog at once.
const filesBatchLimit = 20000

// BackupOptions select what a backup does.
type BackupOptions struct {
	Sources []string // empty: every source that has a backup-group buffer
	Level   string   // "full" (default), "incremental" or "differential"; see incremental.go
	Logger  *slog.Logger
	// Monitor, if set, is called once the topology is wired, before any
	// data moves, with live counters for progress displays.
	Monitor func(*Monitor)
	// Locks says how long to wait for pools another process writes.
	Locks PoolWait
	// Started, if set, is called with the job's catalog ID once it is
	// recorded, before any data moves.
	Started func(job int64)
	// Plane, if set, moves the data on the hosts of a fleet instead of
	// in this process (internal/server): its agents make the objects'
	// IDs and its media hosts lock their pools. See remote.go.
	Plane Plane
}

// Monitor exposes live counters of a running backup. Counters are atomic;
// read them from any goroutine.
type Monitor struct {
	Sources []*SourceProgress
	Agents  []*AgentProgress
	Buffers []*buffers.Buffer
}

// SourceProgress counts what an agent read.
type SourceProgress struct {
	Name  string
	Bytes atomic.Int64 // object stream bytes produced
	Files atomic.Int64
	Done  atomic.Bool
}

// AgentProgress counts what a media agent wrote.
type AgentProgress struct {
	Name, Device string
	Copy         int
	Bytes        atomic.Int64 // block payload written
	Records      atomic.Int64 // records of objects in the blocks written (from the extents reported)
	Done         atomic.Bool
}

// CopyOutcome is one copy of one object after the job.
type CopyOutcome struct {
	Number     int      `json:"copy"`
	MediaAgent string   `json:"media_agent"`
	Device     string   `json:"device"`
	Pool       string   `json:"pool"`
	State      string   `json:"state"`
	Error      string   `json:"error,omitempty"`
	Volumes    []string `json:"volumes,omitempty"`
	Extents    int      `json:"extents"`
}

// ObjectOutcome is one object (one source) after the job.
type ObjectOutcome struct {
	Source string `json:"source"`
	Object string `json:"object"`
	Level  string `json:"level"`
	Base   string `json:"base,omitempty"`
	// Files counts the entries written, deletion entries included;
	// Unchanged the entries left out as in the base, Deleted the
	// deletion entries.
	Unchanged int64 `json:"unchanged,omitempty"`
	// Stored is Bytes after compression (compressed sources only).
	Stored   int64    `json:"stored,omitempty"`
	Deleted  int64    `json:"deleted,omitempty"`
	State    string   `json:"state"`
	Bytes    int64    `json:"bytes"`
	Files    int64    `json:"files"`
	Hash     string   `json:"hash,omitempty"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Unread counts the paths and files of the source that could not be
	// read (skipped, or changed while read): each is one of Warnings.
	Unread int64         `json:"unread,omitempty"`
	Copies []CopyOutcome `json:"copies"`
}

// BackupResult is the outcome of a backup job.
type BackupResult struct {
	Job      int64     `json:"job"`
	State    string    `json:"state"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Bytes    int64     `json:"bytes"` // object stream bytes read from the sources
	// Warnings counts the paths and files that could not be read, over
	// all objects: a job that succeeded with warnings is incomplete.
	Warnings int64           `json:"warnings"`
	Objects  []ObjectOutcome `json:"objects"`
	// Excluded lists daisy's own state (catalog files, pool directories)
	// that a source holds and the backup left out.
	Excluded []string `json:"excluded_daisy_state,omitempty"`
	// PeakRSS is the process's peak resident memory when the job ended
	// (Linux VmHWM), filled in by the command line.
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
	// DeviceTiming holds, for each device with a timing model, what a
	// tape drive would have done with the job's blocks.
	DeviceTiming []DeviceTiming `json:"device_timing,omitempty"`
}

// backupRun holds the wiring of one backup.
type backupRun struct {
	cfg  *config.Config
	cat  *catalog.Catalog
	log  *slog.Logger
	job  catalog.Job
	host string
	pool records.Pool

	bufs   map[string]*buffers.Buffer // by "AGENT.BUFFER"
	agents []*mediaagent.BMA
	timed  []timedDevice // devices with a timing model
	mon    Monitor
	exts   extentLog // the extents the agents report as they write

	mu      sync.Mutex
	objects map[records.ID]*objectRun

	// Remote (Plane) backups only: the sources waiting for their agent
	// to make the object, by name, and the outcome of those whose agent
	// never did.
	pending  map[string]*pendingSource
	notBegun []ObjectOutcome
	catErr   error           // the first file batch the catalog refused
	unlisted map[string]bool // objects with a batch not recorded
}

type objectRun struct {
	src                config.Source
	chain              []catalog.Object // the base's restore chain (incremental, differential)
	unchanged, deleted int64
	id                 records.ID
	obj                catalog.Object
	links              []config.ChainLink
	end                records.EndInfo
	err                error
	filesErr           error // some of its file entries are not in the catalog
	files              int64
	warnings           []string
	unread             int64    // paths and files that could not be read
	missing            []string // roots of the source that do not exist
	progress           *SourceProgress
}

// Backup runs a backup job of the configuration: one pass over each
// selected source writes every copy its chain asks for. It returns an
// error only when the job could not run at all; copies that failed are
// reported in the result (State partial or failed).
func Backup(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, o BackupOptions) (*BackupResult, error) {
	if o.Level == "" {
		o.Level = LevelFull
	}
	if o.Level != LevelFull && o.Level != LevelIncremental && o.Level != LevelDifferential {
		return nil, fmt.Errorf("%w: backup level %q: use full, incremental or differential", ErrUsage, o.Level)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	selected, err := selectSources(cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	r := &backupRun{cfg: cfg, cat: cat, log: log, host: host, bufs: map[string]*buffers.Buffer{}, objects: map[records.ID]*objectRun{}}
	// The pools' locks first: a pool another process writes stops the job
	// before it records or reads anything.
	mgr := pools.NewManager(cat)
	defer mgr.Close()
	if o.Plane == nil {
		if err := lockJobPools(ctx, cfg, mgr, backupPools(cfg, selected), o.Locks); err != nil {
			return nil, err
		}
	}
	if err := registerPools(ctx, cfg, cat); err != nil {
		return nil, err
	}
	r.job, err = cat.StartJob(ctx, "backup")
	if err != nil {
		return nil, err
	}
	res := &BackupResult{Job: r.job.ID, Started: r.job.Started}
	if o.Started != nil {
		o.Started(r.job.ID)
	}
	// What the job records at its end is recorded even when ctx is
	// cancelled (SIGINT, SIGTERM): the job ends interrupted, its
	// unfinished copies failed, never left writing.
	wctx := context.WithoutCancel(ctx)

	if o.Plane != nil {
		return r.remote(ctx, wctx, o, selected, res)
	}
	r.wire(mgr)
	state := daisyState(ctx, cfg, cat)
	for _, src := range selected {
		src, res.Excluded = excludeDaisyState(state, src, res.Excluded)
		level, chain, note, err := baseOf(ctx, cat, src.Name, o.Level)
		if err == nil {
			if note != "" {
				log.Warn(note, "source", src.Name)
			}
			err = r.addObject(ctx, records.NewID(), time.Now(), src, level, chain, note)
		}
		if err != nil {
			for _, o := range r.objects {
				o.err = fmt.Errorf("the job stopped before it ran: %w", err)
			}
			r.commit(wctx, nil, res)
			r.finishJob(wctx, res, err)
			return res, err
		}
	}
	if o.Monitor != nil {
		o.Monitor(&r.mon)
	}
	results, runErr := r.run(ctx, selected)
	res.DeviceTiming = deviceTimings(r.timed)
	r.commit(wctx, results, res)
	r.finishJob(wctx, res, runErr)
	return res, runErr
}

func selectSources(cfg *config.Config, names []string) ([]config.Source, error) {
	var out []config.Source
	if len(names) == 0 {
		for _, s := range cfg.Sources {
			if len(cfg.Chain(s.Name)) > 0 {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no source is assigned to a buffer of the backup group", ErrUsage)
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, n := range names {
		s, ok := cfg.Source(n)
		if !ok {
			return nil, fmt.Errorf("%w: no source %q in %s", ErrUsage, n, cfg.File)
		}
		if len(cfg.Chain(n)) == 0 {
			return nil, fmt.Errorf("%w: source %q is in no buffer of the backup group, so it has nowhere to go", ErrUsage, n)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// wire builds every buffer, attaches each media agent to its buffers and
// each mirror buffer to the buffer it follows. Nothing moves yet.
func (r *backupRun) wire(mgr *pools.Manager) {
	for _, ma := range r.cfg.MediaAgents() {
		for _, b := range ma.Buffers {
			buf := buffers.New(b.ID(ma.Name), b.Size)
			r.bufs[b.ID(ma.Name)] = buf
			r.mon.Buffers = append(r.mon.Buffers, buf)
		}
	}
	for _, ma := range r.cfg.MediaAgents() {
		pool, _ := r.cfg.Pool(ma.Pool)
		dev, _ := r.cfg.Device(ma.Device)
		prog := &AgentProgress{Name: ma.Name, Device: ma.Device, Copy: ma.Level + 1}
		r.mon.Agents = append(r.mon.Agents, prog)
		a := &mediaagent.BMA{
			Name: ma.Name, Device: ma.Device, Volumes: withTiming(&loggedVolumes{VolumeSource: mgr.Drive(pool, dev), log: r.log, agent: ma.Name}, ma, dev, &r.timed),
			Notify: make(chan struct{}, 1), ExtentTarget: ma.ExtentSize,
			OnWrite:  func(n int) { prog.Bytes.Add(int64(n)) },
			OnExtent: func(e mediaagent.ExtentReport) { prog.Records.Add(r.exts.add(e)) },
		}
		a.Session.Job = r.job.ID
		a.Session.Host = r.host
		for _, b := range ma.Buffers {
			id := b.ID(ma.Name)
			a.Inputs = append(a.Inputs, mediaagent.Input{Name: id, Cursor: r.bufs[id].Attach(ma.Name, a.Notify), Copy: ma.Level + 1, Role: ma.Role, Level: ma.Level})
		}
		r.agents = append(r.agents, a)
	}
}

// addObject registers the object of one source and its planned copies.
func (r *backupRun) addObject(ctx context.Context, id records.ID, started time.Time, src config.Source, level string, chain []catalog.Object, note string) error {
	prog := &SourceProgress{Name: src.Name}
	if p := r.pending[src.Name]; p != nil {
		prog = p.progress // in the Monitor since the job began
	}
	o := &objectRun{src: src, id: id, links: r.cfg.Chain(src.Name), progress: prog, chain: chain}
	if note != "" {
		o.warnings = append(o.warnings, note)
	}
	o.obj = catalog.Object{ID: id.String(), Source: src.Name, Client: src.Client, Level: level, Started: started.UTC(), JobID: r.job.ID, State: ObjectWriting}
	if len(chain) > 0 {
		o.obj.Base = chain[len(chain)-1].ID
	}
	if err := r.cat.AddObject(ctx, o.obj); err != nil {
		return err
	}
	for _, l := range o.links {
		role := "mirror"
		if l.Copy == 1 {
			role = "backup"
		}
		cp := catalog.Copy{ObjectID: o.obj.ID, Number: l.Copy, Role: role, Level: l.Copy - 1, MediaAgent: l.Agent.Name, Device: l.Agent.Device, Pool: l.Agent.Pool, State: CopyWriting, JobID: r.job.ID}
		if err := r.cat.AddCopy(ctx, cp); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.objects[id] = o
	if r.pending[src.Name] == nil {
		r.mon.Sources = append(r.mon.Sources, o.progress)
	}
	r.mu.Unlock()
	r.log.Debug("backup: object registered", "object", o.obj.ID, "source", src.Name, "level", level, "base", o.obj.Base, "copies", len(o.links))
	return nil
}

// run moves the data: forwarders along the chains, media agents, agents.
func (r *backupRun) run(ctx context.Context, selected []config.Source) (map[string][]mediaagent.CopyResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Chains: a mirror buffer follows its upstream buffer by reference.
	var fwd sync.WaitGroup
	for _, ma := range r.cfg.MediaAgents() {
		for _, b := range ma.Buffers {
			if b.Follows == "" {
				continue
			}
			cur := r.bufs[b.Follows].Attach("chain→"+b.ID(ma.Name), nil)
			next := r.bufs[b.ID(ma.Name)]
			fwd.Go(func() { buffers.Forward(ctx, cur, next) })
		}
	}
	results := map[string][]mediaagent.CopyResult{}
	var resMu sync.Mutex
	var agents sync.WaitGroup
	for i, a := range r.agents {
		prog := r.mon.Agents[i]
		r.log.Debug("backup: media agent started", "media_agent", a.Name, "device", a.Device, "buffers", len(a.Inputs))
		agents.Go(func() {
			res, err := a.Run(ctx)
			if err != nil {
				r.log.Error("media agent failed; its copies are marked failed, the chain goes on", "media_agent", a.Name, "device", a.Device, "err", err)
			}
			prog.Done.Store(true)
			r.log.Debug("backup: media agent done", "media_agent", a.Name, "objects", len(res), "volumes", a.VolumesWritten(), "err", err)
			resMu.Lock()
			results[a.Name] = res
			resMu.Unlock()
		})
	}
	// Sources: one agent each, into the backup-group buffer of the source.
	byName := map[string]*objectRun{}
	for _, o := range r.objects {
		byName[o.src.Name] = o
	}
	used := map[string]bool{}
	files := make(chan []catalog.File, 4)
	// Once a batch failed to record, the later ones are dropped: every
	// object with a batch not recorded fails (commit), since a restore
	// finds its entries through the catalog.
	var catErr error
	unlisted := map[string]bool{}
	var filesDone sync.WaitGroup
	filesDone.Go(func() {
		for batch := range files {
			if catErr == nil {
				catErr = r.cat.AddFiles(ctx, batch)
				r.log.Debug("backup: file entries recorded", "object", batch[0].ObjectID, "entries", len(batch), "err", catErr)
			}
			if catErr != nil {
				unlisted[batch[0].ObjectID] = true
			}
		}
	})
	var sources sync.WaitGroup
	for _, src := range selected {
		o := byName[src.Name]
		buf := r.bufs[o.links[0].Buffer.ID(o.links[0].Agent.Name)]
		used[buf.Name()] = true
		r.log.Debug("backup: agent started", "source", o.src.Name, "object", o.obj.ID, "paths", o.src.Paths, "buffer", buf.Name())
		sources.Go(func() { r.readSource(ctx, o, buf, files) })
	}
	// Backup-group buffers without a selected source carry nothing.
	for _, ma := range r.cfg.BackupGroup {
		for _, b := range ma.Buffers {
			if !used[b.ID(ma.Name)] {
				r.bufs[b.ID(ma.Name)].Close()
			}
		}
	}
	sources.Wait()
	close(files)
	filesDone.Wait()
	agents.Wait()
	fwd.Wait()
	for _, o := range r.objects {
		if unlisted[o.obj.ID] {
			o.filesErr = fmt.Errorf("source %s: its file list could not be recorded in the catalog: %w", o.src.Name, catErr)
		}
	}
	if catErr != nil {
		return results, fmt.Errorf("record files in the catalog: %w", catErr)
	}
	return results, ctx.Err()
}

// readSource runs the agent of one source into its buffer.
func (r *backupRun) readSource(ctx context.Context, o *objectRun, buf *buffers.Buffer, files chan<- []catalog.File) {
	defer o.progress.Done.Store(true)
	begin := records.BeginInfo{Source: o.src.Name, Client: o.src.Client, Level: o.obj.Level, Base: o.obj.Base, Time: o.obj.Started, Job: r.job.ID, Content: "pax", Compression: o.src.Compression}
	sw, err := records.NewStreamWriter(o.id, begin, &r.pool, func(rec *records.Record) error {
		o.progress.Bytes.Add(int64(rec.Len()))
		return buf.Push(ctx, rec)
	})
	if err != nil {
		o.err = fmt.Errorf("source %s: %w", o.src.Name, err)
		buf.Fail(o.err)
		return
	}
	var batch []catalog.File
	opts := agent.Options{
		Paths:   o.src.Paths,
		Exclude: o.src.Exclude,
		Base:    chainBase(ctx, r.cat, o.chain),
		OnEntry: func(e agent.Entry) {
			o.progress.Files.Add(1)
			batch = append(batch, catalog.File{
				ObjectID: o.obj.ID, Path: "/" + e.Name, Type: e.Type, Size: e.Size, Mode: e.Mode,
				UID: e.UID, GID: e.GID, MTime: e.ModTime, CTime: e.Ctime, Inode: e.Inode, Link: e.LinkName, Offset: e.Offset,
			})
			if len(batch) >= filesBatchLimit {
				files <- batch
				batch = nil
			}
		},
		OnError: func(path string, err error) {
			missing := isRoot(o.src.Paths, path) && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR))
			r.skipped(o, path, err.Error(), missing)
		},
	}
	st, err := agent.Archive(ctx, sw, opts)
	if len(batch) > 0 {
		files <- batch
	}
	o.files = st.Entries + st.Deleted
	o.unchanged, o.deleted = st.Unchanged, st.Deleted
	if err == nil {
		err = o.missingErr()
	}
	if err != nil {
		o.err = fmt.Errorf("source %s: %w", o.src.Name, err)
		_ = sw.Abort(o.err.Error())
		buf.Fail(o.err)
		r.log.Debug("backup: object stream aborted", "source", o.src.Name, "object", o.obj.ID, "err", o.err)
		return
	}
	end, err := sw.Close()
	if err != nil {
		o.err = fmt.Errorf("source %s: %w", o.src.Name, err)
		buf.Fail(o.err)
		return
	}
	o.end = end
	r.log.Debug("backup: object stream ended", "source", o.src.Name, "object", o.obj.ID, "entries", o.files, "bytes", end.Length, "records", end.Records, "unread", o.unread)
	buf.Close()
}

// skipped records a path of a source that could not be read: a root that
// does not exist (missing), or a file or directory skipped.
func (r *backupRun) skipped(o *objectRun, path, err string, missing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if missing {
		// A root that does not exist is not a file that could not be
		// read: an unmounted disk must not pass for an empty one (see
		// missingErr).
		o.missing = append(o.missing, path)
		if o.src.MayBeAbsent {
			r.log.Info("absent, as the source allows", "source", o.src.Name, "path", path)
			o.warnings = append(o.warnings, fmt.Sprintf("%s: absent (may_be_absent)", path))
		}
		return
	}
	// A warning of the result, printed with it (text or JSON): logged at
	// debug only, or it is said twice.
	r.log.Debug("skipped", "source", o.src.Name, "path", path, "err", err)
	o.unread++
	if len(o.warnings) < 1000 {
		o.warnings = append(o.warnings, fmt.Sprintf("%s: %s", path, err))
	}
}

// missingErr fails an object whose source lacks a root it may not lack.
func (o *objectRun) missingErr() error {
	if len(o.missing) == 0 || o.src.MayBeAbsent {
		return nil
	}
	return fmt.Errorf("path %s does not exist (a disk not mounted?); the object is failed so that it never passes for an empty tree; mount it, or add \"may_be_absent: true\" to source %s", strings.Join(o.missing, ", "), o.src.Name)
}

// commit records each object's and copy's outcome: good copies with their
// extents in one transaction each, after their volumes were synced; failed
// ones with the reason. An object is complete only when its stream ended
// well, its file list is in the catalog and at least one copy is good; an
// object whose every copy failed is failed in the catalog, so that it is
// never the latest backup or a base.
func (r *backupRun) commit(ctx context.Context, results map[string][]mediaagent.CopyResult, res *BackupResult) {
	type key struct {
		id   records.ID
		copy int
	}
	byCopy := map[key]mediaagent.CopyResult{}
	for _, crs := range results {
		for _, cr := range crs {
			byCopy[key{cr.Object, cr.Copy}] = cr
		}
	}
	ids := make([]*objectRun, 0, len(r.objects))
	for _, o := range r.objects {
		ids = append(ids, o)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].src.Name < ids[j].src.Name })
	for _, o := range ids {
		out := ObjectOutcome{Source: o.src.Name, Object: o.obj.ID, Level: o.obj.Level, Base: o.obj.Base, Bytes: int64(o.end.Length), Files: o.files,
			Unchanged: o.unchanged, Deleted: o.deleted, Stored: int64(o.end.Stored), Hash: o.end.Hash, Warnings: o.warnings, Unread: o.unread}
		upstream := o.err
		if upstream == nil {
			upstream = o.filesErr
		}
		state := ObjectComplete
		if upstream != nil {
			state = ObjectFailed
			out.Error = upstream.Error()
		}
		if err := r.cat.FinishObject(ctx, o.obj.ID, int64(o.end.Length), int64(o.end.Records), o.files, o.end.Hash, state, time.Now().UTC()); err != nil {
			state, out.Error = ObjectFailed, err.Error()
			if upstream == nil {
				upstream = fmt.Errorf("source %s: %w", o.src.Name, err)
			}
		}
		good := 0
		for _, l := range o.links {
			var cr *mediaagent.CopyResult
			if c, ok := byCopy[key{o.id, l.Copy}]; ok {
				cr = &c
			}
			co := commitCopy(ctx, r.cat, r.log, o.obj.ID, l.Copy, l.Agent.Name, cr, r.exts.extents(o.id, l.Copy), upstream)
			co.MediaAgent, co.Device, co.Pool = l.Agent.Name, l.Agent.Device, l.Agent.Pool
			r.log.Debug("backup: copy committed", "object", o.obj.ID, "copy", co.Number, "state", co.State, "volumes", co.Volumes, "extents", co.Extents)
			if co.State == CopyGood {
				good++
			}
			out.Copies = append(out.Copies, co)
		}
		if good == 0 && state == ObjectComplete {
			state = ObjectFailed
			out.Error = "no copy was written"
			if _, err := r.cat.FailObject(ctx, o.obj.ID); err != nil {
				r.log.Error("record failed object", "object", o.obj.ID, "err", err)
			}
		}
		out.State = state
		res.Bytes += out.Bytes
		res.Warnings += out.Unread
		res.Objects = append(res.Objects, out)
	}
	for _, out := range r.notBegun {
		res.Warnings += out.Unread
		res.Objects = append(res.Objects, out)
	}
}

func (r *backupRun) finishJob(ctx context.Context, res *BackupResult, runErr error) {
	state := JobSuccess
	for _, o := range res.Objects {
		if o.State != ObjectComplete {
			state = JobFailed
			break
		}
		for _, c := range o.Copies {
			if c.State != CopyGood {
				state = JobPartial
			}
		}
	}
	switch {
	case errors.Is(runErr, context.Canceled):
		state = JobInterrupted
	case runErr != nil:
		state = JobFailed
	}
	res.State = state
	res.Finished = time.Now().UTC()
	j := r.job
	j.State, j.Finished, j.Bytes, j.Warnings = state, res.Finished, res.Bytes, res.Warnings
	for _, o := range res.Objects {
		j.Files += o.Files
	}
	var msgs []error
	if runErr != nil {
		msgs = append(msgs, runErr)
	}
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			if c.Error != "" {
				msgs = append(msgs, fmt.Errorf("%s copy %d: %s", o.Source, c.Number, c.Error))
			}
		}
	}
	if err := errors.Join(msgs...); err != nil {
		j.Error = err.Error()
	}
	// Nothing the job started stays writing, whatever stopped it.
	if err := r.cat.FailUnfinished(ctx, j.ID, "the backup job stopped before this was finished: "+errOr(runErr, "unknown")); err != nil {
		r.log.Error("record unfinished copies", "job", j.ID, "err", err)
	}
	if err := r.cat.FinishJob(ctx, j); err != nil {
		r.log.Error("record job end", "job", j.ID, "err", err)
	}
}

// isRoot reports whether path is one of the source's paths as the agent
// reports it (cleaned).
func isRoot(paths []string, path string) bool {
	for _, p := range paths {
		if filepath.Clean(p) == path {
			return true
		}
	}
	return false
}

// errOr is err's text, or s for a nil error.
func errOr(err error, s string) string {
	if err == nil {
		return s
	}
	return err.Error()
}

// loggedVolumes is a media agent's volume source that says at debug level
// what the agent mounts and releases: a volume released full is one the
// agent spans from.
type loggedVolumes struct {
	mediaagent.VolumeSource
	log   *slog.Logger
	agent string
}

func (v *loggedVolumes) Next(ctx context.Context) (mediaagent.Mount, error) {
	m, err := v.VolumeSource.Next(ctx)
	if err != nil {
		v.log.Debug("backup: no volume to mount", "media_agent", v.agent, "err", err)
		return m, err
	}
	v.log.Debug("backup: mounted volume", "media_agent", v.agent, "volume", m.Label.Label, "pool", m.Label.Pool, "at_block", m.At)
	return m, nil
}

func (v *loggedVolumes) Release(ctx context.Context, m mediaagent.Mount, blocks int64, full bool, failed error) error {
	err := v.VolumeSource.Release(ctx, m, blocks, full, failed)
	msg := "backup: released volume"
	if full {
		msg = "backup: volume full, spanning to the next"
	}
	v.log.Debug(msg, "media_agent", v.agent, "volume", m.Label.Label, "blocks", blocks, "session_failed", failed, "err", err)
	return err
}
