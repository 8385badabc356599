package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/mediaagent"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// ReadyTimeout is how long a media host has to answer Ready to a backup
// plan (its pool locks, buffers and downstream connections).
var ReadyTimeout = 30 * time.Second

// BufferFill is the fill of one buffer of a media host, as last reported.
type BufferFill struct {
	Host     string `json:"host"`
	Buffer   string `json:"buffer"`
	Used     int64  `json:"used"`
	Capacity int64  `json:"capacity"`
}

// plane is the fleet's data path of one backup job (jobs.Plane): media
// hosts run the media agents, agents read the sources.
type plane struct {
	s    *Server
	data []byte // the configuration's bytes, sent in the plans
	log  *slog.Logger
	// onFill, if set, gets every buffer fill a media host reports.
	onFill func(BufferFill)
	// onEvent, if set, sees every event of a media host before it is
	// handled (tests).
	onEvent func(host string, ev *pb.MediaEvent)
}

// CheckFleet says why cfg cannot run a backup of sources over the fleet:
// a client without an address, a media agent whose device names no media
// host, a media host without an address.
func CheckFleet(cfg *config.Config, sources []config.Source) error {
	if cfg.Server == nil {
		return fmt.Errorf("%s declares no server: its jobs run in process", cfg.File)
	}
	for _, src := range sources {
		cl, ok := cfg.Client(src.Client)
		if !ok || cl.Address == "" {
			return fmt.Errorf("source %s: client %q has no address in %s, so no agent can be asked to read it", src.Name, src.Client, cfg.File)
		}
	}
	for _, ma := range cfg.MediaAgents() {
		h := cfg.HostOf(ma)
		if h == "" {
			return fmt.Errorf("media agent %s: its device %s names no media host in %s", ma.Name, ma.Device, cfg.File)
		}
		if mh, ok := cfg.MediaHost(h); !ok || mh.Address == "" {
			return fmt.Errorf("media agent %s: media host %q has no address in %s", ma.Name, h, cfg.File)
		}
	}
	return nil
}

