package mediaagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"daisy/internal/records"
	"daisy/internal/volume"
)

// Reading one object from its copies: ReadCopies streams it whole,
// SeekReader reads it from any offset. Both read each copy through an
// ExtentReader and fail over per range, both ways: when a copy cannot give
// a record (volume missing, damaged block), another copy gives it from
// that record (or offset) on, and a copy that failed further back is used
// again for a later range. A copy that failed keeps the first record it
// has after its damage, so each copy is known to lack only the records
// before that one.

// ObjectInfo names the object read, for messages and bounds.
type ObjectInfo struct {
	ID     records.ID
	Source string
	Length int64 // the object stream's length, from the catalog
}

// ObjectCopy is one copy of the object to read: its number and how to
// get a reader of its extents (called when the copy is first needed; an
// error makes the copy unreadable).
type ObjectCopy struct {
	Number int
	Open   func() (*ExtentReader, error)
}

// CopyAttempt is one copy a read tried: Error says why it stopped at
// offset At (empty for the copy that completed the read).
type CopyAttempt struct {
	Copy  int    `json:"copy"`
	Error string `json:"error,omitempty"`
	At    int64  `json:"at,omitempty"`
}

// LostRange is a byte range of an object stream that no copy could give:
// [From, To) was not delivered, and the read went on at To.
type LostRange struct {
	From  int64  `json:"from"`
	To    int64  `json:"to"`
	Error string `json:"error"` // what each copy said
}

// SinkError marks a failure of the stream's consumer, not of a copy.
type SinkError struct{ Err error }

func (e *SinkError) Error() string { return e.Err.Error() }
func (e *SinkError) Unwrap() error { return e.Err }

// SinkWriter marks the errors of W as the consumer's (SinkError), so that
// a read does not take them for a copy's.
type SinkWriter struct{ W io.Writer }

func (s SinkWriter) Write(p []byte) (int, error) {
	n, err := s.W.Write(p)
	if err != nil {
		err = &SinkError{err}
	}
	return n, err
}

// CopiesRead says how ReadCopies read an object.
type CopiesRead struct {
	Copy        int // the copy that completed the read
	Attempts    []CopyAttempt
	Lost        []LostRange
	BytesRead   int64
	VolumesRead []VolumeRead
}

// ReadCopies gives asm the records of the object from its copies, in
// order, switching copies per range as the package says. A range that no
// copy has goes to onLost, which may be nil (then such a range ends the
// read with an error): the assembler skips it and the read goes on at the
// first record any copy has after it. Errors of asm's writer (SinkError),
// an aborted object and ctx end the read at once.
func ReadCopies(ctx context.Context, obj ObjectInfo, copies []ObjectCopy, asm *records.Assembler, onLost func(LostRange) error, log *slog.Logger) (*CopiesRead, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &CopiesRead{}
	s := &objStream{ctx: ctx, obj: obj, asm: asm, log: log, res: res}
	for _, cp := range copies {
		sc := &streamCopy{number: cp.Number}
		var err error
		if sc.c, err = cp.Open(); err != nil {
			sc.c = nil
			sc.fail(0, nil, err)
		}
		s.copies = append(s.copies, sc)
	}
	defer s.close()
	if len(s.copies) == 0 {
		return res, fmt.Errorf("object %s of %s: no copy to read", obj.ID, obj.Source)
	}
	if err := s.run(onLost); err != nil {
		return res, err
	}
	res.Copy = s.copies[s.cur].number
	return res, nil
}

// streamCopy is one copy of a Stream with where it stands: a copy that
// failed at record failSeq keeps the first record it has after the damage
// (peek), so that it fails for every record before that one and serves
// from there on.
type streamCopy struct {
	number  int
	c       *ExtentReader // nil when its extents could not be listed
	failed  bool
	failSeq uint32
	peek    *volume.Record // first record after the damage; nil: none
	err     error          // why it failed
	at      int64          // offset of the last record it gave
	started bool
}

func (sc *streamCopy) fail(seq uint32, peek *volume.Record, err error) {
	sc.failed, sc.failSeq, sc.peek, sc.err = true, seq, peek, err
	if peek != nil {
		sc.at = int64(peek.Header.Offset)
	}
}

// failsAt reports whether the copy is known not to have record seq.
func (sc *streamCopy) failsAt(seq uint32) bool {
	return sc.failed && sc.failSeq <= seq && (sc.peek == nil || sc.peek.Header.Seq > seq)
}

