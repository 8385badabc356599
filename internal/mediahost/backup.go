package mediahost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/buffers"
	"daisy/internal/config"
	"daisy/internal/mediaagent"
	"daisy/internal/pki"
	"daisy/internal/pools"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// backupJob is one backup job's part on this host.
type backupJob struct {
	h  *Host
	id uint64
	// memory is the bytes of this host's buffers in the job, reserved
	// in the process's memory limit while it runs (reserveMemory).
	memory int64
	plan   *pb.BackupPlan
	cfg    *config.Config
	log    *slog.Logger
	pool   records.Pool

	// ctx ends when the job does (its end, Cancel, the stream's end).
	ctx    context.Context
	cancel context.CancelCauseFunc

	mgr    *pools.Manager
	bufs   []*buffers.Buffer           // this host's, in configuration order
	inputs map[string]*pushInput       // buffers fed by a Push, by ID
	agents []*agentRun                 // this host's media agents
	local  []localChain                // chains within the host
	remote []*remoteChain              // chains to buffers of other hosts
	conns  map[string]*grpc.ClientConn // downstream media hosts, by name

	pushes sync.WaitGroup // Push handlers feeding the job's buffers
}

// pushInput is a buffer of the job that a Push feeds: from a client's
// agent (a backup-group buffer, source set) or from the media host of
// the buffer it follows (upstream set).
type pushInput struct {
	buf      *buffers.Buffer
	source   string
	upstream string // the media host of the buffer it follows
	follows  string
	claimed  bool // guarded by Host.mu
}

// agentRun is one media agent of the job with its counters.
type agentRun struct {
	ma    config.MediaAgent
	bma   *mediaagent.BMA
	bytes atomic.Int64
	done  atomic.Bool
}

type localChain struct {
	cur  *buffers.Cursor
	next *buffers.Buffer
}

// remoteChain forwards a buffer of this host to the buffer following it
// on another media host.
type remoteChain struct {
	cur      *buffers.Cursor
	from, to string // buffer IDs
	host     string
	conn     *grpc.ClientConn
}

