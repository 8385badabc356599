package volume

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"daisy/internal/device"
	"daisy/internal/records"
)

// ErrFormatVersion marks a volume (or block) written in a format version
// this daisy does not read: a newer daisy wrote it.
var ErrFormatVersion = errors.New("volume: unsupported format version")

// ErrHole marks a run of blocks never written: a hole of a sparse volume
// file, skipped without reading it. It wraps ErrBadBlock.
var ErrHole = fmt.Errorf("%w: never written (a hole in the volume file)", ErrBadBlock)

// dataFinder is implemented by media that know where their data is, as a
// sparse volume file does (vtape.Medium.NextData): the first block at or
// after n that is not wholly in a hole.
type dataFinder interface {
	NextData(n int64) (int64, error)
}

// ErrLabelDamaged marks a label block that failed its checks but whose
// volume was recovered from its data blocks (Reader.LabelDamage). It wraps
// ErrBadBlock.
var ErrLabelDamaged = fmt.Errorf("%w: label block damaged", ErrBadBlock)

// labelProbeBlocks is how many data blocks a reader looks at, from block 1,
// for one that gives the volume ID of a volume with a damaged label.
const labelProbeBlocks = 16

// labelRepairMax bounds the label payload that single-bit repair tries
// (labels are a few hundred bytes).
const labelRepairMax = 4096

// Record is one record read from a volume.
type Record struct {
	Header records.Header
	// Payload aliases the reader's block buffer: it is valid until the next
	// call of Next or SeekBlock.
	Payload []byte
	// Raw is the whole encoded record (header and payload), aliasing the
	// block buffer like Payload: a copy job passes these bytes on
	// unchanged.
	Raw []byte
	// Block is the number of the block the record is in.
	Block int64
}

// Damage describes a block that could not be used: a bad header, a CRC
// mismatch, records that do not decode, a partial block at the end; or a
// run of blocks that were never written (a hole in a sparse volume file).
// Err wraps ErrBadBlock (ErrHole for a hole), or io.ErrUnexpectedEOF for a
// partial last block.
type Damage struct {
	Block int64
	// Last is the last block of a damaged run (a hole) starting at Block;
	// 0 for one block.
	Last int64
	Err  error
}

// LastBlock returns the last damaged block: Block, or Last for a run.
func (d Damage) LastBlock() int64 { return max(d.Block, d.Last) }

func (d Damage) Error() string {
	if d.LastBlock() > d.Block {
		return fmt.Sprintf("blocks %d..%d: %v", d.Block, d.Last, d.Err)
	}
	return fmt.Sprintf("block %d: %v", d.Block, d.Err)
}

// Unwrap returns the reason.
func (d Damage) Unwrap() error { return d.Err }

// Reader reads the records of a volume in order. Damaged blocks are
// skipped: blocks have a fixed size, so the reader resynchronises at the
// next block boundary. A Reader is used by one goroutine.
type Reader struct {
	ctx      context.Context // nil: not cancellable
	m        device.Medium
	label    Label
	buf      []byte // one block
	block    int64  // number of the block in buf
	payload  []byte // records of buf not yet returned
	left     int    // how many
	done     bool   // the end of the medium was reached
	limit    int64  // last block to read (0 = to the end)
	labelErr error  // the label block was damaged and recovered (ErrLabelDamaged)
	onDamage func(Damage)
	onBlock  func(n int64, h BlockHeader) // each valid data block (Scan)
}

// NewReader reads and checks the label (block 0) of m, leaving the reader
// at block 1. If m is not at block 0 it must be a device.Locator. A medium
// whose block 0 is not a daisy label gives an error wrapping ErrNotDaisy
// with the reason; one written by a newer format, ErrFormatVersion.
//
// A label block that fails its CRC (or has no magic) is damage, and every
// data block carries the volume ID: on a device.Locator the reader then
// recovers the volume (docs/FORMAT.md §5.1). It takes the volume ID from
// the first valid data block among the first few, and repairs the label
// when flipping one bit makes it check and agree with that ID; otherwise
// the label name and pool are unknown (empty). LabelDamage then says what
// was damaged and how the volume was recovered.
func NewReader(m device.Medium) (*Reader, error) {
	bs := m.BlockSize()
	if !ValidBlockSize(bs) {
		return nil, fmt.Errorf("%w: %s: block size %d is not a daisy block size (%d..%d, a multiple of %d)", ErrNotDaisy, m.Name(), bs, MinBlockSize, MaxBlockSize, MinBlockSize)
	}
	if m.Position() != 0 {
		s, ok := m.(device.Locator)
		if !ok {
			return nil, fmt.Errorf("volume: %s is at block %d and cannot be positioned at its label", m.Name(), m.Position())
		}
		if err := s.Locate(0); err != nil {
			return nil, fmt.Errorf("volume: %s: position at the label: %w", m.Name(), err)
		}
	}
	r := &Reader{m: m, buf: make([]byte, bs), block: -1}
	err := m.ReadBlock(r.buf)
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: %s is blank (no label block)", ErrNotDaisy, m.Name())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %s: the first block is incomplete", ErrNotDaisy, m.Name())
	case err != nil:
		return nil, fmt.Errorf("volume: %s: read the label: %w", m.Name(), err)
	}
	l, err := parseLabel(r.buf)
	if err != nil {
		rl, rerr, ok := r.recoverLabel(err)
		if !ok {
			return nil, fmt.Errorf("%s: %w", m.Name(), err)
		}
		l, r.labelErr = rl, rerr
	}
	r.label = l
	return r, nil
}