// objStream is the state of one Stream.
type objStream struct {
	ctx    context.Context
	obj    ObjectInfo
	asm    *records.Assembler
	log    *slog.Logger
	res    *CopiesRead
	copies []*streamCopy
	cur    int
}

func (s *objStream) close() {
	for _, sc := range s.copies {
		if sc.c != nil {
			s.res.BytesRead += sc.c.BytesRead()
			s.res.VolumesRead = AddReads(s.res.VolumesRead, sc.c.Reads())
			sc.c.Close()
		}
	}
}

// run assembles the object, switching copies where one fails.
func (s *objStream) run(onLost func(LostRange) error) error {
	for !s.asm.Done() {
		need := s.asm.NextSeq()
		sc := s.copies[s.cur]
		if !sc.failsAt(need) {
			err := s.feed(sc)
			if err == nil {
				continue // done
			}
			if se := (*SinkError)(nil); errors.As(err, &se) || s.ctx.Err() != nil || errors.Is(err, records.ErrAborted) {
				return err
			}
			s.res.Attempts = append(s.res.Attempts, CopyAttempt{Copy: sc.number, Error: sc.err.Error(), At: int64(s.asm.Offset())})
			s.log.Warn("copy unreadable", "object", s.obj.ID.String(), "copy", sc.number, "at_offset", s.asm.Offset(), "err", sc.err)
		}
		// Another copy that may have record need.
		next := -1
		for k := 1; k <= len(s.copies); k++ {
			if j := (s.cur + k) % len(s.copies); !s.copies[j].failsAt(need) {
				next = j
				break
			}
		}
		if next >= 0 {
			s.cur = next
			continue
		}
		// No copy has it: go on at the first record any copy has after
		// the damage.
		var msgs []string
		best := -1
		for j, c := range s.copies {
			msgs = append(msgs, fmt.Sprintf("copy %d: %v", c.number, c.err))
			if c.peek != nil && (best < 0 || c.peek.Header.Seq < s.copies[best].peek.Header.Seq) {
				best = j
			}
		}
		lost := LostRange{From: int64(s.asm.Offset()), To: s.obj.Length, Error: strings.Join(msgs, "; ")}
		if best >= 0 {
			lost.To = int64(s.copies[best].peek.Header.Offset)
		}
		if onLost == nil {
			return fmt.Errorf("object %s of %s: no copy could be read at offset %d: %s", s.obj.ID, s.obj.Source, lost.From, lost.Error)
		}
		s.res.Lost = append(s.res.Lost, lost)
		s.log.Warn("range unreadable on every copy", "object", s.obj.ID.String(), "from", lost.From, "to", lost.To, "err", lost.Error)
		if best < 0 {
			return onLost(lost) // to the end of the object
		}
		if _, err := s.asm.Skip(s.copies[best].peek.Header); err != nil {
			return err
		}
		if err := onLost(lost); err != nil {
			return err
		}
		s.cur = best
	}
	return nil
}

// feed gives the assembler records of sc from the one it expects, until the
// End (nil) or until sc fails (the reason in sc.err) or the consumer does.
func (s *objStream) feed(sc *streamCopy) error {
	need := s.asm.NextSeq()
	c := sc.c
	var rec volume.Record
	haveRec := false
	if sc.peek != nil && sc.peek.Header.Seq <= need {
		rec, haveRec = *sc.peek, true
		sc.peek = nil
	}
	sc.failed = false
	// Far behind (or never read): search for the block instead of
	// reading up to it.
	if !haveRec && (!sc.started || int64(s.asm.Offset())-sc.at > skipAhead) {
		var err error
		if need == 0 {
			err = c.Start(0)
		} else {
			err = c.SeekNear(int64(s.asm.Offset()))
		}
		if err != nil {
			c.Close()
			sc.fail(need, nil, err)
			return err
		}
		c.TakeDamage()
		sc.started = true
	}
	for {
		if !haveRec {
			var err error
			rec, err = c.Next()
			if err == io.EOF {
				err = c.TakeDamageErr()
				if err == nil {
					err = fmt.Errorf("the copy's extents end at offset %d before the object's end record", s.asm.Offset())
				}
				sc.fail(need, nil, err)
				return err
			}
			if err != nil {
				c.Close()
				sc.started = false
				sc.fail(need, nil, err)
				return err
			}
		}
		haveRec = false
		h := rec.Header
		need = s.asm.NextSeq()
		if h.Seq < need {
			c.TakeDamageErr() // before the position: not a loss
			continue
		}
		if h.Seq > need {
			err := c.TakeDamageErr()
			if err == nil {
				err = fmt.Errorf("%w: record %d missing (found %d at offset %d)", records.ErrCorrupt, need, h.Seq, h.Offset)
			}
			r := rec
			sc.fail(need, &r, err)
			return err
		}
		c.TakeDamageErr() // the damaged blocks held none of its records
		sc.at = int64(h.Offset)
		if err := s.asm.Add(h, rec.Payload); err != nil {
			if se := (*SinkError)(nil); errors.As(err, &se) || errors.Is(err, records.ErrAborted) {
				return err
			}
			sc.fail(need, nil, err)
			return err
		}
		if s.asm.Done() {
			return nil
		}
	}
}

