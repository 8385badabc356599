// Package mediaagent implements the media agents. A backup media agent
// (BMA) owns the buffers of one column of the topology and exactly one
// device: its program module multiplexes the records of its buffers into
// one sequence of blocks on the device, spanning onto the next volume of its
// pool when one fills, and reports each copy's extents as their blocks
// reach the medium (OnExtent). A restore media agent (RMA, rma.go) does
// the inverse for copy jobs: it reads volumes and splits their single
// sequence into the buffers of the selected objects.
//
// The media agents are the only code that reads copies back: every read
// (the RMA, restores in stream and seek, verify) goes through one
// ExtentReader (extents.go), which mounts volumes through an injected
// Volumes, checks their labels, reads only the extents' blocks, reports
// damage and counts the blocks and bytes read per volume; the fallback
// from one copy to another for one object is ReadCopies and SeekReader
// (copies.go).
//
// Multiplexing keeps the device streaming while any buffer has data, and
// writes each object in long runs (extents): the BMA stays on one buffer
// while it has records, and moves on when the run reached ExtentTarget
// while another buffer fills up, or when its buffer ran dry. A buffer that
// runs dry in the middle of a run is waited for a short while (HoldRun)
// unless another buffer holds an eighth of its capacity, enough for a run
// worth moving to: sources are usually slower than the
// device, and moving on at every pause cuts an object into many short
// extents, each of which costs a reader up to two blocks of other objects.
// That rule is the Policy (policy.go), apart from cursors and clock, so
// that the simulator (internal/simulate) runs it on a virtual clock.
package mediaagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"daisy/internal/buffers"
	"daisy/internal/device"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// Mount is a volume mounted on the media agent's device for writing.
type Mount struct {
	Medium device.Medium
	Label  volume.Label
	// At is the block where the session starts (the number of valid
	// blocks on the volume).
	At int64
}

// VolumeSource hands volumes of a pool to a media agent's device. Its
// methods are called from the media agent's goroutine.
type VolumeSource interface {
	// Next mounts the next volume to write on.
	Next(ctx context.Context) (Mount, error)
	// Release unmounts a volume after a session: the blocks on it, whether
	// it is full, and the session's failure if it failed (then blocks
	// written by the session must not count, and are best cut from the
	// medium at once, which frees their space).
	Release(ctx context.Context, m Mount, blocks int64, full bool, failed error) error
}

// Input is one buffer of the media agent, read through its cursor.
type Input struct {
	Name   string // e.g. "BMA124.B2"
	Cursor *buffers.Cursor
	Copy   int // copy number the objects of this buffer get on this device
	// CopyFor, if set, gives the copy number per object instead of Copy:
	// in a copy job the new copies of different objects get different
	// numbers (the next free one of each object).
	CopyFor func(records.ID) int
	// Role and Level describe the copy (backup, mirror level k, copy
	// stage k) in the copy marks written on the volumes.
	Role  string
	Level int
}

func (in *Input) copyOf(id records.ID) int {
	if in.CopyFor != nil {
		return in.CopyFor(id)
	}
	return in.Copy
}

// Extent is a run of consecutive blocks of one volume holding records of
// one object's copy.
type Extent struct {
	VolumeID    records.ID
	Label       string
	FirstBlock  int64
	LastBlock   int64
	FirstOffset uint64 // object offset of the first record in the run
	EndOffset   uint64 // object offset after the last data byte in the run
	Records     int64
	Bytes       int64 // payload bytes
}

// ExtentReport is one extent of a copy as it stands once a block holding
// records of it is on the medium: Seq numbers the copy's extents from 0,
// and a report of a Seq reported before replaces it (the run grew by the
// block). A remote media agent sends these to the job as it writes.
type ExtentReport struct {
	Object records.ID
	Copy   int
	Seq    int
	Extent Extent
}

// CopyResult is what the media agent did with one object.
type CopyResult struct {
	Object  records.ID
	Copy    int
	Input   string
	Extents []Extent
	Bytes   int64 // payload bytes written
	// Err is nil when the object's records, End included, are on the
	// device and synced.
	Err error
}