// Backup runs this host's media agents for one backup job (see the
// package comment). Role: server.
func (h *Host) Backup(stream pb.MediaHost_BackupServer) error {
	if _, err := rpc.Require(stream.Context(), pki.RoleServer); err != nil {
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	plan := m.GetPlan()
	if plan == nil {
		return status.Errorf(codes.InvalidArgument, "media host %s: a backup starts with a BackupPlan", h.name)
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	j, err := h.setup(ctx, cancel, plan)
	if err != nil {
		return err
	}
	defer h.teardown(j)

	// One sender: gRPC streams are not safe for concurrent Send. After
	// a failed Send it drains, so that emitters never block.
	events := make(chan *pb.MediaEvent, 256)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		broken := false
		for ev := range events {
			if broken {
				continue
			}
			if err := stream.Send(ev); err != nil {
				broken = true
				cancel(fmt.Errorf("the server's stream broke: %w", err))
			}
		}
	}()
	emit := func(ev *pb.MediaEvent) { events <- ev }
	defer func() {
		close(events)
		<-sent
	}()

	emit(&pb.MediaEvent{Event: &pb.MediaEvent_Ready{Ready: &pb.Ready{}}})
	j.log.Debug("media host: ready", "media_agents", len(j.agents), "waiting_for_push", len(j.inputs), "forwarders", len(j.remote))

	// Controls: Go once, Cancel; the stream's end cancels.
	goCh := make(chan struct{})
	go func() {
		started := false
		for {
			m, err := stream.Recv()
			switch {
			case err == io.EOF:
				cancel(errors.New("the server ended the job's stream"))
				return
			case err != nil:
				cancel(fmt.Errorf("the server's stream broke: %s", rpc.Message(err)))
				return
			case m.GetGo() != nil:
				if !started {
					started = true
					close(goCh)
				}
			case m.GetCancel() != nil:
				cancel(fmt.Errorf("cancelled by the server: %s", m.GetCancel().GetReason()))
			case m.GetFailBuffer() != nil:
				j.failBuffer(m.GetFailBuffer())
			}
		}
	}()
	select {
	case <-goCh:
	case <-ctx.Done():
		err := context.Cause(ctx)
		emit(&pb.MediaEvent{Event: &pb.MediaEvent_Finished{Finished: &pb.Finished{Error: fmt.Sprintf("media host %s: job %d stopped before it began: %v", h.name, j.id, err)}}})
		return nil
	}
	runErr := j.run(emit)
	fin := &pb.Finished{}
	if runErr != nil {
		fin.Error = runErr.Error()
	}
	emit(&pb.MediaEvent{Event: &pb.MediaEvent_Finished{Finished: fin}})
	j.log.Debug("media host: job finished", "err", runErr)
	return nil
}

// setup builds the job's buffers, media agents and chains, and registers
// it for pushes. Nothing moves yet.
func (h *Host) setup(ctx context.Context, cancel context.CancelCauseFunc, plan *pb.BackupPlan) (_ *backupJob, err error) {
	id := plan.GetJob()
	cfg, err := config.Parse(plan.GetConfigFile(), plan.GetConfig())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: the plan's configuration: %v", h.name, id, err)
	}
	j := &backupJob{
		h: h, id: id, plan: plan, cfg: cfg, log: h.log.With("job", id), ctx: ctx, cancel: cancel,
		inputs: map[string]*pushInput{}, conns: map[string]*grpc.ClientConn{},
	}
	selected := map[string]bool{}
	for _, s := range plan.GetSources() {
		if _, ok := cfg.Source(s); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: source %q of the plan is not in %s", h.name, id, s, cfg.File)
		}
		selected[s] = true
	}
	var mine []config.MediaAgent
	var ps []config.Pool
	for _, ma := range cfg.MediaAgents() {
		if cfg.HostOf(ma) != h.name {
			continue
		}
		p, ok := cfg.Pool(ma.Pool)
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: media agent %s writes pool %q, which %s does not declare", h.name, id, ma.Name, ma.Pool, cfg.File)
		}
		if _, ok := cfg.Device(ma.Device); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: media agent %s has device %q, which %s does not declare", h.name, id, ma.Name, ma.Device, cfg.File)
		}
		mine = append(mine, ma)
		ps = append(ps, p)
	}
	// The server's check counts only its own buffers against its memory
	// (config.checkMemory): this host's are checked here, before a pool
	// is locked or a buffer made.
	if mem, from := config.MachineMemory(); mem > 0 {
		if total, ids := cfg.HostBufferBytes(h.name); total > mem {
			return nil, status.Errorf(codes.FailedPrecondition, "media host %s: job %d: the buffers of this host's media agents total %s (%s), more than its memory of %s (%s); make them smaller in %s",
				h.name, id, config.FormatSize(total), strings.Join(ids, ", "), config.FormatSize(mem), from, cfg.File)
		}
	}
	j.mgr = pools.NewManager(h.cat)
	defer func() {
		if err != nil {
			j.release()
		}
	}()
	if err := j.mgr.LockAll(ctx, ps, 0, nil); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "media host %s: job %d: %v", h.name, id, err)
	}

	bufs := map[string]*buffers.Buffer{}
	for _, ma := range mine {
		for _, b := range ma.Buffers {
			buf := buffers.New(b.ID(ma.Name), b.Size)
			bufs[buf.Name()] = buf
			j.bufs = append(j.bufs, buf)
		}
	}
	for _, ma := range mine {
		pool, _ := cfg.Pool(ma.Pool)
		dev, _ := cfg.Device(ma.Device)
		ar := &agentRun{ma: ma}
		a := &mediaagent.BMA{
			Name: ma.Name, Device: ma.Device, Volumes: &loggedVolumes{VolumeSource: j.mgr.Drive(pool, dev), log: j.log, agent: ma.Name},
			Notify: make(chan struct{}, 1), ExtentTarget: ma.ExtentSize,
			OnWrite: func(n int) { ar.bytes.Add(int64(n)) },
		}
		a.Session.Job = int64(id)
		a.Session.Host = plan.GetSessionHost()
		for _, b := range ma.Buffers {
			bid := b.ID(ma.Name)
			a.Inputs = append(a.Inputs, mediaagent.Input{Name: bid, Cursor: bufs[bid].Attach(ma.Name, a.Notify), Copy: ma.Level + 1, Role: ma.Role, Level: ma.Level})
		}
		ar.bma = a
		j.agents = append(j.agents, ar)
	}
	// Chains, wherever one end is on this host. A buffer that carries
	// nothing is closed only once every chain is attached to it (a
	// consumer may not attach after its first push, its close).
	var idle []*buffers.Buffer
	for _, ma := range cfg.MediaAgents() {
		downHost := cfg.HostOf(ma)
		for _, b := range ma.Buffers {
			bid := b.ID(ma.Name)
			if b.Follows == "" {
				if downHost == h.name && b.Source != "" {
					if selected[b.Source] {
						j.inputs[bid] = &pushInput{buf: bufs[bid], source: b.Source}
					} else {
						idle = append(idle, bufs[bid]) // carries nothing in this job
					}
				}
				continue
			}
			upMA, _, ok := cfg.Buffer(b.Follows)
			if !ok {
				return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: buffer %s follows %s, which %s does not declare", h.name, id, bid, b.Follows, cfg.File)
			}
			upHost := cfg.HostOf(upMA)
			switch {
			case upHost == h.name && downHost == h.name:
				j.local = append(j.local, localChain{cur: bufs[b.Follows].Attach("chain→"+bid, nil), next: bufs[bid]})
			case upHost == h.name:
				conn, err := j.dial(downHost)
				if err != nil {
					return nil, err
				}
				j.remote = append(j.remote, &remoteChain{cur: bufs[b.Follows].Attach("chain→"+downHost+":"+bid, nil), from: b.Follows, to: bid, host: downHost, conn: conn})
			case downHost == h.name:
				j.inputs[bid] = &pushInput{buf: bufs[bid], upstream: upHost, follows: b.Follows}
			}
		}
	}
	for _, b := range idle {
		b.Close()
	}
	// Extents go out as events once the job runs (run sets emit).
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.jobs[id] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "media host %s: job %d runs here already", h.name, id)
	}
	h.jobs[id] = j
	j.memory, _ = cfg.HostBufferBytes(h.name)
	reserveMemory(j.memory)
	return j, nil
}

