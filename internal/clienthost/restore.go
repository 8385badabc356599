package clienthost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/extract"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// maxProblems bounds the problems a RestoreDone lists.
const maxProblems = 1000

// Restore extracts the order's parts, in order, into its target (see the
// package comment) and ends with RestoreDone: Entries counts the entries
// restored (neither kept, refused, failed nor cut by a lost range), Bytes
// the object stream bytes read; Problems lists the entries that could not
// be written, a count of the existing ones kept (without overwrite), and
// the ranges lost; Error says which part failed and which ranges were
// lost. The call itself fails only for a refused or malformed order.
//
// The existing tree is handled as the all-in-one restore does: without
// overwrite an existing entry is kept, with it replaced (never written
// through: extract removes it first). Resume is carried out as overwrite:
// the agent knows the entries of a part by their offsets only, not their
// sizes and times, so the server's selection is what leaves out the
// entries an interrupted restore finished.
func (a *Agent) Restore(order *pb.RestoreOrder, stream pb.Agent_RestoreServer) error {
	ctx := stream.Context()
	if _, err := rpc.Require(ctx, pki.RoleServer); err != nil {
		return err
	}
	if err := a.checkRestore(order); err != nil {
		return err
	}
	target := filepath.Clean(order.GetTarget())
	log := a.log.With("job", order.GetJob(), "target", target)
	r := &restoreRun{a: a, order: order, target: target, log: log, stream: stream}
	done := r.run(ctx)
	if done.GetError() != "" {
		log.Warn("restore failed", "err", done.GetError(), "entries", done.GetEntries())
	} else {
		log.Info("restore done", "entries", done.GetEntries(), "bytes", done.GetBytes(), "problems", len(done.GetProblems()))
	}
	return r.send(&pb.RestoreEvent{Event: &pb.RestoreEvent_Done{Done: done}})
}

// checkRestore refuses an order that cannot run.
func (a *Agent) checkRestore(o *pb.RestoreOrder) error {
	bad := func(format string, args ...any) error {
		return status.Errorf(codes.InvalidArgument, "agent %s: restore order of job %d: %s", a.name, o.GetJob(), fmt.Sprintf(format, args...))
	}
	if !filepath.IsAbs(o.GetTarget()) {
		return bad("the target %q is not an absolute directory", o.GetTarget())
	}
	if len(o.GetParts()) == 0 {
		return bad("no parts to restore")
	}
	for i, p := range o.GetParts() {
		if p.GetObject() == "" || p.GetTicket() == "" || p.GetHost() == "" || p.GetAddress() == "" {
			return bad("part %d names no object, ticket, media host and address (%v)", i+1, p)
		}
	}
	return nil
}

// restoreRun is one restore order being carried out.
type restoreRun struct {
	a      *Agent
	order  *pb.RestoreOrder
	target string
	log    *slog.Logger

	sendMu sync.Mutex
	stream pb.Agent_RestoreServer

	entries, bytes atomic.Int64 // for progress: entries kept, stream bytes read

	// Used by the extracting goroutine only.
	problems []string
	kept     int64
	cut      int64    // entries begun, then cut by a lost range
	lost     []string // the ranges lost and what they cost
}

func (r *restoreRun) send(ev *pb.RestoreEvent) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	return r.stream.Send(ev)
}

func (r *restoreRun) problem(s string) {
	if len(r.problems) < maxProblems {
		r.problems = append(r.problems, s)
	}
}

