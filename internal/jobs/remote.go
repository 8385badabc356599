package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// A Plane moves the data of a backup on the hosts of a fleet: daisy
// server's agents read the sources on their clients, its media hosts run
// the media agents (internal/server). Backup then does only what the
// control program does: it records the job, each object once its agent
// has made its ID, the file lists, warnings and extents the hosts report,
// and commits the copies exactly as it does in process (one commit path).
type Plane interface {
	// RunBackup moves the data of b's sources and returns the copy
	// results of each media agent by name. It reports to b as the hosts
	// report; a source whose agent never began its object is ended with
	// an error (End). Its error is the job's (a cancelled ctx: the job
	// is interrupted).
	RunBackup(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error)
}

// pendingSource is a selected source of a remote backup before and while
// its agent runs.
type pendingSource struct {
	order    SourceOrder
	chain    []catalog.Object
	note     string
	progress *SourceProgress
	id       records.ID // zero until Begin
	ended    bool
}

// SourceOrder is what a plane orders from the agent of one source.
type SourceOrder struct {
	Source  config.Source
	Level   string    // full, incremental, differential (after baseOf)
	Base    string    // the object it is based on; "" for a full
	Started time.Time // the object's start, written in its Begin record
}

// RemoteBackup is a backup job as a Plane sees it. Its methods are safe
// for concurrent use (one goroutine per source and per media host).
type RemoteBackup struct {
	r      *backupRun
	fileMu sync.Mutex
}

// Job is the catalog ID of the job.
func (b *RemoteBackup) Job() int64 { return b.r.job.ID }

// Config is the configuration the job runs.
func (b *RemoteBackup) Config() *config.Config { return b.r.cfg }

// Logger is the job's logger.
func (b *RemoteBackup) Logger() *slog.Logger { return b.r.log }

// Monitor is the job's live counters (sources and media agents; the
// buffers live on the media hosts).
func (b *RemoteBackup) Monitor() *Monitor { return &b.r.mon }

// Orders returns the selected sources with their levels and bases, in the
// order of the configuration.
func (b *RemoteBackup) Orders() []SourceOrder {
	var out []SourceOrder
	for _, s := range b.r.cfg.Sources {
		if p := b.r.pending[s.Name]; p != nil {
			out = append(out, p.order)
		}
	}
	return out
}

func (b *RemoteBackup) source(name string) (*pendingSource, error) {
	p := b.r.pending[name]
	if p == nil {
		return nil, fmt.Errorf("source %q is not in job %d", name, b.r.job.ID)
	}
	return p, nil
}

func (b *RemoteBackup) object(name string) (*pendingSource, *objectRun, error) {
	p, err := b.source(name)
	if err != nil {
		return nil, nil, err
	}
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	o := b.r.objects[p.id]
	if o == nil {
		return p, nil, fmt.Errorf("source %s: its agent has not begun an object", name)
	}
	return p, o, nil
}

// Begin records the object the agent of source made, with id, and its
// planned copies (state writing). The agent may send records only after
// Begin returned nil.
func (b *RemoteBackup) Begin(ctx context.Context, source string, id records.ID) error {
	p, err := b.source(source)
	if err != nil {
		return err
	}
	if id == (records.ID{}) {
		return fmt.Errorf("source %s: the agent sent no object ID", source)
	}
	b.r.mu.Lock()
	begun := p.id != (records.ID{})
	_, taken := b.r.objects[id]
	if !begun && !taken {
		p.id = id
	}
	b.r.mu.Unlock()
	if begun {
		return fmt.Errorf("source %s: its object was begun already", source)
	}
	if taken {
		return fmt.Errorf("source %s: object ID %s is another source's", source, id)
	}
	return b.r.addObject(ctx, id, p.order.Started, p.order.Source, p.order.Level, p.chain, p.note)
}

// ObjectOf returns the source and client of a begun object of the job,
// and the base tree an incremental of it is compared with (nil for a
// full): what the server's Base RPCs serve to that client only.
func (b *RemoteBackup) ObjectOf(ctx context.Context, object string) (config.Source, agent.Base, bool) {
	id, err := records.ParseID(object)
	if err != nil {
		return config.Source{}, nil, false
	}
	b.r.mu.Lock()
	o := b.r.objects[id]
	b.r.mu.Unlock()
	if o == nil {
		return config.Source{}, nil, false
	}
	return o.src, chainBase(ctx, b.r.cat, o.chain), true
}

// Files records file entries of a source's object. Once the catalog
// refused a batch the later ones are dropped and every object with a
// batch not recorded fails at the commit (a restore finds entries through
// the catalog), as in process.
func (b *RemoteBackup) Files(ctx context.Context, source string, files []catalog.File) error {
	_, o, err := b.object(source)
	if err != nil {
		return err
	}
	for i := range files {
		files[i].ObjectID = o.obj.ID
	}
	o.progress.Files.Add(int64(len(files)))
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	if b.r.catErr == nil {
		b.r.catErr = b.r.cat.AddFiles(ctx, files)
	}
	if b.r.catErr != nil {
		b.r.unlisted[o.obj.ID] = true
	}
	return nil
}