// dial returns the connection to a downstream media host.
func (j *backupJob) dial(host string) (*grpc.ClientConn, error) {
	if c := j.conns[host]; c != nil {
		return c, nil
	}
	mh, ok := j.cfg.MediaHost(host)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: media host %s is not in %s", j.h.name, j.id, host, j.cfg.File)
	}
	c, err := rpc.DialPeer(j.h.creds, pki.Peer{Role: pki.RoleMediaHost, Name: host}, mh.Address)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "media host %s: job %d: %v", j.h.name, j.id, err)
	}
	j.conns[host] = c
	return c, nil
}

// failBuffer fails a buffer fed by a push, on the server's order.
func (j *backupJob) failBuffer(m *pb.FailBuffer) {
	in := j.inputs[m.GetBuffer()] // inputs do not change once the job is set up
	if in == nil {
		j.log.Warn("media host: the server failed a buffer that takes no push here", "buffer", m.GetBuffer(), "reason", m.GetReason())
		return
	}
	in.buf.Fail(fmt.Errorf("buffer %s failed by the server: %s", m.GetBuffer(), m.GetReason()))
	j.log.Debug("media host: buffer failed by the server", "buffer", m.GetBuffer(), "reason", m.GetReason())
}

// release gives back what setup took: pool locks, libraries, connections.
func (j *backupJob) release() {
	if err := j.mgr.Close(); err != nil {
		j.log.Warn("media host: release pools", "err", err)
	}
	for _, c := range j.conns {
		c.Close()
	}
}