// planHosts returns the media hosts a backup of the sources needs: those
// that run a media agent of their chains, and (to a fixpoint) those that
// hold a buffer a buffer of such a host follows, whose push it waits for.
func planHosts(cfg *config.Config, sources []string) []string {
	need := map[string]bool{}
	for _, s := range sources {
		for _, l := range cfg.Chain(s) {
			need[cfg.HostOf(l.Agent)] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, ma := range cfg.MediaAgents() {
			if !need[cfg.HostOf(ma)] {
				continue
			}
			for _, b := range ma.Buffers {
				if b.Follows == "" {
					continue
				}
				if up, _, ok := cfg.Buffer(b.Follows); ok && !need[cfg.HostOf(up)] {
					need[cfg.HostOf(up)] = true
					changed = true
				}
			}
		}
	}
	out := make([]string, 0, len(need))
	for h := range need {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// hostRun is one media host's part of a backup.
type hostRun struct {
	name    string
	address string
	conn    *grpc.ClientConn
	stream  pb.MediaHost_BackupClient
	cancel  context.CancelFunc

	sendMu sync.Mutex // a gRPC stream is not safe for concurrent Send

	mu      sync.Mutex
	results map[string][]mediaagent.CopyResult // by media agent
	err     error                              // why the host's part failed
	done    chan struct{}
}

// RunBackup moves the data of b over the fleet (jobs.Plane).
func (p *plane) RunBackup(ctx context.Context, b *jobs.RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
	cfg := b.Config()
	job := uint64(b.Job())
	log := p.log.With("job", job)
	orders := b.Orders()
	srcs := make([]config.Source, len(orders))
	names := make([]string, len(orders))
	for i, o := range orders {
		srcs[i], names[i] = o.Source, o.Source.Name
	}
	if err := CheckFleet(cfg, srcs); err != nil {
		return nil, err
	}
	forget := p.s.registerBackup(job, b)
	defer forget()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The agents first: each makes its object's ID, which is recorded
	// with its copies before anything moves. A source whose agent cannot
	// be reached fails here, and its buffers are not planned on the
	// media hosts (they would wait for its records forever).
	srs := make([]*sourceRun, len(orders))
	var wg sync.WaitGroup
	for i, o := range orders {
		wg.Go(func() { srs[i] = p.beginSource(ctx, cfg, b, o, log) })
	}
	wg.Wait()
	defer func() {
		for _, sr := range srs {
			sr.close()
		}
	}()
	var begun []string
	for _, sr := range srs {
		if sr.st != nil {
			begun = append(begun, sr.src.Name)
		}
	}
	if len(begun) == 0 {
		log.Warn("backup: no agent began its object; nothing to plan")
		return nil, nil
	}
	hosts := planHosts(cfg, begun)
	log.Info("backup: planning", "sources", begun, "media_hosts", hosts)
	runs := make([]*hostRun, len(hosts))
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Go(func() {
			runs[i], errs[i] = p.startHost(ctx, cfg, job, h, begun)
		})
	}
	wg.Wait()
	defer func() {
		for _, hr := range runs {
			if hr != nil {
				hr.cancel()
				hr.conn.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		// Without every host ready the chains cannot run: nothing moved.
		for _, hr := range runs {
			if hr != nil {
				_ = hr.send(&pb.MediaControl{Control: &pb.MediaControl_Cancel{Cancel: &pb.Cancel{Reason: err.Error()}}})
			}
		}
		return nil, fmt.Errorf("backup job %d: %w", job, err)
	}
	byName := make(map[string]*hostRun, len(runs))
	for _, hr := range runs {
		byName[hr.name] = hr
		if err := hr.send(&pb.MediaControl{Control: &pb.MediaControl_Go{Go: &pb.Go{}}}); err != nil {
			hr.fail(fmt.Errorf("media host %s: connection lost: %s", hr.name, rpc.Message(err)))
		}
		go p.hostEvents(b, hr, log)
	}
	log.Debug("backup: media hosts started", "media_hosts", hosts)

	var sources sync.WaitGroup
	for _, sr := range srs {
		if sr.st != nil {
			sources.Go(func() { p.followSource(ctx, b, sr, byName[sr.host]) })
		}
	}
	sources.Wait()
	for _, hr := range runs {
		<-hr.done
	}

	// Results: what each host reported; for the media agents of a host
	// whose part failed before they reported, each copy they were to
	// write fails with the host's reason.
	results := map[string][]mediaagent.CopyResult{}
	var hostErrs []error
	for _, hr := range runs {
		hr.mu.Lock()
		for ma, crs := range hr.results {
			results[ma] = crs
		}
		herr := hr.err
		hr.mu.Unlock()
		if herr == nil {
			continue
		}
		hostErrs = append(hostErrs, herr)
		for _, sr := range srs {
			if sr.id == (records.ID{}) {
				continue
			}
			for _, l := range cfg.Chain(sr.src.Name) {
				if cfg.HostOf(l.Agent) != hr.name {
					continue
				}
				if hasResult(results[l.Agent.Name], sr.id, l.Copy) {
					continue
				}
				results[l.Agent.Name] = append(results[l.Agent.Name], mediaagent.CopyResult{Object: sr.id, Copy: l.Copy, Input: l.Buffer.ID(l.Agent.Name), Err: herr})
			}
		}
	}
	if ctx.Err() != nil {
		return results, ctx.Err()
	}
	if len(hostErrs) > 0 {
		// The copies on the hosts that failed are failed (above); the
		// job is partial or failed by its copies, as in process.
		log.Warn("backup: media hosts failed; their copies are failed, the others commit", "err", errors.Join(hostErrs...))
	}
	return results, nil
}

func hasResult(crs []mediaagent.CopyResult, id records.ID, copy int) bool {
	for _, c := range crs {
		if c.Object == id && c.Copy == copy {
			return true
		}
	}
	return false
}

// send sends m on the host's Backup stream (Go, Cancel and FailBuffer
// come from several goroutines).
func (hr *hostRun) send(m *pb.MediaControl) error {
	hr.sendMu.Lock()
	defer hr.sendMu.Unlock()
	return hr.stream.Send(m)
}

func (hr *hostRun) fail(err error) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.err == nil {
		hr.err = err
	}
}

// startHost dials media host h, sends it the plan and waits for Ready.
func (p *plane) startHost(ctx context.Context, cfg *config.Config, job uint64, h string, sources []string) (*hostRun, error) {
	mh, ok := cfg.MediaHost(h)
	if !ok {
		return nil, fmt.Errorf("media host %s is not in %s", h, cfg.File)
	}
	conn, err := rpc.DialPeer(p.s.creds, pki.Peer{Role: pki.RoleMediaHost, Name: h}, mh.Address)
	if err != nil {
		return nil, fmt.Errorf("media host %s: %w", h, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	hr := &hostRun{name: h, address: mh.Address, conn: conn, cancel: cancel, results: map[string][]mediaagent.CopyResult{}, done: make(chan struct{})}
	fail := func(err error) (*hostRun, error) {
		cancel()
		conn.Close()
		return nil, err
	}
	hr.stream, err = pb.NewMediaHostClient(conn).Backup(sctx)
	if err != nil {
		return fail(fmt.Errorf("media host %s at %s: %s", h, mh.Address, rpc.Message(err)))
	}
	plan := &pb.BackupPlan{Job: job, Config: p.data, ConfigFile: cfg.File, Sources: sources, SessionHost: p.s.name}
	if err := hr.stream.Send(&pb.MediaControl{Control: &pb.MediaControl_Plan{Plan: plan}}); err != nil {
		return fail(fmt.Errorf("media host %s at %s: send the plan: %s", h, mh.Address, recvErr(hr.stream, err)))
	}
	type answer struct {
		ev  *pb.MediaEvent
		err error
	}
	got := make(chan answer, 1)
	go func() {
		ev, err := hr.stream.Recv()
		got <- answer{ev, err}
	}()
	t := time.NewTimer(ReadyTimeout)
	defer t.Stop()
	select {
	case a := <-got:
		switch {
		case a.err != nil:
			return fail(fmt.Errorf("media host %s at %s: %s", h, mh.Address, rpc.Message(a.err)))
		case a.ev.GetReady() == nil:
			return fail(fmt.Errorf("media host %s: answered the plan with %T, not Ready", h, a.ev.GetEvent()))
		}
	case <-t.C:
		return fail(fmt.Errorf("media host %s at %s: not ready after %s", h, mh.Address, ReadyTimeout))
	case <-ctx.Done():
		return fail(fmt.Errorf("media host %s: %w", h, ctx.Err()))
	}
	return hr, nil
}

// recvErr is the status a stream ended with, after a Send that failed
// with io.EOF; else err's message.
func recvErr(st grpc.ClientStream, err error) string {
	if errors.Is(err, io.EOF) {
		if rerr := st.RecvMsg(new(pb.MediaEvent)); rerr != nil && !errors.Is(rerr, io.EOF) {
			return rpc.Message(rerr)
		}
	}
	return rpc.Message(err)
}

// hostEvents consumes a media host's events until Finished or the end of
// its stream.
func (p *plane) hostEvents(b *jobs.RemoteBackup, hr *hostRun, log *slog.Logger) {
	defer close(hr.done)
	for {
		ev, err := hr.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the stream ended before Finished")
			} else {
				err = errors.New(rpc.Message(err))
			}
			hr.fail(fmt.Errorf("media host %s: connection lost: %v", hr.name, err))
			log.Error("backup: media host lost; its copies fail", "media_host", hr.name, "err", err)
			return
		}
		if p.onEvent != nil {
			p.onEvent(hr.name, ev)
		}
		switch e := ev.GetEvent().(type) {
		case *pb.MediaEvent_Extent:
			x, err := rpc.ExtentFromPB(e.Extent.GetExtent())
			id, perr := records.ParseID(e.Extent.GetObject())
			if err == nil {
				err = perr
			}
			if err != nil {
				log.Error("backup: bad extent report", "media_host", hr.name, "err", err)
				continue
			}
			b.Extent(mediaagent.ExtentReport{Object: id, Copy: int(e.Extent.GetCopy()), Seq: int(e.Extent.GetSeq()), Extent: x})
		case *pb.MediaEvent_Result:
			r := e.Result
			var crs []mediaagent.CopyResult
			for _, c := range r.GetCopies() {
				cr, err := rpc.CopyResultFromPB(c)
				if err != nil {
					log.Error("backup: bad copy result", "media_host", hr.name, "media_agent", r.GetMediaAgent(), "err", err)
					continue
				}
				if cr.Err != nil {
					cr.Err = fmt.Errorf("media host %s: %w", hr.name, cr.Err)
				}
				crs = append(crs, cr)
			}
			hr.mu.Lock()
			hr.results[r.GetMediaAgent()] = crs
			hr.mu.Unlock()
			if r.GetError() != "" {
				log.Error("backup: media agent failed", "media_host", hr.name, "media_agent", r.GetMediaAgent(), "err", r.GetError())
			}
			log.Debug("backup: media agent done", "media_host", hr.name, "media_agent", r.GetMediaAgent(), "copies", len(crs), "volumes", r.GetVolumes())
		case *pb.MediaEvent_Progress:
			for _, d := range e.Progress.GetDevices() {
				b.DeviceBytes(d.GetMediaAgent(), d.GetBytes(), d.GetDone())
			}
			if p.onFill != nil {
				for _, f := range e.Progress.GetBuffers() {
					p.onFill(BufferFill{Host: hr.name, Buffer: f.GetBuffer(), Used: f.GetUsed(), Capacity: f.GetCapacity()})
				}
			}
		case *pb.MediaEvent_Finished:
			if msg := e.Finished.GetError(); msg != "" {
				log.Warn("backup: media host finished with errors", "media_host", hr.name, "err", msg)
			}
			return
		}
	}
}

// sourceRun is one source's Backup stream with its agent.
type sourceRun struct {
	src    config.Source
	client string
	log    *slog.Logger
	conn   *grpc.ClientConn
	st     pb.Agent_BackupClient // nil once the source ended
	cancel context.CancelFunc
	id     records.ID
	lost   func(error) error
	// host and buffer are the media host and ID of the source's
	// backup-group buffer, into which its agent pushes.
	host, buffer string
}

func (sr *sourceRun) close() {
	if sr.cancel != nil {
		sr.cancel()
	}
	if sr.conn != nil {
		sr.conn.Close()
	}
}

// beginSource orders the backup of one source from its client's agent
// and records the object the agent made. A source that cannot begin is
// ended (st nil).
func (p *plane) beginSource(ctx context.Context, cfg *config.Config, b *jobs.RemoteBackup, o jobs.SourceOrder, log *slog.Logger) *sourceRun {
	src := o.Source
	sr := &sourceRun{src: src, client: src.Client, log: log.With("source", src.Name, "client", src.Client)}
	end := func(err error) *sourceRun {
		b.End(src.Name, records.EndInfo{}, 0, 0, 0, err)
		sr.st = nil
		return sr
	}
	cl, _ := cfg.Client(src.Client)
	link := cfg.Chain(src.Name)[0]
	host := cfg.HostOf(link.Agent)
	mh, _ := cfg.MediaHost(host)
	sr.host, sr.buffer = host, link.Buffer.ID(link.Agent.Name)
	var err error
	sr.conn, err = rpc.DialPeer(p.s.creds, pki.Peer{Role: pki.RoleClient, Name: src.Client}, cl.Address)
	if err != nil {
		return end(fmt.Errorf("client %s: %w", src.Client, err))
	}
	var sctx context.Context
	sctx, sr.cancel = context.WithCancel(ctx)
	sr.lost = func(err error) error {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("client %s: the agent ended the stream before the object's end", src.Client)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("client %s: stopped: %w", src.Client, ctx.Err())
		}
		return fmt.Errorf("client %s: connection lost: %s", src.Client, rpc.Message(err))
	}
	sr.st, err = pb.NewAgentClient(sr.conn).Backup(sctx)
	if err != nil {
		return end(fmt.Errorf("client %s at %s: %s", src.Client, cl.Address, rpc.Message(err)))
	}
	order := &pb.BackupOrder{
		Job: uint64(b.Job()), Source: src.Name, Client: src.Client, Paths: src.Paths, Exclude: src.Exclude,
		Compression: src.Compression, MayBeAbsent: src.MayBeAbsent, Level: o.Level, Base: o.Base,
		StartedUnixNano: rpc.Nanos(o.Started),
		Target:          &pb.Target{Host: host, Address: mh.Address, Buffer: sr.buffer},
	}
	if err := sr.st.Send(&pb.BackupControl{Control: &pb.BackupControl_Order{Order: order}}); err != nil {
		if errors.Is(err, io.EOF) {
			// The agent ended the stream at once (it refused the
			// order): its status says why. Nobody reads the stream yet.
			if _, rerr := sr.st.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
				err = rerr
			}
		}
		return end(sr.lost(err))
	}
	ev, err := sr.st.Recv()
	if err != nil {
		return end(sr.lost(err))
	}
	started := ev.GetStarted()
	if started == nil {
		return end(fmt.Errorf("client %s: the agent answered the order with %T, not ObjectStarted", src.Client, ev.GetEvent()))
	}
	sr.id, err = records.ParseID(started.GetObject())
	if err == nil {
		err = b.Begin(ctx, src.Name, sr.id)
	}
	if err != nil {
		_ = sr.st.Send(&pb.BackupControl{Control: &pb.BackupControl_Cancel{Cancel: &pb.Cancel{Reason: err.Error()}}})
		sr.id = records.ID{}
		return end(fmt.Errorf("client %s: object %q: %w", src.Client, started.GetObject(), err))
	}
	sr.log = sr.log.With("object", sr.id.String())
	sr.log.Debug("backup: object recorded")
	return sr
}

// followSource sends Go to a begun source's agent and reports what it
// says to b until the object's end. When the object fails (the agent
// reports it failed, or its stream breaks), the source's backup-group
// buffer on hr, the media host the agent pushes to, is failed too
// (failPush).
func (p *plane) followSource(ctx context.Context, b *jobs.RemoteBackup, sr *sourceRun, hr *hostRun) {
	src, log, id := sr.src, sr.log, sr.id
	end := func(err error) {
		b.End(src.Name, records.EndInfo{}, 0, 0, 0, err)
		p.failPush(ctx, hr, sr, err)
	}
	st := sr.st
	if err := st.Send(&pb.BackupControl{Control: &pb.BackupControl_Go{Go: &pb.Go{}}}); err != nil {
		end(sr.lost(err))
		return
	}
	// The server's own end (SIGTERM) cancels the agent's object.
	stop := context.AfterFunc(ctx, func() {
		_ = st.Send(&pb.BackupControl{Control: &pb.BackupControl_Cancel{Cancel: &pb.Cancel{Reason: "the server is stopping"}}})
	})
	defer stop()
	for {
		ev, err := st.Recv()
		if err != nil {
			end(sr.lost(err))
			return
		}
		switch e := ev.GetEvent().(type) {
		case *pb.BackupEvent_Files:
			files := make([]catalog.File, 0, len(e.Files.GetFiles()))
			for _, f := range e.Files.GetFiles() {
				cf, err := rpc.FileFromPB(id.String(), f)
				if err != nil {
					log.Error("backup: bad file entry from the agent", "err", err)
					continue
				}
				files = append(files, cf)
			}
			if err := b.Files(ctx, src.Name, files); err != nil {
				log.Error("backup: file entries", "err", err)
			}
		case *pb.BackupEvent_Warning:
			w := e.Warning
			if err := b.Skipped(src.Name, w.GetPath(), w.GetError(), w.GetMissing()); err != nil {
				log.Error("backup: warning", "err", err)
			}
		case *pb.BackupEvent_Progress:
			b.Progress(src.Name, e.Progress.GetBytes())
		case *pb.BackupEvent_Ended:
			x := e.Ended
			var failed error
			if x.GetError() != "" {
				failed = fmt.Errorf("client %s: %s", sr.client, x.GetError())
			}
			b.End(src.Name, records.EndInfo{Length: x.GetLength(), Records: x.GetRecords(), Hash: x.GetHash(), Stored: x.GetStored()},
				x.GetEntries(), x.GetUnchanged(), x.GetDeleted(), failed)
			if failed != nil {
				p.failPush(ctx, hr, sr, failed)
			}
			log.Debug("backup: agent ended", "bytes", x.GetLength(), "entries", x.GetEntries(), "err", x.GetError())
			return
		case *pb.BackupEvent_Started:
			log.Error("backup: the agent began a second object; ignored")
		}
	}
}

// failPush fails the backup-group buffer of a source whose object failed
// (FailBuffer to the media host of the buffer): an agent that failed or
// vanished before it opened its push (between Go and the push: it died,
// its stream broke, it could not reach the media host) leaves that
// buffer waiting for a push that never comes, and with it the media
// host's job and so this one. The copies of the object fail there, the
// job ends. A push that ended already (its agent closed it, or failed it
// with PushFail before it reported its end) has ended its buffer, and the
// order changes nothing; one still running is broken off, its object
// being failed anyway. Nothing is sent once ctx is done: the media hosts'
// streams end with it, which cancels their jobs.
func (p *plane) failPush(ctx context.Context, hr *hostRun, sr *sourceRun, why error) {
	if ctx.Err() != nil {
		return
	}
	if hr == nil { // planHosts plans the host of every begun source's first link
		sr.log.Error("backup: the media host of the source's buffer is not in the job; its buffer cannot be failed", "media_host", sr.host, "buffer", sr.buffer)
		return
	}
	reason := fmt.Sprintf("the agent of source %s (client %s) failed before its push ended: %v", sr.src.Name, sr.client, why)
	err := hr.send(&pb.MediaControl{Control: &pb.MediaControl_FailBuffer{FailBuffer: &pb.FailBuffer{Buffer: sr.buffer, Reason: reason}}})
	if err != nil {
		// The host's stream is gone: its job ended or ends, and
		// hostEvents fails its copies.
		sr.log.Warn("backup: could not fail the source's buffer on its media host", "media_host", hr.name, "buffer", sr.buffer, "err", rpc.Message(err))
		return
	}
	sr.log.Debug("backup: source's buffer failed on its media host", "media_host", hr.name, "buffer", sr.buffer, "reason", reason)
}

// Backup runs a backup job over the fleet with the configuration in
// force: jobs.Backup with this server's plane, so that it records and
// commits exactly as a backup in process does. o.Plane is set here.
func (s *Server) Backup(ctx context.Context, o jobs.BackupOptions) (*jobs.BackupResult, error) {
	return s.backup(ctx, o, nil)
}

// backup is Backup with the buffer fills the media hosts report given to
// onFill (nil: dropped).
func (s *Server) backup(ctx context.Context, o jobs.BackupOptions, onFill func(BufferFill)) (*jobs.BackupResult, error) {
	return s.backupWith(ctx, o, &plane{onFill: onFill})
}

// backupWith runs a backup on p (its server, configuration and logger
// set here).
func (s *Server) backupWith(ctx context.Context, o jobs.BackupOptions, p *plane) (*jobs.BackupResult, error) {
	cfg, data := s.Config()
	if o.Logger == nil {
		o.Logger = s.log
	}
	p.s, p.data, p.log = s, data, o.Logger
	o.Plane = p
	return jobs.Backup(ctx, cfg, s.cat, o)
}
