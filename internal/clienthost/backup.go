package clienthost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// Backup backs up one source on the server's order (see the package
// comment): BackupOrder, ObjectStarted, Go, then the push and the events,
// and ObjectEnded. A failed object is reported in ObjectEnded; the call
// itself fails only for a refused or malformed order, or a stream that
// ended before Go.
func (a *Agent) Backup(stream pb.Agent_BackupServer) error {
	ctx := stream.Context()
	if _, err := rpc.Require(ctx, pki.RoleServer); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return status.Errorf(codes.Canceled, "agent %s: the backup stream ended before its order: %v", a.name, err)
	}
	order := first.GetOrder()
	if order == nil {
		return status.Errorf(codes.InvalidArgument, "agent %s: a backup stream starts with a BackupOrder", a.name)
	}
	if err := a.checkOrder(order); err != nil {
		return err
	}
	id := records.NewID()
	log := a.log.With("job", order.GetJob(), "source", order.GetSource(), "object", id.String())
	ev := &events{stream: stream}
	if err := ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Started{Started: &pb.ObjectStarted{Object: id.String()}}}); err != nil {
		return err
	}
	msg, err := stream.Recv()
	switch {
	case err != nil:
		log.Info("backup: the server ended the stream before Go; nothing was pushed", "err", err)
		return status.Errorf(codes.Canceled, "agent %s: backup of %s: the stream ended before Go: %v", a.name, order.GetSource(), err)
	case msg.GetCancel() != nil:
		log.Info("backup: cancelled before Go; nothing was pushed", "reason", msg.GetCancel().GetReason())
		return status.Errorf(codes.Canceled, "agent %s: backup of %s cancelled before it started: %s", a.name, order.GetSource(), msg.GetCancel().GetReason())
	case msg.GetGo() == nil:
		return status.Errorf(codes.InvalidArgument, "agent %s: backup of %s: after ObjectStarted the server sends Go or Cancel", a.name, order.GetSource())
	}

	// From Go on, a Cancel or the end of the stream stops the object.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ev.fail = cancel
	go func() {
		for {
			m, err := stream.Recv()
			switch {
			case errors.Is(err, io.EOF):
				cancel(errors.New("the server ended the backup stream"))
				return
			case err != nil:
				cancel(fmt.Errorf("the backup stream broke: %s", rpc.Message(err)))
				return
			case m.GetCancel() != nil:
				cancel(fmt.Errorf("cancelled by the server: %s", m.GetCancel().GetReason()))
				return
			}
		}
	}()
	r := &backupRun{a: a, order: order, id: id, ev: ev, log: log}
	ended := r.run(jctx)
	if ended.GetError() != "" {
		log.Warn("backup: object failed", "err", ended.GetError())
	} else {
		log.Info("backup: object ended", "bytes", ended.GetLength(), "records", ended.GetRecords(), "entries", ended.GetEntries())
	}
	return ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Ended{Ended: ended}})
}