// teardown ends the job on this host: pushes into it are refused from now
// on and broken off, its buffers failed, its locks released.
func (h *Host) teardown(j *backupJob) {
	h.mu.Lock()
	delete(h.jobs, j.id)
	h.mu.Unlock()
	j.cancel(fmt.Errorf("job %d ended on media host %s", j.id, h.name))
	cause := context.Cause(j.ctx)
	for _, b := range j.bufs {
		b.Fail(cause) // no-op for those that ended
	}
	j.pushes.Wait()
	j.release()
	reserveMemory(-j.memory)
	j.memory = 0
}

// run starts the media agents and forwarders and waits for them, sending
// extents, results and progress through emit. Its error names the media
// agents that failed, or why the job was cancelled.
func (j *backupJob) run(emit func(*pb.MediaEvent)) error {
	ctx := j.ctx
	for _, a := range j.agents {
		a.bma.OnExtent = func(r mediaagent.ExtentReport) {
			emit(&pb.MediaEvent{Event: &pb.MediaEvent_Extent{Extent: &pb.ExtentReport{
				Object: r.Object.String(), Copy: int32(r.Copy), Seq: int32(r.Seq), Extent: rpc.ExtentToPB(r.Extent)}}})
		}
	}
	var chains sync.WaitGroup
	for _, c := range j.local {
		chains.Go(func() { buffers.Forward(ctx, c.cur, c.next) })
	}
	for _, c := range j.remote {
		chains.Go(func() { j.forward(ctx, c) })
	}
	errs := make([]error, len(j.agents))
	var agents sync.WaitGroup
	for i, a := range j.agents {
		j.log.Debug("media host: media agent started", "media_agent", a.ma.Name, "device", a.ma.Device, "buffers", len(a.bma.Inputs))
		agents.Go(func() {
			res, err := a.bma.Run(ctx)
			a.done.Store(true)
			if err != nil {
				j.log.Error("media agent failed; its copies are failed, the chain goes on", "media_agent", a.ma.Name, "device", a.ma.Device, "err", err)
				errs[i] = fmt.Errorf("media agent %s: %w", a.ma.Name, err)
			}
			ar := &pb.AgentResult{MediaAgent: a.ma.Name, Volumes: a.bma.VolumesWritten()}
			for _, r := range res {
				ar.Copies = append(ar.Copies, rpc.CopyResultToPB(r))
			}
			if err != nil {
				ar.Error = err.Error()
			}
			emit(&pb.MediaEvent{Event: &pb.MediaEvent_Result{Result: ar}})
			j.log.Debug("media host: media agent done", "media_agent", a.ma.Name, "objects", len(res), "volumes", ar.Volumes, "err", err)
		})
	}
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() {
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				emit(j.progress())
			case <-stop:
				return
			}
		}
	})
	agents.Wait()
	chains.Wait()
	close(stop)
	ticker.Wait()
	emit(j.progress())
	err := errors.Join(errs...)
	if ctx.Err() != nil {
		err = errors.Join(fmt.Errorf("media host %s: job %d: %w", j.h.name, j.id, context.Cause(ctx)), err)
	}
	return err
}

// progress is the job's MediaProgress now.
func (j *backupJob) progress() *pb.MediaEvent {
	p := &pb.MediaProgress{}
	for _, a := range j.agents {
		p.Devices = append(p.Devices, &pb.DeviceProgress{MediaAgent: a.ma.Name, Device: a.ma.Device, Bytes: a.bytes.Load(), Done: a.done.Load()})
	}
	for _, b := range j.bufs {
		s := b.Stats()
		p.Buffers = append(p.Buffers, &pb.BufferFill{Buffer: b.Name(), Used: s.Used, Capacity: s.Capacity})
	}
	return &pb.MediaEvent{Event: &pb.MediaEvent_Progress{Progress: p}}
}

// forward pushes the records of a buffer of this host to the buffer that
// follows it on another media host. When that fails the cursor detaches,
// so that the buffer does not wait for it, and the failure is logged:
// the copies downstream fail there, this host's go on.
func (j *backupJob) forward(ctx context.Context, c *remoteChain) {
	n, err := j.pushRemote(ctx, c)
	if err == nil {
		j.log.Debug("media host: forwarded", "buffer", c.from, "to", c.to, "downstream_host", c.host, "records", n)
		return
	}
	c.cur.Detach()
	if ctx.Err() != nil {
		j.log.Debug("media host: forwarding stopped with the job", "buffer", c.from, "to", c.to, "downstream_host", c.host, "err", err)
		return
	}
	j.log.Error("downstream media host failed: its copies of this chain fail, this host's go on",
		"buffer", c.from, "to", c.to, "downstream_host", c.host, "records_sent", n, "err", err)
}

