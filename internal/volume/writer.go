package volume

import (
	"errors"
	"fmt"
	"time"

	"daisy/internal/device"
	"daisy/internal/records"
)

// ErrVolumeFull is returned by Writer.Add when the medium reached its early
// warning: the record was not added, and the block that was pending is kept
// for the continuation volume (see Writer.Pending and Writer.Span).
var ErrVolumeFull = errors.New("volume: full")

// BlockRecord describes one record of a written block.
type BlockRecord struct {
	Object records.ID
	Type   records.Type
	Offset uint64
	Seq    uint32
	Len    uint32 // payload length
	Data   uint32 // object bytes it carries (records.DataLen): Len, or more when compressed
}

// BlockInfo describes a block once it is on the medium.
type BlockInfo struct {
	Volume  records.ID
	Label   string
	Block   int64
	Records []BlockRecord // valid only during the callback
}

// Format writes the label block of a blank medium, which must be at block 0.
func Format(m device.Medium, l Label) error {
	if m.Position() != 0 {
		return fmt.Errorf("volume: format %s: medium is at block %d, not at its start", m.Name(), m.Position())
	}
	if !ValidBlockSize(m.BlockSize()) || l.BlockSize != m.BlockSize() {
		return fmt.Errorf("volume: format %s: block size %d (label %d) is not usable", m.Name(), m.BlockSize(), l.BlockSize)
	}
	l.Format = FormatVersion
	p := marshal(l)
	b := make([]byte, m.BlockSize())
	if len(p) > len(b)-BlockHeaderSize {
		return fmt.Errorf("volume: format %s: label of %d bytes does not fit a block", m.Name(), len(p))
	}
	copy(b[BlockHeaderSize:], p)
	PutBlockHeader(b, BlockHeader{Flags: flagLabel, Volume: l.VolumeID, Number: 0, Length: uint32(len(p)), BlockSize: uint32(m.BlockSize())})
	if err := m.WriteBlock(b); err != nil {
		return fmt.Errorf("volume: format %s: %w", m.Name(), err)
	}
	return nil
}

// Writer appends one write session to a labelled medium: records are packed
// whole into blocks, and each block is reported through OnBlock once it is
// on the medium. Like a raft snapshot sink, nothing counts until Finish has
// synced the medium. Errors are sticky. A Writer is used by one goroutine.
type Writer struct {
	m       device.Medium
	label   Label
	session records.ID
	blk     []byte
	fill    int // payload bytes in blk
	recs    []BlockRecord
	next    int64 // number of the block being filled
	onBlock func(BlockInfo)
	err     error
	full    bool
	objects map[records.ID]struct{}
}

// WriterOptions configure a write session.
type WriterOptions struct {
	Session SessionInfo
	// At is the block where the session starts: the number of valid blocks
	// on the volume (from the catalog, or a scan's GoodEnd). Blocks after it
	// (a torn tail of an interrupted session) are cut.
	At int64
	// OnBlock is called, on the writer's goroutine, after each block is
	// written. It must not keep BlockInfo.Records.
	OnBlock func(BlockInfo)
}

// NewWriter opens a write session on m, whose label is l, at block o.At.
// The first block starts with a SessionBegin record.
func NewWriter(m device.Medium, l Label, o WriterOptions) (*Writer, error) {
	if o.At < 1 {
		return nil, fmt.Errorf("volume: write %s: session must start after the label, not at block %d", l.Label, o.At)
	}
	// Cut whatever follows the valid blocks (a torn or failed session),
	// then position at the end.
	if t, ok := m.(device.Truncater); ok {
		if err := t.Truncate(o.At); err != nil {
			return nil, fmt.Errorf("volume: write %s: cut tail at block %d: %w", l.Label, o.At, err)
		}
	}
	if m.Position() != o.At {
		s, ok := m.(device.Locator)
		if !ok {
			return nil, fmt.Errorf("volume: write %s: medium at block %d, session starts at %d", l.Label, m.Position(), o.At)
		}
		if err := s.Locate(o.At); err != nil {
			return nil, fmt.Errorf("volume: write %s: position at block %d: %w", l.Label, o.At, err)
		}
	}
	w := &Writer{
		m: m, label: l, session: o.Session.Session,
		blk: make([]byte, m.BlockSize()), next: o.At, onBlock: o.OnBlock,
		objects: map[records.ID]struct{}{},
	}
	if o.Session.Time.IsZero() {
		o.Session.Time = time.Now().UTC()
	}
	if err := w.Add(records.Encode(nil, records.TypeSessionBegin, w.session, 0, 0, marshal(o.Session))); err != nil {
		return nil, err
	}
	return w, nil
}

// Label returns the label of the volume being written.
func (w *Writer) Label() Label { return w.label }

// Blocks returns the number of blocks on the medium, label included.
func (w *Writer) Blocks() int64 { return w.next }

