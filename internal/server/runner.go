package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"daisy/internal/api"
	"daisy/internal/config"
	"daisy/internal/jobs"
)

// ConnectedWithin is how recently a host must have said Hello to count
// as connected (three of its Hello intervals).
const ConnectedWithin = 15 * time.Second

// Runner runs the API's jobs (api.Runner): over the fleet the backups of
// sources whose clients and media hosts have addresses, and the restores
// of objects whose client has one; every other job (and every job of a
// configuration whose hosts are all local) in process, by api.Local.
type Runner struct {
	S     *Server
	Local *api.Local
}

var _ api.Runner = (*Runner)(nil)

// remote reports whether cfg names any remote host: a client with an
// address or a device on a media host.
func remote(cfg *config.Config) bool {
	for _, c := range cfg.Clients {
		if c.Address != "" {
			return true
		}
	}
	for _, d := range cfg.Devices {
		if d.Host != "" {
			return true
		}
	}
	return false
}

// Run runs req to its end (api.Runner).
func (r *Runner) Run(ctx context.Context, req api.JobRequest, hooks api.Hooks) (any, error) {
	cfg, _ := r.S.Config()
	if !remote(cfg) {
		return r.Local.Run(ctx, req, hooks)
	}
	switch req.Kind {
	case api.KindBackup:
		fills := &fillTable{}
		o := jobs.BackupOptions{
			Sources: req.Sources, Level: req.Level, Logger: r.S.log.With("kind", req.Kind), Started: hooks.Started,
			Monitor: func(m *jobs.Monitor) {
				hooks.Progress(func() api.Snapshot {
					s := api.MonitorSnapshot(cfg, m)
					s.Buffers = append(s.Buffers, fills.snapshot()...)
					return s
				})
			},
		}
		res, err := r.S.backup(ctx, o, fills.set)
		if res == nil {
			return nil, err
		}
		return res, err
	case api.KindRestore:
		res, err := r.S.Restore(ctx, RestoreOptions{Object: req.Object, Source: req.Source, At: req.At, Copy: req.Copy,
			Target: req.Target, Overwrite: req.Overwrite, Resume: req.Resume, Paths: req.Paths, Started: hooks.Started})
		if res == nil {
			return nil, err
		}
		return res, err
	}
	return r.Local.Run(ctx, req, hooks)
}

// fillTable keeps the last fill each media host reported of each buffer.
type fillTable struct {
	mu sync.Mutex
	m  map[string]api.BufferFill
}

func (t *fillTable) set(f BufferFill) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]api.BufferFill{}
	}
	old := t.m[f.Buffer]
	t.m[f.Buffer] = api.BufferFill{Buffer: f.Buffer, Host: f.Host, Used: f.Used, Capacity: f.Capacity, Peak: max(old.Peak, f.Used)}
}

func (t *fillTable) snapshot() []api.BufferFill {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.BufferFill, 0, len(t.m))
	for _, f := range t.m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Buffer < out[j].Buffer })
	return out
}

// FleetHosts is the API's view of the fleet (api.Fleet): every client
// and media host of the configuration, connected when it said Hello
// within ConnectedWithin.
type FleetHosts struct{ S *Server }

var _ api.Fleet = FleetHosts{}

// Hosts returns the hosts of the configuration with their states.
func (f FleetHosts) Hosts() []api.HostState {
	cfg, _ := f.S.Config()
	seen := map[string]HostInfo{}
	for _, h := range f.S.Hosts() {
		seen[string(h.Role)+"/"+h.Name] = h
	}
	now := time.Now()
	state := func(role, name, addr string) api.HostState {
		hs := api.HostState{Name: name, Role: role, Address: addr}
		h, ok := seen[role+"/"+name]
		switch {
		case !ok:
			hs.Error = "has not said hello"
		case now.Sub(h.LastSeen) <= ConnectedWithin:
			hs.Connected, hs.Since = true, h.First
		default:
			hs.Since = h.LastSeen
			hs.Error = fmt.Sprintf("last hello %s ago", now.Sub(h.LastSeen).Round(time.Second))
		}
		return hs
	}
	var out []api.HostState
	for _, c := range cfg.Clients {
		if c.Address != "" {
			out = append(out, state("client", c.Name, c.Address))
		}
	}
	for _, m := range cfg.MediaHosts {
		out = append(out, state("media-host", m.Name, m.Address))
	}
	return out
}