func (r *restoreRun) run(ctx context.Context) *pb.RestoreDone {
	o := r.order
	sess, err := extract.Open(extract.Options{
		Target: r.target, Overwrite: o.GetOverwrite() || o.GetResume(), Owners: os.Geteuid() == 0,
		OnError: func(name string, err error) {
			if errors.Is(err, extract.ErrExists) {
				r.kept++ // said once, as a count
				return
			}
			r.problem(problem(r.target, name, err))
		},
	})
	if err != nil {
		return &pb.RestoreDone{Error: fmt.Sprintf("restore into %s: %v", r.target, err)}
	}
	stopProgress := r.progress()
	var runErr error
	for i, p := range o.GetParts() {
		r.log.Debug("restore: reading part", "part", i+1, "object", p.GetObject(), "source", p.GetSource(), "host", p.GetHost(), "whole", p.GetWhole())
		if err := r.part(ctx, sess, p); err != nil {
			runErr = fmt.Errorf("object %s of %s (part %d of %d): %w", p.GetObject(), p.GetSource(), i+1, len(o.GetParts()), err)
			break
		}
	}
	st := sess.Close()
	stopProgress()
	done := &pb.RestoreDone{Entries: st.Entries - st.Skipped - st.Refused - st.Failed - r.cut, Bytes: r.bytes.Load()}
	if r.kept > 0 {
		r.problem(fmt.Sprintf("%s: %d entries exist in the target and were kept, not overwritten (restore with overwrite to replace them)", r.target, r.kept))
	}
	var msgs []string
	if len(r.lost) > 0 {
		msgs = append(msgs, r.lost...)
		for _, l := range r.lost {
			r.problem(l)
		}
	}
	if runErr != nil {
		if ctx.Err() != nil {
			runErr = fmt.Errorf("%w (%v)", runErr, context.Cause(ctx))
		}
		msgs = append(msgs, runErr.Error())
	}
	done.Problems = r.problems
	done.Error = strings.Join(msgs, "; ")
	return done
}