// SeekReader reads an object stream from any offset, for restores of a
// few entries of a large object: SeekTo finds the block that holds an offset
// from the catalog's extents and an interpolation search over the blocks of
// one extent (ExtentReader.Locate), so that reading a small file from a large
// object reads a few blocks, not the object. Every record's CRC and the
// continuity of the offsets are checked, as in a full read; the hash of the
// whole object cannot be, since the whole object is not read. When a copy
// cannot be read at an offset, the reader goes on from another copy at the
// same offset, and a copy that failed further back is tried again for a
// later range: it fails over per range, both ways. When no copy can be
// read at an offset, the read fails; a later SeekTo starts afresh.
type SeekReader struct {
	ctx     context.Context
	obj     ObjectInfo
	log     *slog.Logger
	copies  []ObjectCopy
	readers []*ExtentReader // per copy, opened when first needed
	failAt  []int64         // per copy, the offset where it last failed; -1 if none
	ci      int             // index of the copy being read
	c       *ExtentReader   // readers[ci], positioned (nil before Seek)

	zbuf    []byte // decompressed payload
	off     int64  // object offset of the next byte Read delivers
	pending []byte // rest of the current record's payload, from off
	eof     bool
	broken  bool // the last read failed on every copy

	attempts []CopyAttempt
}

// skipAhead is how far forward a read goes on instead of searching again.
const skipAhead = 2 << 20

// NewSeekReader returns a reader of obj from its copies, tried in order.
func NewSeekReader(ctx context.Context, obj ObjectInfo, copies []ObjectCopy, log *slog.Logger) (*SeekReader, error) {
	if len(copies) == 0 {
		return nil, fmt.Errorf("object %s of %s: no copy to read", obj.ID, obj.Source)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &SeekReader{ctx: ctx, obj: obj, log: log, copies: copies,
		readers: make([]*ExtentReader, len(copies)), failAt: make([]int64, len(copies))}
	for i := range r.failAt {
		r.failAt[i] = -1
	}
	return r, nil
}

// reader returns the copy reader of copy index i.
func (r *SeekReader) reader(i int) (*ExtentReader, error) {
	if r.readers[i] == nil {
		c, err := r.copies[i].Open()
		if err != nil {
			return nil, err
		}
		r.readers[i] = c
	}
	return r.readers[i], nil
}

// BytesRead returns the bytes read from devices so far.
func (r *SeekReader) BytesRead() int64 {
	var n int64
	for _, c := range r.readers {
		if c != nil {
			n += c.BytesRead()
		}
	}
	return n
}

// Reads returns the device counters of the volumes read so far.
func (r *SeekReader) Reads() []VolumeRead {
	var out []VolumeRead
	for _, c := range r.readers {
		if c != nil {
			out = AddReads(out, c.Reads())
		}
	}
	return out
}

// Copy returns the number of the copy being read.
func (r *SeekReader) Copy() int { return r.copies[r.ci].Number }

// Close releases the open volumes.
func (r *SeekReader) Close() {
	for _, c := range r.readers {
		if c != nil {
			c.Close()
		}
	}
}

// SeekTo positions the reader at object offset off.
func (r *SeekReader) SeekTo(off int64) error {
	if off < 0 || off > r.obj.Length {
		return fmt.Errorf("object %s: seek to offset %d outside 0..%d", r.obj.ID, off, r.obj.Length)
	}
	if r.c != nil && !r.broken && off >= r.off && off-r.off <= skipAhead && !r.eof {
		_, err := io.CopyN(io.Discard, r, off-r.off)
		return err
	}
	r.broken = false
	r.off = off
	return r.retry(func() error { return r.locate(off) })
}

// retry runs f on the current copy; when it fails, f is run (repositioned
// at the offset where it failed) on each copy that has not failed at that
// offset yet, in turn, until one succeeds.
func (r *SeekReader) retry(f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if r.ctx.Err() != nil {
			return err
		}
		r.attempts = append(r.attempts, CopyAttempt{Copy: r.Copy(), Error: err.Error(), At: r.off})
		r.log.Warn("copy unreadable", "object", r.obj.ID.String(), "copy", r.Copy(), "at_offset", r.off, "err", err)
		r.failAt[r.ci] = r.off
		if r.c != nil {
			r.c.Close()
			r.c = nil
		}
		next := -1
		for k := 1; k <= len(r.copies); k++ {
			if j := (r.ci + k) % len(r.copies); r.failAt[j] != r.off {
				next = j
				break
			}
		}
		if next < 0 {
			r.broken = true
			var msgs []string
			for _, a := range r.attempts {
				if a.At == r.off {
					msgs = append(msgs, fmt.Sprintf("copy %d: %s", a.Copy, a.Error))
				}
			}
			return fmt.Errorf("object %s of %s at offset %d: no copy could be read: %s", r.obj.ID, r.obj.Source, r.off, strings.Join(msgs, "; "))
		}
		r.ci = next
		at := r.off
		f = func() error { return r.locate(at) }
	}
}