// Skipped records a path of source its agent could not read: a missing
// root, or a file or directory skipped (a warning of the job).
func (b *RemoteBackup) Skipped(source, path, err string, missing bool) error {
	_, o, e := b.object(source)
	if e != nil {
		return e
	}
	b.r.skipped(o, path, err, missing)
	return nil
}

// Progress sets the bytes of records the agent of source has pushed.
func (b *RemoteBackup) Progress(source string, bytes int64) {
	if p, err := b.source(source); err == nil {
		p.progress.Bytes.Store(bytes)
	}
}

// End records how the agent of source ended its object: the End record's
// information when its stream ended well, with the entry counts, or why
// it failed (also for a source whose agent never began one). A source
// with a missing root its configuration does not allow fails here.
func (b *RemoteBackup) End(source string, end records.EndInfo, entries, unchanged, deleted int64, failed error) {
	p, err := b.source(source)
	if err != nil {
		return
	}
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	p.progress.Done.Store(true)
	o := b.r.objects[p.id]
	if o == nil {
		if failed == nil {
			failed = errors.New("its agent ended without beginning an object")
		}
		b.r.notBegun = append(b.r.notBegun, ObjectOutcome{Source: source, Level: p.order.Level, Base: p.order.Base,
			State: ObjectFailed, Error: fmt.Sprintf("source %s: %v", source, failed)})
		return
	}
	o.files, o.unchanged, o.deleted = entries, unchanged, deleted
	if failed == nil {
		failed = o.missingErr()
	}
	if failed != nil {
		o.err = fmt.Errorf("source %s: %w", source, failed)
		return
	}
	o.end = end
}

// Extent records an extent a media agent reports as its block reached
// the medium, and counts the records the block added for the media agent
// of the copy (its Records in the Monitor).
func (b *RemoteBackup) Extent(r mediaagent.ExtentReport) {
	if n := b.r.exts.add(r); n != 0 {
		if a := b.agentOf(r.Object, r.Copy); a != nil {
			a.Records.Add(n)
		}
	}
}

// agentOf is the progress of the media agent that writes copy n of
// object id: the agent of that copy's link in its source's chain; nil
// when the object is not the job's.
func (b *RemoteBackup) agentOf(id records.ID, n int) *AgentProgress {
	b.r.mu.Lock()
	o := b.r.objects[id]
	b.r.mu.Unlock()
	if o == nil {
		return nil
	}
	for _, l := range o.links {
		if l.Copy != n {
			continue
		}
		for _, a := range b.r.mon.Agents {
			if a.Name == l.Agent.Name {
				return a
			}
		}
	}
	return nil
}

// DeviceBytes sets the bytes a media agent has written, and whether it is
// done.
func (b *RemoteBackup) DeviceBytes(mediaAgent string, bytes int64, done bool) {
	for _, a := range b.r.mon.Agents {
		if a.Name == mediaAgent {
			a.Bytes.Store(bytes)
			if done {
				a.Done.Store(true)
			}
		}
	}
}

// remote runs a backup on a Plane: the sources' levels and bases are
// found here, the objects recorded as their agents begin them.
func (r *backupRun) remote(ctx, wctx context.Context, o BackupOptions, selected []config.Source, res *BackupResult) (*BackupResult, error) {
	r.pending = map[string]*pendingSource{}
	r.unlisted = map[string]bool{}
	for _, ma := range r.cfg.MediaAgents() {
		r.mon.Agents = append(r.mon.Agents, &AgentProgress{Name: ma.Name, Device: ma.Device, Copy: ma.Level + 1})
	}
	now := time.Now().UTC()
	for _, src := range selected {
		level, chain, note, err := baseOf(ctx, r.cat, src.Name, o.Level)
		if err != nil {
			r.commit(wctx, nil, res)
			r.finishJob(wctx, res, err)
			return res, err
		}
		if note != "" {
			r.log.Warn(note, "source", src.Name)
		}
		p := &pendingSource{order: SourceOrder{Source: src, Level: level, Started: now}, chain: chain, note: note, progress: &SourceProgress{Name: src.Name}}
		if len(chain) > 0 {
			p.order.Base = chain[len(chain)-1].ID
		}
		r.pending[src.Name] = p
		r.mon.Sources = append(r.mon.Sources, p.progress)
	}
	if o.Monitor != nil {
		o.Monitor(&r.mon)
	}
	b := &RemoteBackup{r: r}
	results, runErr := o.Plane.RunBackup(ctx, b)
	// A source the plane left without an end failed with the job.
	for _, src := range selected {
		b.End(src.Name, records.EndInfo{}, 0, 0, 0, fmt.Errorf("the job ended before its agent did: %s", errOr(runErr, "no end reported")))
	}
	for _, ob := range r.objects {
		if r.unlisted[ob.obj.ID] {
			ob.filesErr = fmt.Errorf("source %s: its file list could not be recorded in the catalog: %w", ob.src.Name, r.catErr)
		}
	}
	if runErr == nil && r.catErr != nil {
		runErr = fmt.Errorf("record files in the catalog: %w", r.catErr)
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	r.commit(wctx, results, res)
	r.finishJob(wctx, res, runErr)
	return res, runErr
}