func (j *backupJob) pushRemote(ctx context.Context, c *remoteChain) (int64, error) {
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	st, err := pb.NewMediaHostClient(c.conn).Push(sctx)
	if err != nil {
		return 0, fmt.Errorf("push to media host %s: %s", c.host, rpc.Message(err))
	}
	// why returns the error of the stream: a Send that fails with io.EOF
	// means the receiver ended it, and its status says why.
	why := func(err error) error {
		if errors.Is(err, io.EOF) {
			if _, rerr := st.CloseAndRecv(); rerr != nil {
				err = rerr
			}
		}
		return fmt.Errorf("push %s to %s on media host %s: %s", c.from, c.to, c.host, rpc.Message(err))
	}
	if err := st.Send(&pb.PushMessage{Message: &pb.PushMessage_Open{Open: &pb.PushOpen{Job: j.id, Buffer: c.to}}}); err != nil {
		return 0, why(err)
	}
	sent := false
	b := rpc.NewBatcher(0, func(p *rpc.Batch) error {
		sent = true
		return st.SendMsg(p)
	})
	// flush sends what the batch holds; the records in it have left, and
	// are acknowledged.
	flush := func() error {
		if err := b.Flush(); err != nil {
			return err
		}
		c.cur.Ack()
		return nil
	}
	for {
		r, s := c.cur.TryNext()
		switch s {
		case buffers.Ready:
			if err := b.Add(r); err != nil {
				return b.Records(), why(err)
			}
			if sent {
				c.cur.Ack()
				sent = false
			}
		case buffers.Empty:
			if err := flush(); err != nil {
				return b.Records(), why(err)
			}
			select {
			case <-c.cur.Notify():
			case <-ctx.Done():
				_ = st.Send(&pb.PushMessage{Message: &pb.PushMessage_Fail{Fail: &pb.PushFail{Reason: context.Cause(ctx).Error()}}})
				return b.Records(), context.Cause(ctx)
			}
		case buffers.Done:
			if err := flush(); err != nil {
				return b.Records(), why(err)
			}
			if uerr := c.cur.Err(); uerr != nil {
				// The upstream stream failed: so does the one downstream.
				if err := st.Send(&pb.PushMessage{Message: &pb.PushMessage_Fail{Fail: &pb.PushFail{Reason: uerr.Error()}}}); err != nil {
					return b.Records(), why(err)
				}
			}
			if _, err := st.CloseAndRecv(); err != nil {
				return b.Records(), fmt.Errorf("push %s to %s on media host %s: %s", c.from, c.to, c.host, rpc.Message(err))
			}
			return b.Records(), nil
		}
	}
}

// loggedVolumes is a media agent's volume source that says at debug level
// what the agent mounts and releases (as an in-process backup does).
type loggedVolumes struct {
	mediaagent.VolumeSource
	log   *slog.Logger
	agent string
}

func (v *loggedVolumes) Next(ctx context.Context) (mediaagent.Mount, error) {
	m, err := v.VolumeSource.Next(ctx)
	if err != nil {
		v.log.Debug("media host: no volume to mount", "media_agent", v.agent, "err", err)
		return m, err
	}
	v.log.Debug("media host: mounted volume", "media_agent", v.agent, "volume", m.Label.Label, "pool", m.Label.Pool, "at_block", m.At)
	return m, nil
}

func (v *loggedVolumes) Release(ctx context.Context, m mediaagent.Mount, blocks int64, full bool, failed error) error {
	err := v.VolumeSource.Release(ctx, m, blocks, full, failed)
	v.log.Debug("media host: released volume", "media_agent", v.agent, "volume", m.Label.Label, "blocks", blocks, "full", full, "session_failed", failed, "err", err)
	return err
}