// checkOrder refuses an order for another client's source, and one that
// cannot run.
func (a *Agent) checkOrder(o *pb.BackupOrder) error {
	if o.GetClient() != a.name {
		return status.Errorf(codes.PermissionDenied, "agent %s acts only for its own sources: source %q is of client %q", a.name, o.GetSource(), o.GetClient())
	}
	bad := func(format string, args ...any) error {
		return status.Errorf(codes.InvalidArgument, "agent %s: backup order for source %q: %s", a.name, o.GetSource(), fmt.Sprintf(format, args...))
	}
	switch {
	case o.GetSource() == "":
		return bad("no source name")
	case len(o.GetPaths()) == 0:
		return bad("no paths")
	case o.GetTarget().GetHost() == "" || o.GetTarget().GetAddress() == "" || o.GetTarget().GetBuffer() == "":
		return bad("the target names no media host, address and buffer (%v)", o.GetTarget())
	case o.GetCompression() != "" && o.GetCompression() != records.CompressionZstd:
		return bad("unknown compression %q (\"\" or %q)", o.GetCompression(), records.CompressionZstd)
	}
	for _, p := range o.GetExclude() {
		if err := agent.ValidatePattern(p); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// events sends the events of one Backup stream, one at a time (a stream's
// Send is not safe for concurrent use); after a failed send every send
// fails, and fail (if set) is told why.
type events struct {
	mu     sync.Mutex
	stream pb.Agent_BackupServer
	err    error
	fail   func(error)
}

func (e *events) send(ev *pb.BackupEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	if err := e.stream.Send(ev); err != nil {
		e.err = err
		if e.fail != nil {
			e.fail(fmt.Errorf("the backup stream broke: %s", rpc.Message(err)))
		}
		return err
	}
	return nil
}

// backupRun is one object being backed up.
type backupRun struct {
	a            *Agent
	order        *pb.BackupOrder
	id           records.ID
	ev           *events
	log          *slog.Logger
	files, bytes atomic.Int64

	mu      sync.Mutex
	missing []string // roots of the source that do not exist
	unread  int64
}

// run backs the source up into the order's target and returns the end of
// the object.
func (r *backupRun) run(ctx context.Context) *pb.ObjectEnded {
	o, t := r.order, r.order.GetTarget()
	fail := func(err error) *pb.ObjectEnded {
		return &pb.ObjectEnded{Error: fmt.Sprintf("source %s: %v", o.GetSource(), err)}
	}
	conn, err := rpc.DialPeer(r.a.creds, pki.Peer{Role: pki.RoleMediaHost, Name: t.GetHost()}, t.GetAddress())
	if err != nil {
		return fail(fmt.Errorf("media host %s: %w", t.GetHost(), err))
	}
	defer conn.Close()
	// The push outlives ctx by abortGrace, so that a failed object still
	// reaches the media host as failed (its aborted End, then PushFail);
	// a media host that does not read it by then is cut off.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(abortGrace, pcancel) })
	defer stopAfter()
	p := &push{host: t.GetHost(), address: t.GetAddress(), cancel: pcancel}
	p.stream, err = pb.NewMediaHostClient(conn).Push(pctx)
	if err != nil {
		return fail(p.wrap(err))
	}
	if err := p.send(&pb.PushMessage{Message: &pb.PushMessage_Open{Open: &pb.PushOpen{Job: o.GetJob(), Buffer: t.GetBuffer(), Source: o.GetSource()}}}); err != nil {
		return fail(err)
	}
	batches := rpc.NewBatcher(0, func(b *rpc.Batch) error { return p.send(b) })
	started := rpc.Time(o.GetStartedUnixNano())
	if started.IsZero() {
		started = time.Now().UTC()
	}
	begin := records.BeginInfo{Source: o.GetSource(), Client: o.GetClient(), Level: o.GetLevel(), Base: o.GetBase(), Time: started,
		Job: int64(o.GetJob()), Content: "pax", Compression: o.GetCompression()}
	sw, err := records.NewStreamWriter(r.id, begin, &r.a.pool, func(rec *records.Record) error {
		r.bytes.Add(int64(rec.Len()))
		err := batches.Add(rec)
		rec.Release()
		return err
	})
	if err != nil {
		p.fail(fmt.Sprintf("source %s: %v", o.GetSource(), err))
		return fail(err)
	}

	stopProgress := r.progress()
	var batch []*pb.File
	flushFiles := func() {
		if len(batch) > 0 {
			_ = r.ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Files{Files: &pb.FileBatch{Files: batch}}})
			batch = nil
		}
	}
	opts := agent.Options{
		Paths:   o.GetPaths(),
		Exclude: o.GetExclude(),
		OnEntry: func(e agent.Entry) {
			r.files.Add(1)
			batch = append(batch, rpc.FileToPB(catalog.File{
				Path: "/" + e.Name, Type: e.Type, Size: e.Size, Mode: e.Mode,
				UID: e.UID, GID: e.GID, MTime: e.ModTime, CTime: e.Ctime, Inode: e.Inode, Link: e.LinkName, Offset: e.Offset,
			}))
			if len(batch) >= fileBatch {
				flushFiles()
			}
		},
		OnError: r.onError,
	}
	if o.GetBase() != "" {
		opts.Base = &remoteBase{ctx: ctx, server: r.a.server, job: o.GetJob(), object: r.id.String()}
	}
	st, err := agent.Archive(ctx, sw, opts)
	flushFiles()
	stopProgress()
	r.mu.Lock()
	missing := r.missing
	r.mu.Unlock()
	if err == nil && len(missing) > 0 && !o.GetMayBeAbsent() {
		err = fmt.Errorf("path %s does not exist (a disk not mounted?); the object is failed so that it never passes for an empty tree; mount it, or add \"may_be_absent: true\" to source %s", strings.Join(missing, ", "), o.GetSource())
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("stopped: %w", stopCause(ctx))
		case p.err != nil:
			err = p.err // the push broke: say how, not that a write failed
		}
		reason := fmt.Sprintf("source %s: %v", o.GetSource(), err)
		if p.err == nil {
			_ = sw.Abort(reason)
			_ = batches.Flush()
			p.fail(reason)
		}
		r.log.Debug("backup: object stream aborted", "err", reason)
		return &pb.ObjectEnded{Error: reason, Entries: st.Entries + st.Deleted, Unchanged: st.Unchanged, Deleted: st.Deleted}
	}
	end, err := sw.Close()
	if err == nil {
		err = batches.Flush()
	}
	if err == nil {
		err = p.close()
	}
	if err != nil {
		if p.err == nil {
			p.fail(fmt.Sprintf("source %s: %v", o.GetSource(), err))
		}
		return &pb.ObjectEnded{Error: fmt.Sprintf("source %s: %v", o.GetSource(), err), Entries: st.Entries + st.Deleted, Unchanged: st.Unchanged, Deleted: st.Deleted}
	}
	r.mu.Lock()
	unread := r.unread
	r.mu.Unlock()
	r.log.Debug("backup: object stream ended", "entries", st.Entries+st.Deleted, "bytes", end.Length, "records", end.Records, "unread", unread)
	return &pb.ObjectEnded{Length: end.Length, Records: end.Records, Hash: end.Hash, Stored: end.Stored,
		Entries: st.Entries + st.Deleted, Unchanged: st.Unchanged, Deleted: st.Deleted}
}