// BMA is a backup media agent.
type BMA struct {
	Name    string
	Device  string
	Inputs  []Input
	Volumes VolumeSource
	// Notify is the channel the inputs' cursors were attached with.
	Notify chan struct{}
	// Session describes the write sessions this agent opens (job, host).
	Session volume.SessionInfo
	// ExtentTarget is the run length after which the agent moves to a
	// buffer that is filling up (default 64 MiB).
	ExtentTarget int64
	// IdleFlush is how long a partly filled block waits for more records
	// before it is written anyway (default 200 ms).
	IdleFlush time.Duration
	// HoldRun is how long the agent waits for the buffer of the run it is
	// writing when that buffer runs dry and no other holds an eighth of
	// its capacity, before it moves on (default 50 ms).
	HoldRun time.Duration
	// OnWrite, if set, is called after each block with the bytes written.
	OnWrite func(n int)
	// OnExtent, if set, is called after each block, for each copy with
	// records in it, with the copy's extent that the block made or grew.
	// The job records a copy's extents from these (CopyResult.Extents
	// holds the same, at the end).
	OnExtent func(ExtentReport)

	objs    map[records.ID]*objState
	order   []records.ID
	mount   Mount
	w       *volume.Writer
	volumes []string
}

type objState struct {
	id       records.ID
	copy     int
	input    *Input
	marked   *volume.Writer // the writer on which the copy mark was written
	markedIn int64          // and the block it went into
	extents  []Extent
	bytes    int64
	gotEnd   bool // the End record reached the agent
	ended    bool // the End record is on the medium
	err      error
}

// VolumesWritten returns the labels of the volumes written, in order.
func (a *BMA) VolumesWritten() []string { return a.volumes }

// Run multiplexes the inputs onto the device until every input has ended.
// It returns one result per object seen. A device failure does not stop
// the chain: the agent detaches from its buffers, marks every copy not yet
// complete as failed, and returns the error.
func (a *BMA) Run(ctx context.Context) ([]CopyResult, error) {
	if a.ExtentTarget <= 0 {
		a.ExtentTarget = 64 << 20
	}
	if a.IdleFlush <= 0 {
		a.IdleFlush = 200 * time.Millisecond
	}
	if a.HoldRun <= 0 {
		a.HoldRun = 50 * time.Millisecond
	}
	a.objs = map[records.ID]*objState{}
	err := a.mux(ctx)
	if err == nil && a.w != nil {
		err = a.finish(ctx)
	}
	if err != nil {
		for _, in := range a.Inputs {
			in.Cursor.Detach()
		}
		if a.w != nil {
			a.w.Abandon(err)
			_ = a.Volumes.Release(ctx, a.mount, a.w.Blocks(), false, err)
			a.w = nil
		}
	}
	res := make([]CopyResult, 0, len(a.order))
	for _, id := range a.order {
		st := a.objs[id]
		r := CopyResult{Object: id, Copy: st.copy, Input: st.input.Name, Extents: st.extents, Bytes: st.bytes, Err: st.err}
		switch {
		case r.Err != nil:
		case err != nil:
			r.Err = fmt.Errorf("media agent %s on %s: %w", a.Name, a.Device, err)
		case !st.ended:
			r.Err = fmt.Errorf("media agent %s: object %s ended without its end record", a.Name, id)
		}
		res = append(res, r)
	}
	return res, err
}

