package mediahost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/mediaagent"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// ticket is one object a Restore stream prepared for a client's Read.
type ticket struct {
	id     string
	plan   *pb.ReadPlan
	cfg    *config.Config
	object records.ID
	ctx    context.Context // ends with the Restore stream
	used   bool            // guarded by Host.mu
	done   chan *pb.ReadDone
}

// Restore prepares the reading of one object for a client's agent and
// reports what the read did (see the package comment). Role: server.
func (h *Host) Restore(stream pb.MediaHost_RestoreServer) error {
	if _, err := rpc.Require(stream.Context(), pki.RoleServer); err != nil {
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	plan := m.GetPlan()
	if plan == nil {
		return status.Errorf(codes.InvalidArgument, "media host %s: a restore starts with a ReadPlan", h.name)
	}
	id, err := records.ParseID(plan.GetObject())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "media host %s: read plan of job %d: object %q: %v", h.name, plan.GetJob(), plan.GetObject(), err)
	}
	if plan.GetClient() == "" {
		return status.Errorf(codes.InvalidArgument, "media host %s: read plan of job %d, object %s names no client to read it", h.name, plan.GetJob(), id)
	}
	cfg, err := config.Parse(plan.GetConfigFile(), plan.GetConfig())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "media host %s: read plan of job %d: the plan's configuration: %v", h.name, plan.GetJob(), err)
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return status.Errorf(codes.Internal, "media host %s: make a ticket: %v", h.name, err)
	}
	t := &ticket{id: hex.EncodeToString(raw[:]), plan: plan, cfg: cfg, object: id, ctx: ctx, done: make(chan *pb.ReadDone, 1)}
	h.mu.Lock()
	h.tickets[t.id] = t
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.tickets, t.id)
		h.mu.Unlock()
	}()
	if err := stream.Send(&pb.ReadEvent{Event: &pb.ReadEvent_Ticket{Ticket: &pb.Ticket{Ticket: t.id}}}); err != nil {
		return err
	}
	h.log.Debug("media host: read ticket made", "job", plan.GetJob(), "object", plan.GetObject(), "client", plan.GetClient())
	go func() {
		for {
			m, err := stream.Recv()
			switch {
			case err == io.EOF:
				cancel(errors.New("the server ended the restore's stream"))
				return
			case err != nil:
				cancel(fmt.Errorf("the server's stream broke: %s", rpc.Message(err)))
				return
			case m.GetCancel() != nil:
				cancel(fmt.Errorf("cancelled by the server: %s", m.GetCancel().GetReason()))
			}
		}
	}()
	select {
	case d := <-t.done:
		return stream.Send(&pb.ReadEvent{Event: &pb.ReadEvent_Done{Done: d}})
	case <-ctx.Done():
		return nil
	}
}

// Read streams the object of a ticket to the client it was made for.
// Role: client.
func (h *Host) Read(req *pb.ReadRequest, stream pb.MediaHost_ReadServer) error {
	p, err := rpc.Require(stream.Context(), pki.RoleClient)
	if err != nil {
		return err
	}
	h.mu.Lock()
	t := h.tickets[req.GetTicket()]
	switch {
	case t == nil:
		h.mu.Unlock()
		return status.Errorf(codes.NotFound, "media host %s: no read ticket %q (unknown, or its restore ended)", h.name, req.GetTicket())
	case t.plan.GetClient() != p.Name:
		h.mu.Unlock()
		return status.Errorf(codes.PermissionDenied, "media host %s: %s may not read this ticket: it was made for client %s", h.name, p, t.plan.GetClient())
	case t.used:
		h.mu.Unlock()
		return status.Errorf(codes.FailedPrecondition, "media host %s: read ticket of object %s was used already", h.name, t.object)
	}
	t.used = true
	h.mu.Unlock()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	done, err := h.read(ctx, t, stream)
	t.done <- done
	if err != nil {
		if ctx.Err() != nil && stream.Context().Err() == nil {
			return status.Errorf(codes.Aborted, "media host %s: read of object %s: %v", h.name, t.object, context.Cause(t.ctx))
		}
		return status.Errorf(codes.DataLoss, "media host %s: read of object %s: %v", h.name, t.object, err)
	}
	return nil
}

