package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/api"
	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/schedule"
)

// JobsGrace is how long Run waits, once it is told to stop, for the
// running jobs to record their end (interrupted) before it stops serving.
var JobsGrace = 60 * time.Second

// StopGrace is how long Run lets the calls of agents and media hosts end
// once the jobs are over, before it cuts them.
var StopGrace = 5 * time.Second

// Options configure Run.
type Options struct {
	ConfigPath string       // daisy.yaml
	Logger     *slog.Logger // nil: discard
	// PKIDir holds ca.crt and the server's certificate
	// (server.NAME.crt/.key) and tokens.json; "": pki.DefaultDir of the
	// configuration (pki beside the catalog).
	PKIDir string
	// Reload, if set, asks for a reload of the configuration at each
	// receive; nil: SIGHUP does.
	Reload <-chan struct{}
	// Listening, if set, is called with the addresses the server listens
	// on (gRPC, and the API's or nil) once it does.
	Listening func(rpcAddr, apiAddr net.Addr)
}

// Run is daisy server: it loads the configuration (config.Load), opens
// the catalog (marking the jobs of a server that died interrupted),
// loads the server's credentials, serves the Server service on
// cfg.Server.Address for agents and media hosts (mutual TLS 1.3) and the
// HTTP API on cfg.Server.API (if set) with a Runner that runs the jobs
// over the fleet. The schedules of the configuration start their jobs
// through the API's table of jobs, as POST /v1/jobs does (whether the
// API is served or not): GET /v1/jobs lists them with their schedule's
// name, and the job metrics count them. A reload (SIGHUP, or o.Reload)
// reads the configuration again: a file that does not check is logged
// and the one in force kept; jobs running keep the configuration they
// started with. When ctx ends (SIGTERM, SIGINT) Run refuses new jobs,
// cancels the running ones (they record their end as interrupted, their
// unfinished copies failed), and returns once they did (JobsGrace at
// most).
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, data, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	if cfg.Server == nil {
		return fmt.Errorf("%s declares no server (server: {host: NAME, address: HOST:PORT}): daisy server runs a fleet's configuration", cfg.File)
	}
	jobs.UseConfig(cfg)
	dir := o.PKIDir
	if dir == "" {
		dir = pki.DefaultDir(cfg)
	}
	creds, err := pki.LoadCredentials(dir, pki.Peer{Role: pki.RoleServer, Name: cfg.Server.Host})
	if err != nil {
		return fmt.Errorf("server %s: %w", cfg.Server.Host, err)
	}
	cat, err := catalog.Open(ctx, cfg.Catalog.SQLite)
	if err != nil {
		return fmt.Errorf("server %s: %w", cfg.Server.Host, err)
	}
	defer cat.Close()
	for _, j := range cat.Interrupted() {
		log.Warn("a job of a server that is gone was marked interrupted, its unfinished copies failed", "job", j.ID, "kind", j.Kind, "owner", j.Owner.String())
	}
	s, err := New(cfg, data, cat, creds, log)
	if err != nil {
		return err
	}
	l, err := rpc.Listen(cfg.Server.Address)
	if err != nil {
		return fmt.Errorf("server %s: %w", s.name, err)
	}
	allow := []pki.Role{pki.RoleClient, pki.RoleMediaHost}
	gs := rpc.NewServer(pki.ServerConfig(creds, allow...))
	pb.RegisterServerServer(gs, s)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(l) }()

	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	current := func() *config.Config {
		c, _ := s.Config()
		return c
	}
	runner := &Runner{S: s, Local: &api.Local{Config: current, Catalog: cat, Logger: log}}
	// The API's table of jobs holds the jobs of POST /v1/jobs and those
	// of the schedules, so that both are listed and counted alike; it
	// is made (and runs the schedules' jobs) also when it is not served.
	a, err := api.New(api.Options{
		Config: current, Catalog: cat, Runner: runner, Fleet: FleetHosts{S: s},
		Tokens: &pki.Tokens{Path: filepath.Join(dir, pki.TokensFile)}, Logger: log, Context: jobCtx,
	})
	if err != nil {
		gs.Stop()
		return err
	}
	var apiAddr net.Addr
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAPI()
	apiDone := make(chan error, 1)
	if cfg.Server.API != "" {
		al, err := net.Listen("tcp", cfg.Server.API)
		if err != nil {
			gs.Stop()
			return fmt.Errorf("server %s: the API: listen on %s: %w", s.name, cfg.Server.API, err)
		}
		apiAddr = al.Addr()
		go func() { apiDone <- api.Serve(apiCtx, al, a, api.TLSConfig(creds)) }()
	} else {
		apiDone <- nil
	}
	sched, err := schedule.New(cfg.Schedules, func(sctx context.Context, sc config.Schedule) error {
		// A scheduled job ends with the server's jobs (the API's
		// Context), as the API's do.
		return runScheduled(sctx, a, sc, log)
	}, schedule.Options{Logger: log})
	if err != nil {
		gs.Stop()
		stopAPI()
		return fmt.Errorf("server %s: %w", s.name, err)
	}
	sched.Start()
	if o.Listening != nil {
		o.Listening(l.Addr(), apiAddr)
	}
	log.Info("server serving", "server", s.name, "address", l.Addr().String(), "api", fmt.Sprint(apiAddr), "config", cfg.File)

	reload := o.Reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		ch := make(chan struct{})
		go func() {
			for {
				select {
				case <-hup:
					select {
					case ch <- struct{}{}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		reload = ch
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-served:
			break loop
		case err := <-apiDone:
			if err != nil {
				serveErr = err
				break loop
			}
			apiDone = nil
		case <-reload:
			if cfg := s.reload(log); cfg != nil {
				if err := sched.Reload(cfg.Schedules); err != nil {
					log.Error("reload: the schedules are kept as they were", "err", err)
				}
			}
		}
	}
	log.Info("server stopping: running jobs are cancelled and record their end", "server", s.name)
	cancelJobs()
	sctx, scancel := context.WithTimeout(context.Background(), JobsGrace)
	if err := sched.Stop(sctx); err != nil {
		log.Error("server: scheduled jobs still running after the grace period", "grace", JobsGrace, "err", err)
	}
	scancel()
	wctx, wcancel := context.WithTimeout(context.Background(), JobsGrace)
	if err := a.Shutdown(wctx); err != nil {
		log.Error("server: jobs still running after the grace period", "grace", JobsGrace, "err", err)
	}
	wcancel()
	stopAPI()
	if apiDone != nil {
		if err := <-apiDone; err != nil && serveErr == nil {
			log.Warn("server: the API's shutdown", "err", err)
		}
	}
	stopGRPC(gs, StopGrace)
	if serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return fmt.Errorf("server %s: %w", s.name, serveErr)
	}
	log.Info("server stopped", "server", s.name)
	return nil
}