// LabelDamage returns nil for an intact label, else an error wrapping
// ErrLabelDamaged that says what was wrong with the label block and how
// the volume was recovered: the data blocks are read as usual.
func (r *Reader) LabelDamage() error { return r.labelErr }

// labelCRCOK reports whether b's header and payload check against the CRC
// the header gives: a label block that fails only other checks is as it
// was written, not damaged.
func labelCRCOK(b []byte) bool {
	if len(b) < BlockHeaderSize || [4]byte(b[0:4]) != blockMagic {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b[32:]))
	if n > len(b)-BlockHeaderSize {
		return false
	}
	return records.UpdateChecksum(records.Checksum(b[:60]), b[BlockHeaderSize:BlockHeaderSize+n]) == binary.LittleEndian.Uint32(b[60:])
}

// recoverLabel recovers the volume of a label block (in r.buf) that failed
// with why. ok is false when the block is not damaged (its CRC checks), the
// medium cannot be positioned, or no data block gives the volume ID; the
// reader is then left as it is.
func (r *Reader) recoverLabel(why error) (l Label, damage error, ok bool) {
	lb := r.buf
	if labelCRCOK(lb) {
		return l, nil, false
	}
	loc, isLoc := r.m.(device.Locator)
	if !isLoc {
		return l, nil, false
	}
	// The volume ID from the first valid data block.
	r.buf = make([]byte, len(lb))
	defer func() { r.buf = lb }()
	if err := loc.Locate(1); err != nil {
		return l, nil, false
	}
	var id records.ID
	var from int64
	for n := int64(1); n <= labelProbeBlocks && from == 0; n++ {
		if err := r.m.ReadBlock(r.buf); err != nil {
			break // the end, a partial block or a read error: nothing more to probe
		}
		h, err := CheckBlock(r.buf)
		if err != nil || h.Flags != 0 || h.Number != uint64(n) || int(h.BlockSize) != len(r.buf) ||
			checkRecords(r.buf[BlockHeaderSize:BlockHeaderSize+int(h.Length)], h.Records) != nil {
			continue
		}
		id, from = h.Volume, n
	}
	if err := loc.Locate(1); err != nil || from == 0 {
		return l, nil, false
	}
	what := strings.TrimPrefix(strings.TrimPrefix(why.Error(), ErrNotDaisy.Error()+": "), "volume: ")
	if rl, at, ok := repairLabel(lb, id); ok {
		return rl, fmt.Errorf("%w (%s): repaired: one flipped bit (byte %d, bit %d); its volume ID agrees with block %d's header",
			ErrLabelDamaged, what, at/8, at%8, from), true
	}
	l = Label{Format: FormatVersion, VolumeID: id, BlockSize: len(lb)}
	return l, fmt.Errorf("%w (%s): volume %s recovered from block %d's header; its label name and pool are unknown",
		ErrLabelDamaged, what, id, from), true
}

// repairLabel looks for the one bit of the label block b whose flip makes
// it a valid label of volume id, and returns that label and the bit's
// position. b is restored before it returns.
func repairLabel(b []byte, id records.ID) (Label, int, bool) {
	n := int(binary.LittleEndian.Uint32(b[32:]))
	end := BlockHeaderSize
	if n <= labelRepairMax && n <= len(b)-BlockHeaderSize {
		end += n // payload bits too; a damaged length is among the header bits
	}
	for bit := 0; bit < end*8; bit++ {
		b[bit/8] ^= 1 << (bit % 8)
		var l Label
		var err error = ErrBadBlock
		if labelCRCOK(b) { // cheap: most candidates end here
			l, err = parseLabel(b)
		}
		b[bit/8] ^= 1 << (bit % 8)
		if err == nil && l.VolumeID == id {
			return l, bit, true
		}
	}
	return Label{}, 0, false
}