// locate positions the current copy at offset off.
func (r *SeekReader) locate(off int64) error {
	c, err := r.reader(r.ci)
	if err != nil {
		return err
	}
	r.c = c
	c.TakeDamage()
	if err := c.Locate(off); err != nil {
		return err
	}
	r.off, r.pending, r.eof = off, nil, false
	return nil
}

// Read delivers object bytes from the current offset.
func (r *SeekReader) Read(p []byte) (int, error) {
	if r.c == nil && !r.broken {
		if err := r.SeekTo(r.off); err != nil {
			return 0, err
		}
	}
	for len(r.pending) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if r.broken {
			return 0, fmt.Errorf("object %s at offset %d: no copy could be read", r.obj.ID, r.off)
		}
		if err := r.retry(r.next); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.off += int64(n)
	return n, nil
}

// next reads records until one delivers data at r.off (or the End). Damage
// before a record that starts after r.off is a failure of the copy; damage
// of blocks that did not hold the data at r.off is not.
func (r *SeekReader) next() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.c == nil {
		return r.locate(r.off)
	}
	for {
		rec, err := r.c.Next()
		if err == io.EOF {
			if derr := r.c.TakeDamageErr(); derr != nil {
				return derr
			}
			return fmt.Errorf("copy %d: its extents end at offset %d before the object's end record", r.Copy(), r.off)
		}
		if err != nil {
			return err
		}
		h := rec.Header
		switch h.Type {
		case records.TypeEnd:
			if int64(h.Offset) != r.off && r.off != r.obj.Length {
				if derr := r.c.TakeDamageErr(); derr != nil {
					return derr
				}
				return fmt.Errorf("%w: object %s: end record at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, h.Offset, r.off)
			}
			r.c.TakeDamageErr()
			r.eof = true
			return nil
		case records.TypeData, records.TypeDataZstd:
		default:
			continue
		}
		n, err := records.DataLen(h, rec.Payload)
		if err != nil {
			return err
		}
		start, end := int64(h.Offset), int64(h.Offset)+int64(n)
		switch {
		case end <= r.off:
			r.c.TakeDamageErr() // before the position: not ours
			continue
		case start > r.off:
			if derr := r.c.TakeDamageErr(); derr != nil {
				return derr
			}
			return fmt.Errorf("%w: object %s: data at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, start, r.off)
		}
		r.c.TakeDamageErr()
		data, err := records.Data(h, rec.Payload, r.zbuf)
		if err != nil {
			return err
		}
		if h.Type == records.TypeDataZstd {
			r.zbuf = data
		}
		r.pending = data[r.off-start:]
		return nil
	}
}

// Offset returns the object offset of the next byte Read delivers.
func (r *SeekReader) Offset() int64 { return r.off }

// Broken reports whether the last read failed on every copy.
func (r *SeekReader) Broken() bool { return r.broken }

// Attempts returns the copies given up so far, and why.
func (r *SeekReader) Attempts() []CopyAttempt { return r.attempts }
