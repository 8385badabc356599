package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/api"
	"daisy/internal/jobs"
)

// backup runs a backup on the server and prints its result as daisy
// backup does.
func (c *remoteClient) backup(ctx context.Context, req api.JobRequest) error {
	v, err := c.run(ctx, req, "backup")
	if err != nil {
		return err
	}
	var res jobs.BackupResult
	ok, err := c.result(v, &res)
	if !ok {
		return err
	}
	return finishBackup(c.g, &res, err, v.duration())
}

// restore runs a restore through the server. The target is a directory
// of the host that writes it (the source's client when it has an agent,
// else the server's host): it must be absolute. --buffered and --salvage are not
// options of the API.
func (c *remoteClient) restore(ctx context.Context, o jobs.RestoreOptions, at string) error {
	switch {
	case o.Buffered:
		return usageError("restore --buffered cannot go through a server (--server %s): the API has no such option", c.base)
	case o.Salvage:
		return usageError("restore --salvage cannot go through a server (--server %s): the API has no such option", c.base)
	case !filepath.IsAbs(o.Target):
		return usageError("--to %q: with --server the target is a directory of the host that restores (the source's client, or the server's host): give it as an absolute path", o.Target)
	}
	req := api.JobRequest{Kind: api.KindRestore, Object: o.Object, Source: o.Source, Copy: o.Copy, Target: o.Target,
		Paths: o.Paths, Overwrite: o.Overwrite, Resume: o.Resume}
	if at != "" {
		bound, isTime, err := parseAtBound("--at", at, time.Now())
		switch {
		case err != nil:
			return err
		case isTime && o.Source == "":
			return usageError("--at %q is a time: name the source too (--source S), or give an object ID", at)
		case isTime:
			req.At = bound
		case looksLikeID(at):
			req.Object, req.Source = at, ""
		default:
			return usageError("--at %q: give %s", at, atHelp)
		}
	}
	v, err := c.run(ctx, req, "restore")
	if err != nil {
		return err
	}
	var res jobs.RestoreResult
	ok, err := c.result(v, &res)
	if !ok {
		return err
	}
	return finishRestore(c.g, &res, err)
}

// verify runs a verify on the server.
func (c *remoteClient) verify(ctx context.Context, o jobs.VerifyOptions) error {
	v, err := c.run(ctx, api.JobRequest{Kind: api.KindVerify, Objects: o.Objects, Sources: o.Sources, Volumes: o.Volumes,
		Pools: o.Pools, All: o.All, NoMark: o.NoMark}, "verify")
	if err != nil {
		return err
	}
	var res jobs.VerifyResult
	ok, err := c.result(v, &res)
	if !ok {
		return err
	}
	return finishVerify(c.g, &res, err)
}

// prune runs a prune on the server.
func (c *remoteClient) prune(ctx context.Context, req api.JobRequest) error {
	v, err := c.run(ctx, req, "prune")
	if err != nil {
		return err
	}
	var res jobs.PruneResult
	ok, err := c.result(v, &res)
	if !ok {
		return err
	}
	return finishPrune(c.g, &res, err)
}

// copy runs daisy copy on the server: a configured copy job (--job), or
// an ad-hoc copy of one object, a source, a client or all into --to-pool.
// The other copy job types, and the selections the API does not take,
// are refused.
func (c *remoteClient) copy(cmd *cobra.Command, args []string, dry bool, wait time.Duration) error {
	if cmd.Name() != "copy" {
		return usageError("%s cannot go through a server (--server %s): the API runs copy jobs (daisy copy --job NAME, or --to-pool P with --object, --source, --client or --all), not %s", cmd.CommandPath(), c.base, cmd.Name())
	}
	f := cmd.Flags()
	for _, name := range []string{"since", "until", "from-pool", "volume", "not-in-pool"} {
		if f.Changed(name) {
			return usageError("copy --%s cannot go through a server (--server %s): the API selects by --object, --source, --client or --all", name, c.base)
		}
	}
	str := func(name string) string { s, _ := f.GetString(name); return s }
	objects, _ := f.GetStringArray("object")
	all, _ := f.GetBool("all")
	req := api.JobRequest{Kind: api.KindCopy, CopyJob: str("job"), Pool: str("to-pool"), Device: str("device"),
		Source: str("source"), Client: str("client"), All: all, DryRun: dry, WaitSeconds: waitSeconds(wait)}
	switch {
	case len(objects) > 1:
		return usageError("copy --object more than once cannot go through a server (--server %s): the API copies one object per job", c.base)
	case len(objects) == 1:
		req.Object = objects[0]
	}
	if req.CopyJob == "" && req.Pool == "" {
		return usageError("copy needs --job NAME, or --to-pool P with a selection")
	}
	v, err := c.run(cmd.Context(), req, "copy")
	if err != nil {
		return err
	}
	var res jobs.CopyResult
	ok, err := c.result(v, &res)
	if !ok {
		return err
	}
	return finishCopy(c.g, &res, err)
}

