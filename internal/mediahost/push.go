package mediahost

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/buffers"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// Push feeds one buffer of a running backup job (see the package
// comment). Roles: client, media-host.
func (h *Host) Push(stream pb.MediaHost_PushServer) error {
	p, err := rpc.Require(stream.Context(), pki.RoleClient, pki.RoleMediaHost)
	if err != nil {
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	open := m.GetOpen()
	if open == nil {
		return status.Errorf(codes.InvalidArgument, "media host %s: a push starts with PushOpen", h.name)
	}
	j, in, err := h.claim(p, open)
	if err != nil {
		return err
	}
	// The receiver runs on its own goroutine, so that the job's end
	// breaks the push off even while the peer sends nothing (Recv waits
	// for the peer, not for the job). It ends once the handler returned.
	done := make(chan error, 1)
	reply := &pb.PushReply{}
	go func() {
		defer j.pushes.Done()
		done <- j.receive(stream, in, p, reply)
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		return stream.SendAndClose(reply)
	case <-j.ctx.Done():
		err := fmt.Errorf("push from %s into buffer %s broken off: %w", p, in.buf.Name(), context.Cause(j.ctx))
		in.buf.Fail(err)
		return status.Error(codes.Aborted, err.Error())
	}
}

// claim finds the buffer a push opens and checks that the peer may feed
// it and that nobody does already.
func (h *Host) claim(p pki.Peer, open *pb.PushOpen) (*backupJob, *pushInput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	j := h.jobs[open.GetJob()]
	if j == nil {
		return nil, nil, status.Errorf(codes.NotFound, "media host %s: no backup job %d runs here (not planned yet, or over)", h.name, open.GetJob())
	}
	in := j.inputs[open.GetBuffer()]
	if in == nil {
		return nil, nil, status.Errorf(codes.NotFound, "media host %s: job %d has no buffer %q that takes a push here", h.name, j.id, open.GetBuffer())
	}
	name := in.buf.Name()
	switch p.Role {
	case pki.RoleClient:
		if in.source == "" {
			return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: %s may not push into buffer %s of job %d: it follows %s, fed by media host %s", h.name, p, name, j.id, in.follows, in.upstream)
		}
		if open.GetSource() != in.source {
			return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: %s may not push source %q into buffer %s of job %d: that buffer holds source %s", h.name, p, open.GetSource(), name, j.id, in.source)
		}
		src, _ := j.cfg.Source(in.source)
		if err := p.ActFor(src.Client); err != nil {
			return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: push into buffer %s of job %d, source %s: %v", h.name, name, j.id, in.source, err)
		}
	case pki.RoleMediaHost:
		if in.upstream == "" {
			return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: %s may not push into buffer %s of job %d: it is a backup-group buffer, fed by the agent of source %s", h.name, p, name, j.id, in.source)
		}
		if in.upstream != p.Name {
			return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: %s may not push into buffer %s of job %d: it follows %s on media host %s", h.name, p, name, j.id, in.follows, in.upstream)
		}
	default:
		return nil, nil, status.Errorf(codes.PermissionDenied, "media host %s: %s may not push", h.name, p)
	}
	if in.claimed {
		return nil, nil, status.Errorf(codes.AlreadyExists, "media host %s: buffer %s of job %d has its push already; a buffer takes one", h.name, name, j.id)
	}
	in.claimed = true
	j.pushes.Add(1)
	return j, in, nil
}

// receive takes the batches of a push into its buffer, one at a time
// (Push blocks while the buffer is full: the next batch is not read
// before), and closes or fails the buffer at the end. Its error is the
// status to answer; reply counts what was taken.
func (j *backupJob) receive(stream pb.MediaHost_PushServer, in *pushInput, p pki.Peer, reply *pb.PushReply) error {
	buf := in.buf
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(j.ctx, cancel)
	defer stop()
	fail := func(code codes.Code, format string, args ...any) error {
		err := fmt.Errorf("push from %s into buffer %s: "+format, append([]any{p, buf.Name()}, args...)...)
		buf.Fail(err)
		j.log.Warn("media host: push failed", "peer", p.String(), "buffer", buf.Name(), "records", reply.Records, "err", err)
		return status.Error(code, err.Error())
	}
	// The codec decodes a batch's records straight into records of the
	// job's pool (rpc.PushIn); they are pushed one by one, so that a full
	// buffer stops the reading of the next batch.
	msg := rpc.PushIn{Pool: &j.pool}
	for {
		err := stream.RecvMsg(&msg)
		if err == io.EOF {
			buf.Close()
			j.log.Debug("media host: push ended", "peer", p.String(), "buffer", buf.Name(), "records", reply.Records, "bytes", reply.Bytes)
			return nil
		}
		if err != nil {
			return fail(codes.Unavailable, "the stream broke (the peer vanished?): %s", rpc.Message(err))
		}
		if msg.Message == nil {
			for i, r := range msg.Records {
				n := int64(r.Len())
				if err := buf.Push(ctx, r); err != nil {
					for _, r := range msg.Records[i+1:] {
						r.Release()
					}
					if errors.Is(err, buffers.ErrNoConsumers) {
						return fail(codes.FailedPrecondition, "%v (its media agent and the chain after it failed)", err)
					}
					return fail(codes.Aborted, "%v", err)
				}
				reply.Records++
				reply.Bytes += n
			}
			clear(msg.Records)
			if msg.Err != nil {
				return fail(codes.DataLoss, "after %d records: %v", reply.Records, msg.Err)
			}
			continue
		}
		switch x := msg.Message.GetMessage().(type) {
		case *pb.PushMessage_Fail:
			err := fmt.Errorf("push from %s into buffer %s: the sender failed: %s", p, buf.Name(), x.Fail.GetReason())
			buf.Fail(err)
			j.log.Debug("media host: push failed by its sender", "peer", p.String(), "buffer", buf.Name(), "err", err)
			return nil
		case *pb.PushMessage_Open:
			return fail(codes.InvalidArgument, "a second PushOpen in one push")
		default:
			return fail(codes.InvalidArgument, "an empty message")
		}
	}
}