// progress sends RestoreProgress every progressEvery until the function
// it returns is called (which waits for the last one).
func (r *restoreRun) progress() func() {
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
				_ = r.send(&pb.RestoreEvent{Event: &pb.RestoreEvent_Progress{Progress: &pb.RestoreProgress{Entries: r.entries.Load(), Bytes: r.bytes.Load()}}})
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// part extracts one part: its stream read from its media host, its
// entries picked (all of them, or the server's selection).
func (r *restoreRun) part(ctx context.Context, sess *extract.Session, p *pb.RestorePart) error {
	conn, err := rpc.DialPeer(r.a.creds, pki.Peer{Role: pki.RoleMediaHost, Name: p.GetHost()}, p.GetAddress())
	if err != nil {
		return fmt.Errorf("media host %s: %w", p.GetHost(), err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := pb.NewMediaHostClient(conn).Read(ctx, &pb.ReadRequest{Ticket: p.GetTicket()})
	if err != nil {
		return fmt.Errorf("read from media host %s at %s: %s", p.GetHost(), p.GetAddress(), rpc.Message(err))
	}
	rd := &chunkReader{stream: rs, host: p.GetHost(), count: &r.bytes}
	pk := &picker{run: r, whole: p.GetWhole(), object: p.GetObject()}
	pk.open = func() (*offsets, error) {
		ss, err := r.a.server.RestoreSelection(ctx, &pb.SelectionRequest{Job: r.order.GetJob(), Object: p.GetObject()})
		if err != nil {
			return nil, fmt.Errorf("the server's selection of its entries: %s", rpc.Message(err))
		}
		return &offsets{stream: ss}, nil
	}
	if !pk.whole {
		if pk.sel, err = pk.open(); err != nil {
			return err
		}
	}
	if err := r.extractLossy(ctx, sess, rd, pk); err != nil {
		return err
	}
	return pk.end()
}

// extractLossy extracts the stream of rd into sess, going on after each
// lost range at the next entry the selection has after it.
func (r *restoreRun) extractLossy(ctx context.Context, sess *extract.Session, rd *chunkReader, pk *picker) error {
	base := int64(0)
	for {
		err := sess.Extract(ctx, rd, base, pk.keep)
		if err == nil {
			// What the stream has after the archive's end is read too:
			// its end is where the media host says whether it was whole.
			return r.drain(rd, pk)
		}
		var lost *lostError
		if !errors.As(err, &lost) {
			return err
		}
		cut, ok := extract.CutAt(err)
		if !ok {
			cut = lost.r.GetFrom()
		}
		pos := lost.r.GetTo()
		for {
			next, n, err := pk.lose(cut, pos)
			r.lost = append(r.lost, lost.cost(pk.object, n, next))
			if err != nil {
				return fmt.Errorf("%v, and the entries after it cannot be found: %w", lost, err)
			}
			if next < 0 {
				return r.drain(rd, pk)
			}
			skipped, err := io.CopyN(io.Discard, rd, next-pos)
			if errors.As(err, &lost) {
				// Another lost range before the entry: on after it.
				cut, pos = pos+skipped, lost.r.GetTo()
				continue
			}
			if err != nil {
				return err
			}
			base = next
			break
		}
	}
}

// drain reads rd to its end, over lost ranges (after the archive's end
// they cost no entry).
func (r *restoreRun) drain(rd *chunkReader, pk *picker) error {
	for {
		_, err := io.Copy(io.Discard, rd)
		var lost *lostError
		if !errors.As(err, &lost) {
			return err
		}
		r.lost = append(r.lost, lost.cost(pk.object, 0, -1))
	}
}

// problem is the text of an entry's problem: its path in the target, then
// the error without the entry name it repeats.
func problem(target, name string, err error) string {
	msg := err.Error()
	if q := strconv.Quote(name); strings.Contains(msg, q) {
		msg = strings.Replace(strings.Replace(msg, q+": ", "", 1), ": "+q, "", 1)
	}
	return filepath.Join(target, name) + ": " + msg
}

// chunkReader reads the object stream of a MediaHost.Read: the chunks'
// data in order; where a chunk says a range was lost, a *lostError once,
// then the data after the range.
type chunkReader struct {
	stream pb.MediaHost_ReadClient
	host   string
	cur    []byte
	pos    int64 // stream offset of cur's end
	count  *atomic.Int64
	err    error
}

// lostError is what a chunkReader returns where a range was lost.
type lostError struct{ r *pb.LostRange }

func (e *lostError) Error() string {
	return fmt.Sprintf("bytes %d to %d of the object could not be read from any copy: %s", e.r.GetFrom(), e.r.GetTo(), e.r.GetError())
}

// cost says what the range cost: n entries, and where the restore went on.
func (e *lostError) cost(object string, n, next int64) string {
	s := fmt.Sprintf("object %s: %v", object, e)
	switch {
	case n > 0 && next >= 0:
		s += fmt.Sprintf("; %d entries in it were not restored, the restore went on at offset %d", n, next)
	case n > 0:
		s += fmt.Sprintf("; %d entries in it were not restored", n)
	case next >= 0:
		s += fmt.Sprintf("; the restore went on at offset %d", next)
	}
	return s
}

func (c *chunkReader) Read(b []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		m, err := c.stream.Recv()
		if errors.Is(err, io.EOF) {
			c.err = io.EOF
			return 0, io.EOF
		}
		if err != nil {
			c.err = fmt.Errorf("reading the object from media host %s at offset %d: %s", c.host, c.pos, rpc.Message(err))
			return 0, c.err
		}
		if l := m.GetLost(); l != nil {
			if l.GetFrom() != c.pos || l.GetTo() < l.GetFrom() {
				c.err = fmt.Errorf("media host %s: a lost range of bytes %d to %d at offset %d of the stream", c.host, l.GetFrom(), l.GetTo(), c.pos)
				return 0, c.err
			}
			c.pos = l.GetTo()
			c.cur = m.GetData() // data after the range, if the chunk has any
			c.pos += int64(len(c.cur))
			return 0, &lostError{r: l}
		}
		c.cur = m.GetData()
		c.pos += int64(len(c.cur))
	}
	n := copy(b, c.cur)
	c.cur = c.cur[n:]
	c.count.Add(int64(n))
	return n, nil
}

// offsets are the ascending entry offsets of a Server.RestoreSelection
// stream, received as they are wanted.
type offsets struct {
	stream pb.Server_RestoreSelectionClient
	buf    []int64
	last   int64
	any    bool
	done   bool
	err    error
}

// peek returns the next offset without taking it; false at the end of the
// stream (or on its failure, which err then holds).
func (o *offsets) peek() (int64, bool) {
	for len(o.buf) == 0 {
		if o.done {
			return 0, false
		}
		m, err := o.stream.Recv()
		if err != nil {
			o.done = true
			if !errors.Is(err, io.EOF) {
				o.err = fmt.Errorf("the server's selection of its entries: %s", rpc.Message(err))
			}
			return 0, false
		}
		o.buf = m.GetOffsets()
	}
	v := o.buf[0]
	if o.any && v <= o.last || v < 0 {
		o.done, o.buf = true, nil
		o.err = fmt.Errorf("the server's selection of its entries gives offset %d after %d: offsets must ascend", v, o.last)
		return 0, false
	}
	return v, true
}

// advance takes the offset peek returned.
func (o *offsets) advance() {
	if len(o.buf) > 0 {
		o.last, o.any = o.buf[0], true
		o.buf = o.buf[1:]
	}
}

// picker picks the entries of one part as its stream goes by: all of
// them (whole), or those whose offsets the server selected.
type picker struct {
	run    *restoreRun
	object string
	whole  bool
	sel    *offsets // the selection; for a whole part, opened at a lost range
	open   func() (*offsets, error)
	cur    int64 // offset of the last entry kept
	kept   bool  // cur is set
	// missing counts the selected entries the stream did not have where
	// the server said; missed holds the first of them.
	missing int64
	missed  []string
}

// keep is the extractor's keep function.
func (p *picker) keep(off int64, name string) bool {
	if p.whole {
		p.cur, p.kept = off, true
		p.run.entries.Add(1)
		return true
	}
	v, ok := p.sel.peek()
	for ; ok && v < off; v, ok = p.sel.peek() {
		p.miss(v)
		p.sel.advance()
	}
	if !ok || v != off {
		return false
	}
	p.sel.advance()
	p.cur, p.kept = off, true
	p.run.entries.Add(1)
	return true
}

func (p *picker) miss(off int64) {
	p.missing++
	if len(p.missed) < 20 {
		p.missed = append(p.missed, strconv.FormatInt(off, 10))
	}
}

// lose takes the entries that a range lost from cut (where the entry it
// cut starts) to pos (where the stream goes on): it returns how many
// were to be restored and the offset of the next entry to restore after
// pos (-1 if none).
func (p *picker) lose(cut, pos int64) (next, n int64, err error) {
	cutKept := int64(-1)
	if p.kept && p.cur >= cut {
		n++ // kept, then cut: counted as read by the session, not restored
		cutKept, p.kept = p.cur, false
		p.run.cut++
		p.run.entries.Add(-1)
	}
	if p.sel == nil {
		// A whole part: the entries are found through the selection.
		if p.sel, err = p.open(); err != nil {
			return -1, n, err
		}
	}
	v, ok := p.sel.peek()
	for ; ok && v < pos; v, ok = p.sel.peek() {
		switch {
		case v < cut:
			// Extracted before the range (whole), or not in the stream.
			if !p.whole {
				p.miss(v)
			}
		case v != cutKept:
			n++
		}
		p.sel.advance()
	}
	if p.sel.err != nil {
		return -1, n, p.sel.err
	}
	if !ok {
		return -1, n, nil
	}
	return v, n, nil
}

// end says how the picking ended: a failed selection, or selected entries
// that the stream did not have.
func (p *picker) end() error {
	if p.whole {
		return nil
	}
	for v, ok := p.sel.peek(); ok; v, ok = p.sel.peek() {
		p.miss(v)
		p.sel.advance()
	}
	if p.sel.err != nil {
		return p.sel.err
	}
	if p.missing > 0 {
		return fmt.Errorf("%d entries the server selected are not in the object where it says (offsets %s): they were not restored", p.missing, strings.Join(p.missed, ", "))
	}
	return nil
}