// remoteProgress draws a remote job's progress as the local commands
// draw theirs (only on a terminal, never with --no-progress or --json):
// a bar for restore, verify and copy, counters per source and media agent
// for a backup.
type remoteProgress struct {
	g      *globals
	label  string
	backup bool

	mu      sync.Mutex
	snap    api.Snapshot
	started bool
	prog    *jobs.Progress // restore, verify, copy
	stopJob func()
	stopCh  chan struct{} // backup
	wg      sync.WaitGroup
}

func newRemoteProgress(g *globals, label string, backup bool) *remoteProgress {
	return &remoteProgress{g: g, label: label, backup: backup}
}

// update takes a snapshot of the job's progress.
func (p *remoteProgress) update(s *api.Snapshot) {
	if !p.g.interactive() {
		return
	}
	p.mu.Lock()
	p.snap = *s
	start := !p.started && (!p.backup || len(s.Sources)+len(s.Devices) > 0)
	if start {
		p.started = true
	}
	p.mu.Unlock()
	if !p.backup {
		if start {
			var begin func(*jobs.Progress)
			begin, p.stopJob = jobProgress(p.g, p.label)
			p.prog = &jobs.Progress{Job: p.label}
			begin(p.prog)
		}
		if p.prog != nil {
			p.prog.Total.Store(s.Total)
			p.prog.Done.Store(s.Done)
		}
		return
	}
	if start {
		f := p.g.stderr.(*os.File)
		p.stopCh = make(chan struct{})
		lines := snapshotLines(p.snapshot, *s)
		p.wg.Go(func() { drawCounters(f, termWidth(f), lines, progressRefresh, p.stopCh) })
	}
}

func (p *remoteProgress) snapshot() api.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// stop draws the progress a last time.
func (p *remoteProgress) stop() {
	if p.prog != nil {
		p.prog.Ended.Store(true)
	}
	if p.stopJob != nil {
		p.stopJob()
	}
	if p.stopCh != nil {
		close(p.stopCh)
		p.wg.Wait()
	}
}

// snapshotLines are a remote backup's progress lines, as backupLines
// makes them locally: "read" per source of first, "write" per media agent
// with its device; each reads its counters from the latest snapshot.
func snapshotLines(latest func() api.Snapshot, first api.Snapshot) []counterLine {
	var lines []counterLine
	for _, s := range first.Sources {
		name := s.Source
		find := func() api.SourceProgress {
			for _, x := range latest().Sources {
				if x.Source == name {
					return x
				}
			}
			return api.SourceProgress{}
		}
		lines = append(lines, counterLine{"read  " + name,
			func() int64 { return find().Bytes }, func() int64 { return find().Files }, func() bool { return find().Done }})
	}
	for _, d := range first.Devices {
		ma, copyN := d.MediaAgent, d.Copy
		find := func() api.DeviceProgress {
			for _, x := range latest().Devices {
				if x.MediaAgent == ma && x.Copy == copyN {
					return x
				}
			}
			return api.DeviceProgress{}
		}
		lines = append(lines, counterLine{fmt.Sprintf("write %s→%s", ma, d.Device),
			func() int64 { return find().Bytes }, nil, func() bool { return find().Done }})
	}
	return lines
}