// parseLabel checks a label block and decodes its label.
func parseLabel(b []byte) (Label, error) {
	var l Label
	if len(b) < BlockHeaderSize || [4]byte(b[0:4]) != blockMagic {
		return l, fmt.Errorf("%w: no daisy block header at the start", ErrNotDaisy)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v > FormatVersion {
		return l, fmt.Errorf("%w: the volume is in format version %d, this daisy reads version %d: use a newer daisy", ErrFormatVersion, v, FormatVersion)
	}
	h, err := CheckBlock(b)
	if err != nil {
		return l, fmt.Errorf("%w: label block: %w", ErrNotDaisy, err)
	}
	switch {
	case !h.IsLabel() || h.Flags != flagLabel:
		return l, fmt.Errorf("%w: block 0 is not a label block (flags %#x)", ErrNotDaisy, h.Flags)
	case h.Number != 0:
		return l, fmt.Errorf("%w: label block says it is block %d", ErrNotDaisy, h.Number)
	case h.Records != 0:
		return l, fmt.Errorf("%w: label block says it holds %d records", ErrNotDaisy, h.Records)
	case int(h.BlockSize) != len(b):
		return l, fmt.Errorf("volume: the label gives blocks of %d bytes, the medium reads blocks of %d", h.BlockSize, len(b))
	}
	if err := json.Unmarshal(b[BlockHeaderSize:BlockHeaderSize+int(h.Length)], &l); err != nil {
		return Label{}, fmt.Errorf("%w: label: %v", ErrNotDaisy, err)
	}
	switch {
	case l.Format > FormatVersion:
		return l, fmt.Errorf("%w: the label is in format version %d, this daisy reads version %d: use a newer daisy", ErrFormatVersion, l.Format, FormatVersion)
	case l.Format != FormatVersion:
		return l, fmt.Errorf("%w: label format version %d", ErrNotDaisy, l.Format)
	case l.VolumeID != h.Volume:
		return l, fmt.Errorf("%w: label names volume %s, its block header %s", ErrNotDaisy, l.VolumeID, h.Volume)
	case l.BlockSize != int(h.BlockSize):
		return l, fmt.Errorf("%w: label gives block size %d, its block header %d", ErrNotDaisy, l.BlockSize, h.BlockSize)
	}
	return l, nil
}

// Label returns the volume's label.
func (r *Reader) Label() Label { return r.label }

// SetContext makes Next return ctx's error, before reading another block,
// once ctx is done: a read through a long run of damage stops promptly.
func (r *Reader) SetContext(ctx context.Context) { r.ctx = ctx }

// SetOnDamage sets a function called for each damaged block skipped.
func (r *Reader) SetOnDamage(f func(Damage)) { r.onDamage = f }

// Next returns the next record in volume order, or io.EOF after the last
// block. Damaged blocks are reported to the OnDamage function and skipped;
// a partial block at the end is reported as damage, then io.EOF. Other
// errors are the medium's read errors, with the block number.
func (r *Reader) Next() (Record, error) {
	for {
		if r.left > 0 {
			h, _ := records.ParseHeader(r.payload) // checked by checkRecords
			n := h.Size()
			rec := Record{Header: h, Payload: r.payload[records.HeaderSize:n:n], Raw: r.payload[:n:n], Block: r.block}
			r.payload = r.payload[n:]
			r.left--
			return rec, nil
		}
		if r.done {
			return Record{}, io.EOF
		}
		if r.ctx != nil {
			if err := r.ctx.Err(); err != nil {
				return Record{}, err
			}
		}
		if err := r.readBlock(); err != nil {
			return Record{}, err
		}
	}
}

// SeekBlock positions the reader at block n (n ≥ 1): the next record
// returned is the first of block n or of the first good block after it.
// The medium must be a device.Locator.
func (r *Reader) SeekBlock(n int64) error {
	if n < 1 {
		return fmt.Errorf("volume %s: seek to block %d: data blocks start at 1", r.label.Label, n)
	}
	s, ok := r.m.(device.Locator)
	if !ok {
		return fmt.Errorf("volume %s: medium %s cannot seek", r.label.Label, r.m.Name())
	}
	if err := s.Locate(n); err != nil {
		return fmt.Errorf("volume %s: seek to block %d: %w", r.label.Label, n, err)
	}
	r.payload, r.left, r.done, r.block = nil, 0, false, -1
	return nil
}

func (r *Reader) damage(n int64, err error) {
	if r.onDamage != nil {
		r.onDamage(Damage{Block: n, Err: err})
	}
}

// SetLimit makes the reader stop (io.EOF) after block last, without
// reading further: reading one extent of an object reads nothing else.
// 0 removes the limit.
func (r *Reader) SetLimit(last int64) { r.limit = last }

// readBlock reads the next block; a damaged one is reported and left
// empty, the end of the medium (or of the limit) sets done.
func (r *Reader) readBlock() error {
	n := r.m.Position()
	if r.limit > 0 && n > r.limit {
		r.payload, r.left, r.block = nil, 0, n
		return io.EOF
	}
	r.payload, r.left, r.block = nil, 0, n
	err := r.m.ReadBlock(r.buf)
	switch {
	case errors.Is(err, io.EOF):
		r.done = true
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		r.done = true
		r.damage(n, fmt.Errorf("%w: partial block at the end of the volume (truncated tail)", io.ErrUnexpectedEOF))
		return nil
	case err != nil:
		return fmt.Errorf("volume %s: read block %d: %w", r.label.Label, n, err)
	}
	h, err := r.checkDataBlock(n)
	if err != nil {
		if !r.skipHole(n) {
			r.damage(n, err)
		}
		return nil
	}
	r.payload = r.buf[BlockHeaderSize : BlockHeaderSize+int(h.Length)]
	r.left = int(h.Records)
	if r.onBlock != nil {
		r.onBlock(n, h)
	}
	return nil
}

// skipHole reports whether damaged block n starts a hole of the medium;
// then it reports the hole as one damage, up to the limit, and positions
// the medium after it, without reading it.
func (r *Reader) skipHole(n int64) bool {
	f, ok := r.m.(dataFinder)
	if !ok {
		return false
	}
	loc, ok := r.m.(device.Locator)
	if !ok {
		return false
	}
	d, err := f.NextData(n)
	if err != nil || d <= n {
		return false
	}
	if r.limit > 0 && d > r.limit+1 {
		d = r.limit + 1
	}
	if err := loc.Locate(d); err != nil {
		return false
	}
	if r.onDamage != nil {
		r.onDamage(Damage{Block: n, Last: d - 1, Err: fmt.Errorf("%w (%d blocks)", ErrHole, d-n)})
	}
	return true
}

// checkDataBlock checks the block in r.buf, which is block n of the volume.
func (r *Reader) checkDataBlock(n int64) (BlockHeader, error) {
	h, err := CheckBlock(r.buf)
	if err != nil {
		return h, err
	}
	switch {
	case h.IsLabel():
		return h, fmt.Errorf("%w: a label block among the data blocks", ErrBadBlock)
	case h.Flags != 0:
		return h, fmt.Errorf("%w: unknown block flags %#x", ErrBadBlock, h.Flags)
	case h.Volume != r.label.VolumeID:
		return h, fmt.Errorf("%w: block of volume %s, this volume is %s", ErrBadBlock, h.Volume, r.label.VolumeID)
	case h.Number != uint64(n):
		return h, fmt.Errorf("%w: block header says block %d", ErrBadBlock, h.Number)
	case int(h.BlockSize) != len(r.buf):
		return h, fmt.Errorf("%w: block header says block size %d, the volume's is %d", ErrBadBlock, h.BlockSize, len(r.buf))
	}
	return h, checkRecords(r.buf[BlockHeaderSize:BlockHeaderSize+int(h.Length)], h.Records)
}

// checkRecords decodes (CRC included) every record of a block's payload p
// and checks that they fill it exactly and number count.
func checkRecords(p []byte, count uint32) error {
	var i uint64
	for off := 0; off < len(p); i++ {
		h, _, err := records.Decode(p[off:])
		if err != nil {
			return fmt.Errorf("%w: record %d at payload offset %d: %w", ErrBadBlock, i, off, err)
		}
		if h.Flags != 0 {
			return fmt.Errorf("%w: record %d at payload offset %d: unknown record flags %#x", ErrBadBlock, i, off, h.Flags)
		}
		off += h.Size()
	}
	if i != uint64(count) {
		return fmt.Errorf("%w: block header says %d records, the payload holds %d", ErrBadBlock, count, i)
	}
	return nil
}