// reload reads the configuration again and puts it in force when it
// checks, and returns it; else it logs why, keeps the one in force and
// returns nil.
func (s *Server) reload(log *slog.Logger) *config.Config {
	old, _ := s.Config()
	cfg, data, err := LoadConfig(old.File)
	if err == nil {
		err = s.SetConfig(cfg, data)
	}
	if err != nil {
		log.Error("reload: the configuration does not check; the one in force is kept", "config", old.File, "err", err)
		return nil
	}
	jobs.UseConfig(cfg)
	log.Info("reload: configuration in force", "config", cfg.File, "sources", len(cfg.Sources), "media_hosts", len(cfg.MediaHosts), "schedules", len(cfg.Schedules))
	return cfg
}

// scheduleRequest is the API's request of a schedule's job.
func scheduleRequest(sc config.Schedule) api.JobRequest {
	req := api.JobRequest{Kind: sc.Job, Level: sc.Level, CopyJob: sc.CopyJob, Reclaim: sc.Reclaim}
	switch sc.Job {
	case config.JobBackup:
		req.Sources = sc.Sources
	case config.JobVerify:
		req.Sources = sc.Sources
		req.All = len(sc.Sources) == 0
	}
	return req
}

// runScheduled runs the job of schedule sc as a job of the API's table
// (a.RunScheduled: GET /v1/jobs lists it, the job metrics count it), and
// logs its end.
func runScheduled(ctx context.Context, a *api.API, sc config.Schedule, log *slog.Logger) error {
	log = log.With("schedule", sc.Name, "kind", sc.Job)
	log.Info("schedule: job starting", "cron", sc.Cron, "what", sc.What())
	v, err := a.RunScheduled(ctx, sc.Name, scheduleRequest(sc))
	if err != nil {
		log.Error("schedule: job failed", "job", v.ID, "catalog_job", v.CatalogJob, "state", v.State, "err", err)
		return err
	}
	log.Info("schedule: job ended", "job", v.ID, "catalog_job", v.CatalogJob, "state", v.State)
	return nil
}

// stopGRPC stops gs gracefully, and at once after grace.
func stopGRPC(gs *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		gs.Stop()
		<-done
	}
}