// Add packs one encoded record into the current block, writing the block
// first when the record does not fit. It returns ErrVolumeFull at the
// medium's early warning: then neither the pending block nor rec is on the
// medium, and the caller continues on another volume with Span.
func (w *Writer) Add(rec []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(rec) > len(w.blk)-BlockHeaderSize {
		return fmt.Errorf("volume: record of %d bytes does not fit a block of %d", len(rec), len(w.blk))
	}
	if BlockHeaderSize+w.fill+len(rec) > len(w.blk) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	h, err := records.ParseHeader(rec)
	if err != nil {
		return err
	}
	copy(w.blk[BlockHeaderSize+w.fill:], rec)
	w.fill += len(rec)
	data, _ := records.DataLen(h, rec[records.HeaderSize:]) // 0 for a malformed one
	w.recs = append(w.recs, BlockRecord{Object: h.Object, Type: h.Type, Offset: h.Offset, Seq: h.Seq, Len: h.Length, Data: data})
	if h.Type.IsObject() {
		w.objects[h.Object] = struct{}{}
	}
	return nil
}

// Room returns how many bytes of records still fit in the block being
// filled.
func (w *Writer) Room() int { return len(w.blk) - BlockHeaderSize - w.fill }

// Pending returns the number of payload bytes in the block being filled.
func (w *Writer) Pending() int { return w.fill }

// Flush writes the block being filled, padded with zeros, if it holds any
// record.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.fill == 0 {
		return nil
	}
	clear(w.blk[BlockHeaderSize+w.fill:])
	PutBlockHeader(w.blk, BlockHeader{Volume: w.label.VolumeID, Number: uint64(w.next), Length: uint32(w.fill), Records: uint32(len(w.recs)), BlockSize: uint32(len(w.blk))})
	if err := w.m.WriteBlock(w.blk); err != nil {
		if errors.Is(err, device.ErrEndOfMedium) && !w.full {
			w.full = true
			return ErrVolumeFull
		}
		w.err = fmt.Errorf("volume %s: write block %d: %w", w.label.Label, w.next, err)
		return w.err
	}
	if w.onBlock != nil {
		w.onBlock(BlockInfo{Volume: w.label.VolumeID, Label: w.label.Label, Block: w.next, Records: w.recs})
	}
	w.next++
	w.fill = 0
	w.recs = w.recs[:0]
	return nil
}

// Finish ends the session cleanly: a SessionEnd record, the last block, and
// a sync of the medium. Only after Finish returns nil are the blocks
// reported by OnBlock durable.
func (w *Writer) Finish() error {
	if w.err != nil {
		return w.err
	}
	end := SessionEndInfo{Session: w.session, Time: time.Now().UTC(), Objects: len(w.objects)}
	rec := records.Encode(nil, records.TypeSessionEnd, w.session, 0, 0, marshal(end))
	// When the early warning comes with one of these last blocks, the
	// session ends in the reserve after it, as a trailer would: there is
	// nothing left to carry over to another volume.
	err := w.Add(rec)
	if errors.Is(err, ErrVolumeFull) {
		err = w.Add(rec)
	}
	if err != nil {
		return err
	}
	err = w.Flush()
	if errors.Is(err, ErrVolumeFull) {
		err = w.Flush()
	}
	if err != nil {
		return err
	}
	return w.sync()
}

func (w *Writer) sync() error {
	if err := w.m.Sync(); err != nil {
		w.err = fmt.Errorf("volume %s: sync: %w", w.label.Label, err)
		return w.err
	}
	w.err = errors.New("volume: session finished")
	return nil
}

// Span ends a session whose volume is full: it writes a Trailer record
// naming the continuation volume into the reserve after the early warning,
// syncs, and moves the records of the block that did not fit into next,
// the writer of the continuation volume.
func (w *Writer) Span(next *Writer) error {
	if !w.full {
		return errors.New("volume: span of a volume that is not full")
	}
	pending := append([]byte(nil), w.blk[BlockHeaderSize:BlockHeaderSize+w.fill]...)
	w.fill = 0
	w.recs = w.recs[:0]
	tr := TrailerInfo{Session: w.session, Next: next.label.Label, NextVolumeID: next.label.VolumeID, Time: time.Now().UTC()}
	if err := w.Add(records.Encode(nil, records.TypeTrailer, w.session, 0, 0, marshal(tr))); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		if errors.Is(err, ErrVolumeFull) {
			err = fmt.Errorf("volume %s: no room for the trailer after the early warning", w.label.Label)
			w.err = err
		}
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	for len(pending) > 0 {
		h, err := records.ParseHeader(pending)
		if err != nil {
			return fmt.Errorf("volume: span: %w", err)
		}
		if err := next.Add(pending[:h.Size()]); err != nil {
			return err
		}
		pending = pending[h.Size():]
	}
	return nil
}

// Abandon gives up the session without a clean end (the device failed).
// Blocks already written stay on the medium; nothing is synced.
func (w *Writer) Abandon(err error) {
	if w.err == nil {
		w.err = err
	}
}
