package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// readDoneWait is how long a restore waits for a media host's ReadDone
// once the agent is done.
const readDoneWait = 10 * time.Second

// emptyTarLength is the length of a tar stream without entries.
const emptyTarLength = 1024

// RestoreOptions select what a fleet restore does.
type RestoreOptions struct {
	Object string    // ID or unique prefix
	Source string    // the latest complete object of the source
	At     time.Time // with Source: the latest backup started not after At
	Copy   int       // 0: the first good copy of each object; N: copy N
	// Target is an absolute directory on the client that receives the
	// tree (each file at Target joined with its original path).
	Target    string
	Overwrite bool
	Resume    bool
	// Paths, if any, restore only the entries that match one of them,
	// the directories above them and the files their hard links need
	// (jobs.SelectPaths; as daisy restore --path).
	Paths  []string
	Logger *slog.Logger
	// Started, if set, gets the job's catalog ID once it is recorded.
	Started func(int64)
}

// RestorePartResult is what a restore read from one object of the chain.
type RestorePartResult struct {
	Object      string        `json:"object"`
	Level       string        `json:"level"`
	Copy        int           `json:"copy"` // the copy planned first
	MediaHost   string        `json:"media_host"`
	Whole       bool          `json:"whole"`
	Bytes       int64         `json:"bytes"`        // object stream bytes sent
	VolumeBytes int64         `json:"volume_bytes"` // bytes read from volumes
	Attempts    []CopyAttempt `json:"attempts,omitempty"`
	// Skipped says why the media hosts of copies before this one could
	// not serve the part (down, refusing).
	Skipped []string `json:"skipped,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// CopyAttempt is one copy a media host tried for a part.
type CopyAttempt struct {
	Copy  int    `json:"copy"`
	Error string `json:"error,omitempty"`
	At    int64  `json:"at"`
}

// RestoreResult is the outcome of a fleet restore.
type RestoreResult struct {
	Job    int64  `json:"job"`
	State  string `json:"state"`
	Object string `json:"object"`
	Source string `json:"source"`
	// Level and Started are those of Object, the backup restored.
	Level   string    `json:"level"`
	Started time.Time `json:"started"`
	Client  string    `json:"client"`
	Target  string    `json:"target"`
	// Copy is the copy that completed Object's own part (the planned
	// one when its media host did not say).
	Copy  int                 `json:"copy"`
	Parts []RestorePartResult `json:"parts"`
	// Entries and Bytes are what the agent restored; BytesRead what the
	// media hosts read from volumes for every part.
	Entries   int64    `json:"entries"`
	Bytes     int64    `json:"bytes"`
	BytesRead int64    `json:"bytes_read"`
	Problems  []string `json:"problems,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// readPart is one object of the chain being served by a media host.
type readPart struct {
	res    *RestorePartResult
	part   *pb.RestorePart
	conn   *grpc.ClientConn
	stream pb.MediaHost_RestoreClient
	cancel context.CancelFunc
}

func (rp *readPart) close() {
	rp.cancel()
	rp.conn.Close()
}

// Restore restores a source's tree (an object and its chain) onto the
// source's own client over the fleet: per object of the chain the copy
// (o.Copy, or the first good one) and the media host of its device, a
// read ticket from that host (MediaHost.Restore with the volumes and
// extents of the catalog), then the agent's Agent.Restore over the parts.
// It returns an error when the restore could not run or failed; the
// result says what was done either way.
func (s *Server) Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	log := o.Logger
	if log == nil {
		log = s.log
	}
	cfg, data := s.Config()
	obj, err := s.findObject(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Target == "" {
		return nil, fmt.Errorf("%w: restore needs a target directory on the client", jobs.ErrUsage)
	}
	cl, ok := cfg.Client(obj.Client)
	if !ok || cl.Address == "" {
		return nil, fmt.Errorf("object %s of %s: client %q has no address in %s", obj.ID, obj.Source, obj.Client, cfg.File)
	}
	chain, err := s.cat.Chain(ctx, obj)
	if err != nil {
		return nil, err
	}
	for _, c := range chain {
		if c.State != catalog.ObjectComplete {
			return nil, fmt.Errorf("object %s of %s is %s, not complete: it cannot be restored", c.ID, c.Source, c.State)
		}
		if len(chain) > 1 || len(o.Paths) > 0 || o.Resume {
			has, err := s.cat.HasFiles(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			if !has && c.Length > emptyTarLength {
				return nil, fmt.Errorf("the catalog has no file list of %s %s of %s, which this restore needs; daisy scan --rebuild --files reads it back from the volumes", c.Level, c.ID, c.Source)
			}
		}
	}
	var picked map[string][]catalog.File
	if len(o.Paths) > 0 {
		if picked, err = jobs.SelectPaths(ctx, s.cat, chain, o.Paths); err != nil {
			return nil, err
		}
	}
	j, err := s.cat.StartJob(ctx, "restore")
	if err != nil {
		return nil, err
	}
	if o.Started != nil {
		o.Started(j.ID)
	}
	wctx := context.WithoutCancel(ctx)
	res := &RestoreResult{Job: j.ID, Object: obj.ID, Source: obj.Source, Level: obj.Level, Started: obj.Started, Client: obj.Client, Target: o.Target}
	log = log.With("job", j.ID, "object", obj.ID, "source", obj.Source, "client", obj.Client)
	rj := &restoreJob{client: obj.Client, chain: chain, index: map[string]int{}, picked: picked}
	for i, c := range chain {
		rj.index[c.ID] = i
	}
	forget := s.registerRestore(uint64(j.ID), rj)
	defer forget()

	runErr := s.restore(ctx, cfg, data, j.ID, chain, cl, o, res, log)
	res.State = catalog.JobSuccess
	switch {
	case errors.Is(runErr, context.Canceled) || ctx.Err() != nil:
		res.State = catalog.JobInterrupted
	case runErr != nil:
		res.State = catalog.JobFailed
	}
	if runErr != nil {
		res.Error = runErr.Error()
	}
	j.State, j.Finished, j.Bytes, j.Files, j.Error = res.State, time.Now().UTC(), res.Bytes, res.Entries, res.Error
	if err := s.cat.FinishJob(wctx, j); err != nil {
		log.Error("record the restore job's end", "err", err)
	}
	log.Info("restore: done", "state", res.State, "entries", res.Entries, "bytes", res.Bytes, "err", runErr)
	return res, runErr
}

func (s *Server) findObject(ctx context.Context, o RestoreOptions) (catalog.Object, error) {
	if !o.At.IsZero() {
		if o.Source == "" || o.Object != "" {
			return catalog.Object{}, fmt.Errorf("%w: a restore at a time names a source, not an object", jobs.ErrUsage)
		}
		obj, err := s.cat.ObjectAt(ctx, o.Source, o.At)
		if errors.Is(err, catalog.ErrNotFound) {
			return obj, fmt.Errorf("%w: source %q has no complete backup started at or before %s", jobs.ErrUsage, o.Source, o.At.Format(time.RFC3339))
		}
		return obj, err
	}
	return jobs.FindObject(ctx, s.cat, o.Object, o.Source)
}

// restore prepares a ticket per object of the chain and orders the agent
// to restore the parts.
func (s *Server) restore(ctx context.Context, cfg *config.Config, data []byte, job int64, chain []catalog.Object, cl config.Client, o RestoreOptions, res *RestoreResult, log *slog.Logger) error {
	var parts []*readPart
	defer func() {
		for _, p := range parts {
			p.close()
		}
	}()
	whole := len(chain) == 1 && len(o.Paths) == 0 && !o.Resume
	for _, c := range chain {
		rp, err := s.preparePart(ctx, cfg, data, job, c, o.Copy, whole, log)
		if err != nil {
			return err
		}
		parts = append(parts, rp)
		res.Parts = append(res.Parts, *rp.res)
	}
	order := &pb.RestoreOrder{Job: uint64(job), Target: o.Target, Overwrite: o.Overwrite, Resume: o.Resume}
	for _, p := range parts {
		order.Parts = append(order.Parts, p.part)
	}
	conn, err := rpc.DialPeer(s.creds, pki.Peer{Role: pki.RoleClient, Name: cl.Name}, cl.Address)
	if err != nil {
		return fmt.Errorf("client %s: %w", cl.Name, err)
	}
	defer conn.Close()
	st, err := pb.NewAgentClient(conn).Restore(ctx, order)
	if err != nil {
		return fmt.Errorf("client %s at %s: %s", cl.Name, cl.Address, rpc.Message(err))
	}
	var done *pb.RestoreDone
	for done == nil {
		ev, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the agent ended the restore without its end")
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("client %s: connection lost: %s", cl.Name, rpc.Message(err))
		}
		switch e := ev.GetEvent().(type) {
		case *pb.RestoreEvent_Progress:
			res.Entries, res.Bytes = e.Progress.GetEntries(), e.Progress.GetBytes()
		case *pb.RestoreEvent_Done:
			done = e.Done
		}
	}
	res.Entries, res.Bytes, res.Problems = done.GetEntries(), done.GetBytes(), done.GetProblems()
	// What each media host read.
	for i, p := range parts {
		d := p.readDone()
		if d == nil {
			continue
		}
		pr := &res.Parts[i]
		pr.Bytes, pr.VolumeBytes = d.GetBytes(), d.GetVolumeBytes()
		for _, a := range d.GetAttempts() {
			pr.Attempts = append(pr.Attempts, CopyAttempt{Copy: int(a.GetCopy()), Error: a.GetError(), At: a.GetAt()})
		}
		pr.Error = d.GetError()
	}
	for _, pr := range res.Parts {
		res.BytesRead += pr.VolumeBytes
		if pr.Object != res.Object {
			continue
		}
		res.Copy = pr.Copy
		for _, a := range pr.Attempts {
			if a.Error == "" {
				res.Copy = a.Copy
			}
		}
	}
	if done.GetError() != "" {
		return fmt.Errorf("client %s: %s", cl.Name, done.GetError())
	}
	return nil
}

// readDone waits a little for the media host's ReadDone of a part; nil
// when it does not come (the agent never read the ticket).
func (rp *readPart) readDone() *pb.ReadDone {
	got := make(chan *pb.ReadDone, 1)
	go func() {
		for {
			ev, err := rp.stream.Recv()
			if err != nil {
				got <- nil
				return
			}
			if d := ev.GetDone(); d != nil {
				got <- d
				return
			}
		}
	}()
	t := time.NewTimer(readDoneWait)
	defer t.Stop()
	select {
	case d := <-got:
		return d
	case <-t.C:
		rp.cancel()
		return nil
	}
}

// preparePart picks the copies of object c to read, on the media host of
// the first, and gets a ticket for them from that host.
func (s *Server) preparePart(ctx context.Context, cfg *config.Config, data []byte, job int64, c catalog.Object, want int, whole bool, log *slog.Logger) (*readPart, error) {
	cps, err := s.cat.Copies(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	var good []catalog.Copy
	for _, cp := range cps {
		if cp.State == catalog.CopyGood && (want == 0 || cp.Number == want) {
			good = append(good, cp)
		}
	}
	if len(good) == 0 {
		if want != 0 {
			return nil, fmt.Errorf("%w: object %s of %s has no good copy %d", jobs.ErrUsage, c.ID, c.Source, want)
		}
		return nil, fmt.Errorf("object %s of %s has no good copy", c.ID, c.Source)
	}
	hostOf := func(cp catalog.Copy) string {
		d, _ := cfg.Device(cp.Device)
		return d.Host
	}
	// The media hosts of the good copies, in the order of the copies: the
	// first one that answers serves the part, with all of its copies; a
	// host that is down or refuses leaves it to the next (its reason is
	// in the part's result).
	var hosts []string
	for _, cp := range good {
		if h := hostOf(cp); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	var skipped []string
	for _, host := range hosts {
		rp, err := s.planOnHost(ctx, cfg, data, job, c, good, hostOf, host, whole, log)
		if err == nil {
			rp.res.Skipped = skipped
			return rp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		log.Warn("restore: a media host cannot serve the part; trying the next copy's", "part_object", c.ID, "media_host", host, "err", err)
		skipped = append(skipped, err.Error())
	}
	return nil, fmt.Errorf("object %s of %s: no media host of its good copies can serve it: %s", c.ID, c.Source, strings.Join(skipped, "; "))
}

// planHostTimeout bounds how long a media host may take to answer a read
// plan before the next copy's host is tried.
const planHostTimeout = 20 * time.Second

// planOnHost asks media host host for a read ticket of object c with the
// good copies on its devices.
func (s *Server) planOnHost(ctx context.Context, cfg *config.Config, data []byte, job int64, c catalog.Object, good []catalog.Copy, hostOf func(catalog.Copy) string, host string, whole bool, log *slog.Logger) (*readPart, error) {
	mh, ok := cfg.MediaHost(host)
	first := -1
	for i, cp := range good {
		if hostOf(cp) == host {
			first = i
			break
		}
	}
	if host == "" || !ok || mh.Address == "" {
		return nil, fmt.Errorf("copy %d of object %s: its device %s is on no media host of %s", good[first].Number, c.ID, good[first].Device, cfg.File)
	}
	plan := &pb.ReadPlan{Job: uint64(job), Object: c.ID, Source: c.Source, Length: uint64(c.Length), Client: c.Client, Config: data, ConfigFile: cfg.File}
	for _, cp := range good {
		if hostOf(cp) != host {
			continue // another host's copy: a plan reads one host's volumes
		}
		rc, err := s.readCopy(ctx, c.ID, cp.Number)
		if err != nil {
			return nil, err
		}
		plan.Copies = append(plan.Copies, rc)
	}
	conn, err := rpc.DialPeer(s.creds, pki.Peer{Role: pki.RoleMediaHost, Name: host}, mh.Address)
	if err != nil {
		return nil, fmt.Errorf("media host %s: %w", host, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	rp := &readPart{conn: conn, cancel: cancel,
		res: &RestorePartResult{Object: c.ID, Level: c.Level, Copy: good[first].Number, MediaHost: host, Whole: whole}}
	fail := func(err error) (*readPart, error) {
		rp.close()
		return nil, err
	}
	// The plan's answer within planHostTimeout; the stream lives on.
	timer := time.AfterFunc(planHostTimeout, cancel)
	defer timer.Stop()
	rp.stream, err = pb.NewMediaHostClient(conn).Restore(sctx)
	if err != nil {
		return fail(fmt.Errorf("media host %s at %s: %s", host, mh.Address, rpc.Message(err)))
	}
	if err := rp.stream.Send(&pb.ReadControl{Control: &pb.ReadControl_Plan{Plan: plan}}); err != nil {
		return fail(fmt.Errorf("media host %s at %s: send the read plan: %s", host, mh.Address, rpc.Message(err)))
	}
	ev, err := rp.stream.Recv()
	if !timer.Stop() {
		return fail(fmt.Errorf("media host %s at %s: no answer to the read plan of object %s within %s", host, mh.Address, c.ID, planHostTimeout))
	}
	if err != nil {
		return fail(fmt.Errorf("media host %s at %s: read plan of object %s: %s", host, mh.Address, c.ID, rpc.Message(err)))
	}
	t := ev.GetTicket()
	if t == nil || t.GetTicket() == "" {
		return fail(fmt.Errorf("media host %s: answered the read plan of object %s without a ticket", host, c.ID))
	}
	rp.part = &pb.RestorePart{Object: c.ID, Source: c.Source, Ticket: t.GetTicket(), Host: host, Address: mh.Address, Whole: whole}
	log.Debug("restore: part prepared", "part_object", c.ID, "media_host", host, "copies", len(plan.Copies), "whole", whole)
	return rp, nil
}

// readCopy is copy number of object id as a read plan lists it: its
// extents and the volumes they are on, from the catalog.
func (s *Server) readCopy(ctx context.Context, id string, number int) (*pb.ReadCopy, error) {
	exts, err := s.cat.Extents(ctx, id, number)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, fmt.Errorf("copy %d of object %s: the catalog lists no extent", number, id)
	}
	rc := &pb.ReadCopy{Number: int32(number)}
	seen := map[string]bool{}
	for _, e := range exts {
		rc.Extents = append(rc.Extents, &pb.Extent{Volume: e.VolumeID, FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
			FirstOffset: uint64(e.FirstOffset), EndOffset: uint64(e.EndOffset), Records: e.Records, Bytes: e.Bytes})
		if seen[e.VolumeID] {
			continue
		}
		seen[e.VolumeID] = true
		v, err := s.cat.Volume(ctx, e.VolumeID)
		if err != nil {
			return nil, fmt.Errorf("copy %d of object %s: volume %s: %w", number, id, e.VolumeID, err)
		}
		rc.Volumes = append(rc.Volumes, &pb.ReadVolume{Id: v.ID, Label: v.Label, Pool: v.Pool, Path: v.Path, BlockSize: int32(v.BlockSize), CreatedUnixNano: rpc.Nanos(v.Created)})
	}
	return rc, nil
}