// onError is the archive's OnError: a root that does not exist is missing
// (not a file that could not be read: an unmounted disk must not pass for
// an empty one); any other path is skipped with a warning.
func (r *backupRun) onError(path string, err error) {
	o := r.order
	if isRoot(o.GetPaths(), path) && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
		r.mu.Lock()
		r.missing = append(r.missing, path)
		r.mu.Unlock()
		msg := err.Error()
		if o.GetMayBeAbsent() {
			r.log.Info("absent, as the source allows", "path", path)
			msg = "absent (may_be_absent)"
		}
		_ = r.ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Warning{Warning: &pb.SourceWarning{Path: path, Error: msg, Missing: true}}})
		return
	}
	r.log.Debug("skipped", "path", path, "err", err)
	r.mu.Lock()
	r.unread++
	r.mu.Unlock()
	_ = r.ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Warning{Warning: &pb.SourceWarning{Path: path, Error: err.Error()}}})
}

// progress sends SourceProgress every progressEvery until the function it
// returns is called (which waits for the last one).
func (r *backupRun) progress() func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = r.ev.send(&pb.BackupEvent{Event: &pb.BackupEvent_Progress{Progress: &pb.SourceProgress{Files: r.files.Load(), Bytes: r.bytes.Load()}}})
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// push is the stream of one object's records to its media host. Its
// methods are called by the archive's goroutine only.
type push struct {
	host, address string
	stream        pb.MediaHost_PushClient
	cancel        func() // cuts the stream
	err           error  // how the stream broke, once it did
}

// wrap names the media host in err.
func (p *push) wrap(err error) error {
	return fmt.Errorf("push to media host %s at %s: %s", p.host, p.address, rpc.Message(err))
}

// send sends m, a *pb.PushMessage or an *rpc.Batch; once the stream
// broke, it returns how.
func (p *push) send(m any) error {
	if p.err != nil {
		return p.err
	}
	err := p.stream.SendMsg(m)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		// The stream ended: its status says why.
		if _, rerr := p.stream.CloseAndRecv(); rerr != nil {
			err = rerr
		}
	}
	p.err = p.wrap(err)
	return p.err
}

// close ends the push normally and waits for the media host's answer.
func (p *push) close() error {
	if p.err != nil {
		return p.err
	}
	if _, err := p.stream.CloseAndRecv(); err != nil {
		p.err = p.wrap(err)
		return p.err
	}
	return nil
}

// fail fails the push with reason (PushFail) and waits for the media
// host to end it, for abortGrace at most: then the stream is cut.
func (p *push) fail(reason string) {
	if p.err != nil {
		return
	}
	cut := time.AfterFunc(abortGrace, p.cancel)
	defer cut.Stop()
	if err := p.send(&pb.PushMessage{Message: &pb.PushMessage_Fail{Fail: &pb.PushFail{Reason: reason}}}); err != nil {
		return
	}
	_, _ = p.stream.CloseAndRecv()
	p.err = p.wrap(errors.New("failed: " + reason))
}

// stopCause says why the backup of ctx was stopped: the cause a Cancel
// or the end of the stream gave, else (the call's own context ended
// first) that the server's stream broke.
func stopCause(ctx context.Context) error {
	c := context.Cause(ctx)
	if c == context.Canceled || c == context.DeadlineExceeded {
		return fmt.Errorf("the backup stream from the server broke (the server went away or gave up the call): %w", c)
	}
	return c
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