// read reads the ticket's object from its copies into chunks of stream.
func (h *Host) read(ctx context.Context, t *ticket, stream pb.MediaHost_ReadServer) (*pb.ReadDone, error) {
	devs := devices.New(t.cfg)
	defer devs.Close()
	vols := &planVolumes{devs: devs, byID: map[string]mediaagent.Volume{}}
	var copies []mediaagent.ObjectCopy
	for _, c := range t.plan.GetCopies() {
		for _, v := range c.GetVolumes() {
			vols.byID[v.GetId()] = mediaagent.Volume{ID: v.GetId(), Label: v.GetLabel(), Pool: v.GetPool(), Ref: v.GetPath(),
				BlockSize: int(v.GetBlockSize()), Created: rpc.Time(v.GetCreatedUnixNano())}
		}
		exts := make([]mediaagent.ReadExtent, 0, len(c.GetExtents()))
		for _, e := range c.GetExtents() {
			exts = append(exts, mediaagent.ReadExtent{VolumeID: e.GetVolume(), FirstBlock: e.GetFirstBlock(), LastBlock: e.GetLastBlock(),
				FirstOffset: int64(e.GetFirstOffset()), EndOffset: int64(e.GetEndOffset())})
		}
		number := int(c.GetNumber())
		copies = append(copies, mediaagent.ObjectCopy{Number: number, Open: func() (*mediaagent.ExtentReader, error) {
			if len(exts) == 0 {
				return nil, fmt.Errorf("copy %d of object %s: the plan lists no extent", number, t.object)
			}
			return mediaagent.NewExtentReader(ctx, vols, t.object, exts), nil
		}})
	}
	w := &chunkWriter{stream: stream, buf: make([]byte, 0, ReadChunkBytes)}
	asm := records.NewAssembler(t.object, mediaagent.SinkWriter{W: w})
	obj := mediaagent.ObjectInfo{ID: t.object, Source: t.plan.GetSource(), Length: int64(t.plan.GetLength())}
	onLost := func(l mediaagent.LostRange) error {
		if err := w.flush(); err != nil {
			return &mediaagent.SinkError{Err: err}
		}
		if err := stream.Send(&pb.ReadChunk{Lost: rpc.LostRangeToPB(l)}); err != nil {
			return &mediaagent.SinkError{Err: err}
		}
		return nil
	}
	res, err := mediaagent.ReadCopies(ctx, obj, copies, asm, onLost, h.log)
	if err == nil {
		if ferr := w.flush(); ferr != nil {
			err = ferr
		}
	}
	d := &pb.ReadDone{Bytes: w.sent}
	if res != nil {
		d.VolumeBytes = res.BytesRead
		for _, a := range res.Attempts {
			d.Attempts = append(d.Attempts, &pb.CopyAttempt{Copy: int32(a.Copy), Error: a.Error, At: a.At})
		}
		if err == nil {
			d.Attempts = append(d.Attempts, &pb.CopyAttempt{Copy: int32(res.Copy), At: int64(asm.Offset())})
		}
		for _, l := range res.Lost {
			d.Lost = append(d.Lost, rpc.LostRangeToPB(l))
		}
	}
	if err != nil {
		d.Error = err.Error()
	}
	h.log.Debug("media host: read done", "job", t.plan.GetJob(), "object", t.object.String(), "bytes", d.Bytes, "volume_bytes", d.VolumeBytes, "err", err)
	return d, err
}

// chunkWriter cuts the object stream into ReadChunks of at most
// ReadChunkBytes. It copies what it is given: the assembler reuses its
// buffers.
type chunkWriter struct {
	stream pb.MediaHost_ReadServer
	buf    []byte
	sent   int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush sends what the writer holds. gRPC encodes a message before Send
// returns, so the buffer is free again after it.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.stream.Send(&pb.ReadChunk{Data: w.buf}); err != nil {
		return err
	}
	w.sent += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// planVolumes is mediaagent.Volumes over the volumes of a read plan,
// mounted through the device libraries of the plan's configuration.
type planVolumes struct {
	devs *devices.Set
	mu   sync.Mutex
	byID map[string]mediaagent.Volume
}

func (v *planVolumes) Volume(_ context.Context, id string) (mediaagent.Volume, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vol, ok := v.byID[id]
	if !ok {
		return mediaagent.Volume{}, fmt.Errorf("volume %s is not in the read plan", id)
	}
	return vol, nil
}

func (v *planVolumes) Open(ctx context.Context, vol mediaagent.Volume) (device.Medium, error) {
	return v.devs.Open(ctx, devices.Volume{Pool: vol.Pool, Label: vol.Label, Ref: vol.Ref, BlockSize: vol.BlockSize}, device.ReadOnly)
}
