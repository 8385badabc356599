package api

import (
	"context"
	"log/slog"
	"os"
	"time"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

// Local is the Runner of a server whose clients and devices are all on
// its own host: it runs each job in this process with internal/jobs, as
// the command line does. Jobs that write the same pools exclude each other
// through the pools' locks (a request's wait_seconds says how long one
// waits; 0: it is refused with pools.ErrPoolBusy).
//
// The catalog ID of a job is known to jobs only when the job ends: Local
// reports it (hooks.Started) then.
type Local struct {
	Config  func() *config.Config // the configuration in force
	Catalog *jobs.Catalog
	Logger  *slog.Logger // nil: discard
}

var _ Runner = (*Local)(nil)

// Run runs req in this process.
func (l *Local) Run(ctx context.Context, req JobRequest, hooks Hooks) (any, error) {
	cfg := l.Config()
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("kind", req.Kind)
	locks := jobs.PoolWait{Wait: time.Duration(req.WaitSeconds) * time.Second, Waiting: func(msg string) { log.Info(msg) }}
	progress := func(p *jobs.Progress) {
		hooks.Progress(func() Snapshot { return Snapshot{Done: p.Done.Load(), Total: p.Total.Load()} })
	}
	cat := l.Catalog
	switch req.Kind {
	case KindBackup:
		res, err := jobs.Backup(ctx, cfg, cat, jobs.BackupOptions{
			Sources: req.Sources, Level: req.Level, Logger: log, Locks: locks, Started: hooks.Started,
			Monitor: func(m *jobs.Monitor) { hooks.Progress(func() Snapshot { return MonitorSnapshot(cfg, m) }) },
		})
		if res != nil {
			hooks.Started(res.Job)
		}
		return nilIfNil(res), err
	case KindRestore:
		res, err := jobs.Restore(ctx, cat, jobs.RestoreOptions{
			Object: req.Object, Source: req.Source, At: req.At, Copy: req.Copy, Target: req.Target,
			Overwrite: req.Overwrite, Paths: req.Paths, Resume: req.Resume, Logger: log, Progress: progress,
		})
		return nilIfNil(res), err
	case KindCopy:
		o := jobs.CopyOptions{DryRun: req.DryRun, Logger: log, Locks: locks, Progress: progress}
		var res *jobs.CopyResult
		var err error
		if req.CopyJob != "" {
			res, err = jobs.CopyJob(ctx, cfg, cat, req.CopyJob, o)
		} else {
			sel := jobs.CopySelect{Source: req.Source, Client: req.Client, All: req.All}
			if req.Object != "" {
				sel.Objects = []string{req.Object}
			}
			res, err = jobs.Copy(ctx, cfg, cat, sel, jobs.Target{Pool: req.Pool, Device: req.Device}, o)
		}
		if res != nil && res.Job != 0 {
			hooks.Started(res.Job)
		}
		return nilIfNil(res), err
	case KindVerify:
		objects := req.Objects
		if req.Object != "" {
			objects = append([]string{req.Object}, objects...)
		}
		res, err := jobs.Verify(ctx, cat, jobs.VerifyOptions{
			Objects: objects, Sources: req.Sources, Volumes: req.Volumes, Pools: req.Pools, All: req.All,
			NoMark: req.NoMark, Logger: log, Progress: progress,
		})
		if res != nil && res.Job != 0 {
			hooks.Started(res.Job)
		}
		return nilIfNil(res), err
	case KindPrune:
		res, err := jobs.Prune(ctx, cfg, cat, jobs.PruneOptions{Now: time.Now(), DryRun: req.DryRun, Reclaim: req.Reclaim, Logger: log, Locks: locks})
		if res != nil && res.Job != 0 {
			hooks.Started(res.Job)
		}
		return nilIfNil(res), err
	}
	return nil, fieldErr("kind", "%q: give backup, restore, copy, verify or prune", req.Kind)
}

// nilIfNil turns a typed nil pointer into a nil any.
func nilIfNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

// MonitorSnapshot is the Snapshot of a backup's live counters: each media
// agent's bytes and records with the host of its device (cfg's server
// host, or this host's name, for a local device), each buffer's fill and
// each source's bytes. A fleet Runner may use it with jobs.RemoteBackup.Monitor.
func MonitorSnapshot(cfg *config.Config, m *jobs.Monitor) Snapshot {
	var s Snapshot
	for _, src := range m.Sources {
		b := src.Bytes.Load()
		s.Done += b
		s.Sources = append(s.Sources, SourceProgress{Source: src.Name, Bytes: b, Files: src.Files.Load(), Done: src.Done.Load()})
	}
	for _, a := range m.Agents {
		s.Devices = append(s.Devices, DeviceProgress{MediaAgent: a.Name, Device: a.Device, Host: deviceHost(cfg, a.Device), Copy: a.Copy, Bytes: a.Bytes.Load(), Records: a.Records.Load(), Done: a.Done.Load()})
	}
	for _, b := range m.Buffers {
		st := b.Stats()
		host := ""
		if ma, _, ok := cfg.Buffer(b.Name()); ok {
			host = deviceHost(cfg, ma.Device)
		} else {
			host = localHost(cfg)
		}
		s.Buffers = append(s.Buffers, BufferFill{Buffer: b.Name(), Host: host, Used: st.Used, Peak: st.Peak, Capacity: st.Capacity, Records: st.Records, Bytes: st.Bytes})
	}
	return s
}

// deviceHost is the host a device is on: its media host, or the server's
// own host for a local one.
func deviceHost(cfg *config.Config, device string) string {
	if d, ok := cfg.Device(device); ok && d.Host != "" {
		return d.Host
	}
	return localHost(cfg)
}

// localHost is the name of the server's host: cfg's server host, else
// this machine's host name.
func localHost(cfg *config.Config) string {
	if cfg.Server != nil && cfg.Server.Host != "" {
		return cfg.Server.Host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