func (a *BMA) mux(ctx context.Context) error {
	f := &cursorFeeds{a: a, ended: make([]bool, len(a.Inputs)), nlive: len(a.Inputs)}
	p := NewPolicy(a.ExtentTarget, a.HoldRun)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for f.nlive > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		i, hold := p.Next(f)
		if i >= 0 {
			in, r := &a.Inputs[i], f.rec
			f.rec = nil
			n := r.Len()
			err := a.write(ctx, in, r)
			in.Cursor.Ack()
			if err != nil {
				return err
			}
			p.Wrote(f, i, int64(n))
			continue
		}
		if f.nlive == 0 {
			continue
		}
		if !hold.IsZero() {
			// Wait for the run's buffer (or any), at most until the
			// hold ends.
			timer.Reset(time.Until(hold))
			select {
			case <-a.Notify:
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
			timer.Stop()
			continue
		}
		// Nothing to write now: wait for a record; write a partly filled
		// block if the wait lasts.
		if a.w != nil && a.w.Pending() > 0 {
			timer.Reset(a.IdleFlush)
			select {
			case <-a.Notify:
				timer.Stop()
			case <-timer.C:
				if err := a.flush(ctx); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		select {
		case <-a.Notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// cursorFeeds shows the BMA's cursors to its Policy. Poll takes the record
// of a Ready input (rec), which the agent then writes, and handles the
// end of an input.
type cursorFeeds struct {
	a     *BMA
	ended []bool
	nlive int
	rec   *records.Record
}

func (f *cursorFeeds) Len() int { return len(f.a.Inputs) }

func (f *cursorFeeds) Poll(i int) buffers.State {
	if f.ended[i] {
		return buffers.Done
	}
	in := &f.a.Inputs[i]
	r, st := in.Cursor.TryNext()
	switch st {
	case buffers.Done:
		f.ended[i] = true
		f.nlive--
		f.a.inputEnded(in)
	case buffers.Ready:
		f.rec = r
	}
	return st
}

func (f *cursorFeeds) Holds(i int, part int64) bool {
	s := f.a.Inputs[i].Cursor.Buffer().Stats()
	return s.Used*part >= s.Capacity
}

// inputEnded marks the objects of an input that ended without their End
// record as failed (the producer broke off).
func (a *BMA) inputEnded(in *Input) {
	err := in.Cursor.Err()
	for _, id := range a.order {
		st := a.objs[id]
		if st.input == in && !st.gotEnd && st.err == nil {
			if err == nil {
				err = errors.New("stream ended without the object's end record")
			}
			st.err = fmt.Errorf("buffer %s: %w", in.Name, err)
		}
	}
}

func (a *BMA) write(ctx context.Context, in *Input, r *records.Record) error {
	var st *objState
	if r.Type().IsObject() {
		id := r.Object()
		st = a.objs[id]
		if st == nil {
			st = &objState{id: id, copy: in.copyOf(id), input: in}
			a.objs[id] = st
			a.order = append(a.order, id)
		}
		if r.Type() == records.TypeEnd {
			st.gotEnd = true
		}
	}
	if a.w == nil {
		if err := a.mountNext(ctx, ""); err != nil {
			return err
		}
	}
	if st != nil && (st.marked != a.w || st.markedIn != a.w.Blocks()) {
		// Every block says which copy the objects in it belong to, so a
		// volume read without the catalog can tell, whatever blocks were
		// damaged: the mark goes into the same block as the record.
		if a.w.Room() < len(a.copyMark(r.Object(), st))+r.Len() {
			if err := a.flush(ctx); err != nil {
				return err
			}
		}
		if err := a.mark(ctx, r.Object(), st); err != nil {
			return err
		}
	}
	err := a.w.Add(r.Bytes())
	if errors.Is(err, volume.ErrVolumeFull) {
		if err = a.span(ctx); err == nil {
			err = a.w.Add(r.Bytes())
		}
	}
	return err
}

// copyMark encodes the CopyMark record of an object's copy. The first
// mark on a volume names the media agent; the marks repeated in later
// blocks leave it out, so that a mark always fits the room a block of four
// full data records leaves.
func (a *BMA) copyMark(id records.ID, st *objState) []byte {
	ci := records.CopyInfo{Copy: st.copy, Role: st.input.Role, Level: st.input.Level}
	if st.marked != a.w {
		ci.MediaAgent = a.Name
	}
	p, _ := json.Marshal(ci) // a plain struct always marshals
	return records.Encode(nil, records.TypeCopyMark, id, 0, 0, p)
}

// mark writes the copy mark of an object on the current volume.
func (a *BMA) mark(ctx context.Context, id records.ID, st *objState) error {
	rec := a.copyMark(id, st)
	err := a.w.Add(rec)
	if errors.Is(err, volume.ErrVolumeFull) {
		if err = a.span(ctx); err == nil {
			err = a.w.Add(rec)
		}
	}
	if err == nil {
		st.marked, st.markedIn = a.w, a.w.Blocks()
	}
	return err
}

func (a *BMA) flush(ctx context.Context) error {
	err := a.w.Flush()
	if errors.Is(err, volume.ErrVolumeFull) {
		if err = a.span(ctx); err == nil {
			err = a.w.Flush()
		}
	}
	return err
}

func (a *BMA) mountNext(ctx context.Context, previous string) error {
	m, err := a.Volumes.Next(ctx)
	if err != nil {
		return fmt.Errorf("media agent %s: mount a volume on %s: %w", a.Name, a.Device, err)
	}
	s := a.Session
	s.Session = records.NewID()
	s.MediaAgent = a.Name
	s.Previous = previous
	s.Time = time.Now().UTC()
	w, err := volume.NewWriter(m.Medium, m.Label, volume.WriterOptions{Session: s, At: m.At, OnBlock: a.onBlock})
	if err != nil {
		_ = a.Volumes.Release(ctx, m, m.At, false, err)
		return err
	}
	a.mount, a.w = m, w
	a.volumes = append(a.volumes, m.Label.Label)
	return nil
}

// span moves writing to the next volume of the pool after the current one
// reached its early warning.
func (a *BMA) span(ctx context.Context) error {
	old, oldMount := a.w, a.mount
	if err := a.mountNext(ctx, old.Label().Label); err != nil {
		a.w, a.mount = old, oldMount
		return err
	}
	// Objects still being written continue on the new volume: their copy
	// marks go first, before the records carried over from the old one.
	err := func() error {
		for _, id := range a.order {
			if st := a.objs[id]; !st.ended && st.err == nil {
				if err := a.w.Add(a.copyMark(id, st)); err != nil {
					return err
				}
				st.marked, st.markedIn = a.w, a.w.Blocks()
			}
		}
		return old.Span(a.w)
	}()
	if err != nil {
		// The old volume got no trailer: its session failed as well, and
		// Run releases only the new one.
		old.Abandon(err)
		_ = a.Volumes.Release(ctx, oldMount, old.Blocks(), false, err)
		return err
	}
	return a.Volumes.Release(ctx, oldMount, old.Blocks(), true, nil)
}

func (a *BMA) finish(ctx context.Context) error {
	if err := a.w.Finish(); err != nil {
		return err
	}
	err := a.Volumes.Release(ctx, a.mount, a.w.Blocks(), false, nil)
	a.w = nil
	return err
}

// onBlock extends the extents of the objects whose records a block holds.
func (a *BMA) onBlock(b volume.BlockInfo) {
	written := 0
	var touched []*objState // copies with records in the block, in order
	for _, rec := range b.Records {
		written += records.HeaderSize + int(rec.Len)
		if !rec.Type.IsObject() {
			continue
		}
		st := a.objs[rec.Object]
		if st == nil {
			continue
		}
		start, end := rec.Offset, rec.Offset
		if rec.Type.IsData() {
			end += uint64(rec.Data)
			st.bytes += int64(rec.Len)
		}
		if rec.Type == records.TypeEnd {
			st.ended = true
		}
		if len(touched) == 0 || !slices.Contains(touched, st) {
			touched = append(touched, st)
		}
		n := len(st.extents)
		if n > 0 && st.extents[n-1].VolumeID == b.Volume && st.extents[n-1].LastBlock+1 >= b.Block {
			e := &st.extents[n-1]
			e.LastBlock = b.Block
			e.EndOffset = max(e.EndOffset, end)
			e.Records++
			e.Bytes += int64(rec.Len)
			continue
		}
		st.extents = append(st.extents, Extent{
			VolumeID: b.Volume, Label: b.Label, FirstBlock: b.Block, LastBlock: b.Block,
			FirstOffset: start, EndOffset: end, Records: 1, Bytes: int64(rec.Len),
		})
	}
	if a.OnExtent != nil {
		for _, st := range touched {
			n := len(st.extents)
			a.OnExtent(ExtentReport{Object: st.id, Copy: st.copy, Seq: n - 1, Extent: st.extents[n-1]})
		}
	}
	if a.OnWrite != nil {
		a.OnWrite(written)
	}
}
