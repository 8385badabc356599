package tape

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"

	"daisy/internal/device"
)

// MaxBlockSize bounds the block size of a tape volume (the st driver's
// buffer and the drive's block limits bound it further).
const MaxBlockSize = 16 << 20

// The first block of a daisy volume starts with a block header (see
// internal/volume/format.go): magic "DSY1" at bytes 0..3 and the volume's
// block size, little endian, at bytes 40..43. Mounting reads the block size
// there when none is given; the tape package does not depend on the
// volume package.
const (
	labelMagic     = "DSY1"
	labelSizeField = 40
	labelHeaderLen = 64
)

// ErrBlank is returned (wrapped) when a cartridge mounted for reading holds
// no data: a read at the beginning of the tape found the end of the data.
var ErrBlank = errors.New("tape: blank cartridge (no daisy label)")

// ErrNotBlank is returned (wrapped) when a new volume is to be written on
// a cartridge that holds data.
var ErrNotBlank = errors.New("the cartridge is not blank (it holds data at its beginning); erase it or use another")

// Medium is a cartridge mounted in a drive, as a daisy volume: block n of
// the volume is the n-th data block on the tape, filemarks not counted.
// It implements device.Medium, device.Locator and device.Truncater.
//
// A filemark ends each session: Close writes one (MTWEOF) after blocks were
// written. Mounting spaces over the filemarks (MTFSF) to learn where they
// are, so that Locate turns a volume block into the tape's logical block
// (which counts filemarks) for MTSEEK. Reads pass over filemarks (a read
// of 0 bytes, then the next block); the end of the data is io.EOF.
type Medium struct {
	d    Drive
	name string
	bs   int64

	write bool
	fms   []int64 // logical blocks of the filemarks on the tape, ascending
	end   int64   // logical block of the end of data
	pos   int64   // volume block the next read or write uses
	tpos  int64   // the drive's logical block; -1 unknown

	warned    bool // the early warning was given
	lastWrite bool // the last operation was a write (the driver would write a filemark before moving)
	unmarked  bool // blocks were written since the last filemark

	stats   device.Stats
	locates int64
	closed  bool

	// lib is the library that mounted the medium (nil for Mount and
	// Format on a drive of the caller's): through its changer another
	// medium can take the drive while this one is open, and the drive
	// is given back to this one (use) before it moves.
	lib *Library
}

var (
	_ device.Medium    = (*Medium)(nil)
	_ device.Locator   = (*Medium)(nil)
	_ device.Truncater = (*Medium)(nil)
)

// Mount mounts the cartridge in the open drive d as a volume named name,
// positioned at block 0: variable block mode, rewind, the filemarks
// spaced over, the label read and checked, rewind. With bs 0 the block
// size is the label's. For writing (write set) the drive must have been
// opened for writing; new blocks go after the last one.
func Mount(d Drive, name string, write bool, bs int) (*Medium, error) {
	m := &Medium{d: d, name: name, write: write, tpos: -1}
	if err := m.mount(bs); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Medium) mount(bs int) error {
	m.bs = int64(bs)
	if bs < 0 || bs > MaxBlockSize {
		return m.errf("mount", "block size %d, must be 1..%d", bs, MaxBlockSize)
	}
	if err := m.op(MTSETBLK, 0); err != nil {
		return err
	}
	if st, err := m.d.Status(); err == nil {
		switch {
		case st.Gstat&GMT_DR_OPEN != 0:
			return m.errf("mount", "no cartridge in the drive (MTIOCGET: door open)")
		case m.write && st.Gstat&GMT_WR_PROT != 0:
			return m.errf("mount", "the cartridge is write protected")
		}
	}
	if err := m.mapFilemarks(); err != nil {
		return err
	}
	return m.readLabel()
}

// Format mounts the cartridge in d for writing a new volume from its
// beginning: variable block mode, rewind and a short erase, so that the
// tape holds nothing. With blank set the cartridge must be blank already.
func Format(d Drive, name string, bs int, blank bool) (*Medium, error) {
	m := &Medium{d: d, name: name, write: true, tpos: -1}
	if err := m.format(bs, blank); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Medium) format(bs int, blank bool) error {
	m.bs = int64(bs)
	if bs < labelHeaderLen || bs > MaxBlockSize {
		return m.errf("format", "block size %d, must be %d..%d", bs, labelHeaderLen, MaxBlockSize)
	}
	if err := m.op(MTSETBLK, 0); err != nil {
		return err
	}
	if err := m.op(MTREW, 0); err != nil {
		return err
	}
	if blank {
		b := make([]byte, bs)
		n, err := m.d.Read(b)
		st, serr := m.d.Status()
		switch {
		case errors.Is(err, syscall.EIO) || (err == nil && n == 0 && serr == nil && st.Gstat&GMT_EOD != 0):
			// blank: the data ends at the beginning
		case err != nil && !errors.Is(err, syscall.ENOMEM):
			return m.errf("format", "read at the beginning of the tape: %w", err)
		default:
			if err == nil {
				m.learn(b[:n])
			}
			return m.errf("format", "%w", ErrNotBlank)
		}
		if err := m.op(MTREW, 0); err != nil {
			return err
		}
	}
	if err := m.op(MTERASE, 0); err != nil {
		return err
	}
	if err := m.op(MTREW, 0); err != nil {
		return err
	}
	m.tpos = 0
	if m.lib != nil {
		m.lib.shelf.learn(m.name, "")
	}
	return nil
}

// learn records, for the library, the volume label that block 0 of the
// cartridge holds: the "label" of the label block's JSON payload.
// A block 0 that does not give one leaves the cartridge's label unknown
// (but not blank).
func (m *Medium) learn(b []byte) {
	if m.lib == nil {
		return
	}
	m.lib.shelf.forget(m.name)
	if len(b) < labelHeaderLen || string(b[:4]) != labelMagic {
		return
	}
	n := int(binary.LittleEndian.Uint32(b[32:]))
	if n <= 0 || labelHeaderLen+n > len(b) {
		return
	}
	var l struct {
		Label string `json:"label"`
	}
	if json.Unmarshal(b[labelHeaderLen:labelHeaderLen+n], &l) == nil && l.Label != "" {
		m.lib.shelf.learn(m.name, l.Label)
	}
}

// mapFilemarks rewinds and spaces over every filemark to the end of the
// data, recording where each one is.
func (m *Medium) mapFilemarks() error {
	if err := m.op(MTREW, 0); err != nil {
		return err
	}
	for {
		err := m.d.Op(MTFSF, 1)
		m.locates++
		if errors.Is(err, syscall.EIO) {
			break // the end of the data
		}
		if err != nil {
			return m.errf("mount", "MTFSF: %w", err)
		}
		p, err := m.d.Tell()
		if err != nil {
			return m.errf("mount", "MTIOCPOS: %w", err)
		}
		if p < 1 || (len(m.fms) > 0 && p-1 <= m.fms[len(m.fms)-1]) {
			return m.errf("mount", "MTIOCPOS gives block %d after a filemark, not after the last one found", p)
		}
		m.fms = append(m.fms, p-1)
	}
	p, err := m.d.Tell()
	if err != nil {
		return m.errf("mount", "MTIOCPOS: %w", err)
	}
	m.end = p
	return nil
}

// readLabel reads block 0 after a rewind, checks it is a daisy label,
// takes the block size from it if none was given, and rewinds.
func (m *Medium) readLabel() error {
	if err := m.op(MTREW, 0); err != nil {
		return err
	}
	m.tpos = 0
	if m.Blocks() == 0 {
		if m.lib != nil {
			m.lib.shelf.learn(m.name, "")
		}
		return fmt.Errorf("%w: %s", ErrBlank, m.name)
	}
	size := m.bs
	if size == 0 {
		size = 1 << 20
	}
	var b []byte
	for {
		b = make([]byte, size)
		n, err := m.d.Read(b)
		if errors.Is(err, syscall.ENOMEM) && size < MaxBlockSize && m.bs == 0 {
			// A label block longer than the buffer: read it again with
			// the largest one.
			size = MaxBlockSize
			if err := m.op(MTREW, 0); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if errors.Is(err, syscall.ENOMEM) {
				return m.errf("mount", "the label block is longer than the block size %d", m.bs)
			}
			return m.errf("mount", "read the label: %w", err)
		}
		b = b[:n]
		break
	}
	labelBS, ok := device.LabelBlockSize(b)
	if !ok {
		return m.errf("mount", "block 0 (%d bytes) is not a daisy label", len(b))
	}
	m.learn(b)
	switch {
	case m.bs == 0 && (labelBS < labelHeaderLen || labelBS > MaxBlockSize):
		return m.errf("mount", "the label gives block size %d, outside %d..%d", labelBS, labelHeaderLen, MaxBlockSize)
	case m.bs == 0:
		m.bs = labelBS
	case labelBS != m.bs:
		return m.errf("mount", "the volume has blocks of %d bytes, the device is set to %d", labelBS, m.bs)
	}
	if int64(len(b)) != m.bs {
		return m.errf("mount", "the label block has %d bytes, the label gives %d", len(b), m.bs)
	}
	if err := m.op(MTREW, 0); err != nil {
		return err
	}
	m.tpos = 0
	return nil
}

// Name returns the cartridge's reference (its barcode).
func (m *Medium) Name() string { return m.name }

// BlockSize returns the size of every block.
func (m *Medium) BlockSize() int { return int(m.bs) }

// Blocks returns the number of data blocks on the tape.
func (m *Medium) Blocks() int64 { return m.end - int64(len(m.fms)) }

// Filemarks returns the number of filemarks on the tape (one per session).
func (m *Medium) Filemarks() int { return len(m.fms) }

// Position returns the block the next read or write uses.
func (m *Medium) Position() int64 { return m.pos }

// Stats returns the bytes and blocks moved since the medium was mounted.
func (m *Medium) Stats() device.Stats { return m.stats }

// Locates returns how many positioning commands (rewind, space, seek)
// the medium gave the drive since it was mounted.
func (m *Medium) Locates() int64 { return m.locates }

func (m *Medium) errf(op, format string, args ...any) error {
	return &os.PathError{Op: op, Path: "tape " + m.name, Err: fmt.Errorf(format, args...)}
}

// op runs a tape operation; a positioning one counts as a locate and
// leaves the drive's position unknown until set.
func (m *Medium) op(op int16, count int32) error {
	if op != MTWEOF && op != MTSETBLK && op != MTNOP {
		m.locates++
		m.tpos = -1
	}
	if err := m.d.Op(op, count); err != nil {
		return m.errf(opName(op), "%w", err)
	}
	m.lastWrite = false
	return nil
}

// logical returns the logical block of volume block n: n plus the
// filemarks before it.
func (m *Medium) logical(n int64) int64 {
	t := n
	for _, f := range m.fms {
		if f > t {
			break
		}
		t++
	}
	return t
}

// seek moves the drive to logical block t. After a write the st driver
// would write a filemark itself before moving; the medium writes it first,
// so that it knows where it is.
func (m *Medium) seek(t int64) error {
	if m.tpos == t {
		return nil
	}
	if m.lastWrite {
		if err := m.filemark(); err != nil {
			return err
		}
		if m.tpos == t {
			return nil
		}
	}
	if t == m.end {
		// The end of the data, where writes go: space there (MTEOM), and
		// check that the tape ends where the medium knows it does.
		if err := m.op(MTEOM, 0); err != nil {
			return err
		}
		p, err := m.d.Tell()
		if err != nil {
			return m.errf("MTIOCPOS", "%w", err)
		}
		if p != t {
			return m.errf("seek", "the data on the tape ends at logical block %d, not at %d as when it was mounted: the cartridge changed", p, t)
		}
		m.tpos = t
		return nil
	}
	if err := m.op(MTSEEK, int32(t)); err != nil {
		return err
	}
	m.tpos = t
	return nil
}

// filemark writes a filemark at the drive's position, the end of the data.
func (m *Medium) filemark() error {
	if err := m.op(MTWEOF, 1); err != nil {
		return err
	}
	m.fms = append(m.fms[:sort.Search(len(m.fms), func(i int) bool { return m.fms[i] >= m.tpos })], m.tpos)
	m.tpos++
	m.end = m.tpos
	m.unmarked = false
	return nil
}

// ReadBlock reads the block at the current position into b[:BlockSize]
// and advances, passing over filemarks. At the end of the data it returns
// io.EOF. A block of another size than the block size (damage) is read as
// what it holds, zero-padded, or as zeros when longer (the driver's
// ENOMEM); the volume reader then reports it as damaged.
func (m *Medium) ReadBlock(b []byte) error {
	switch {
	case m.closed:
		return m.errf("read", "%w", os.ErrClosed)
	case int64(len(b)) < m.bs:
		return m.errf("read", "buffer of %d bytes for a block of %d", len(b), m.bs)
	case m.pos >= m.Blocks():
		return io.EOF
	}
	if err := m.use(); err != nil {
		return err
	}
	defer m.unuse()
	if err := m.seek(m.logical(m.pos)); err != nil {
		return err
	}
	b = b[:m.bs]
	for {
		n, err := m.d.Read(b)
		m.lastWrite = false
		switch {
		case errors.Is(err, syscall.ENOMEM):
			clear(b)
		case err != nil:
			m.tpos = -1
			return m.errf("read", "block %d: %w", m.pos, err)
		case n == 0:
			st, serr := m.d.Status()
			if serr == nil && st.Gstat&GMT_EOD != 0 {
				t := m.tpos
				m.tpos = -1
				return m.errf("read", "block %d: the data ends at logical block %d, the volume was mounted with %d blocks", m.pos, t, m.Blocks())
			}
			m.tpos++ // passed a filemark
			continue
		default:
			clear(b[n:])
		}
		m.stats.BytesRead += int64(n)
		m.stats.BlocksRead++
		m.tpos++
		m.pos++
		return nil
	}
}

// Locate positions at block n, 0 ≤ n ≤ Blocks(). The drive moves at the
// next read or write (MTSEEK to the logical block, filemarks counted).
func (m *Medium) Locate(n int64) error {
	if m.closed {
		return m.errf("seek", "%w", os.ErrClosed)
	}
	if n < 0 || n > m.Blocks() {
		return m.errf("seek", "block %d is beyond the end of the data (%d blocks)", n, m.Blocks())
	}
	m.pos = n
	return nil
}

// WriteBlock writes b, exactly one block, as one tape block at the end of
// the data. The driver's first ENOSPC (the early warning: the write that
// passed it was finished, this one was not) is device.ErrEndOfMedium;
// after it, the writes of the trailer go into the reserve (the driver
// answers every other write there with ENOSPC, which is tried once more)
// until the physical end, device.ErrFull.
func (m *Medium) WriteBlock(b []byte) error {
	switch {
	case m.closed:
		return m.errf("write", "%w", os.ErrClosed)
	case !m.write:
		return m.errf("write", "the cartridge is mounted for reading")
	case int64(len(b)) != m.bs:
		return m.errf("write", "block of %d bytes, the block size is %d", len(b), m.bs)
	case m.pos != m.Blocks():
		return m.errf("write", "at block %d, but the data ends at block %d: a tape is written only at its end (truncate first)", m.pos, m.Blocks())
	}
	if err := m.use(); err != nil {
		return err
	}
	defer m.unuse()
	if err := m.seek(m.end); err != nil {
		return err
	}
	n, err := m.d.Write(b)
	if errors.Is(err, syscall.ENOSPC) {
		if !m.warned {
			m.warned = true
			return device.ErrEndOfMedium
		}
		n, err = m.d.Write(b)
		if errors.Is(err, syscall.ENOSPC) {
			return device.ErrFull
		}
	}
	if err != nil {
		m.tpos = -1
		return m.errf("write", "block %d: %w", m.pos, err)
	}
	if n != len(b) {
		m.tpos = -1
		return m.errf("write", "block %d: the drive took %d of %d bytes", m.pos, n, len(b))
	}
	if m.pos == 0 {
		m.learn(b)
	}
	m.lastWrite, m.unmarked = true, true
	m.stats.BytesWritten += int64(n)
	m.stats.BlocksWritten++
	m.tpos++
	m.end = m.tpos
	m.pos++
	return nil
}

// Truncate cuts the data after block n-1, so that block n is the next one
// written: a filemark written there ends the data (a tape drive erases
// what follows a write).
func (m *Medium) Truncate(n int64) error {
	switch {
	case m.closed:
		return m.errf("truncate", "%w", os.ErrClosed)
	case !m.write:
		return m.errf("truncate", "the cartridge is mounted for reading")
	case n < 0 || n > m.Blocks():
		return m.errf("truncate", "block %d is beyond the end of the data (%d blocks)", n, m.Blocks())
	}
	m.pos = n
	if n == m.Blocks() {
		return nil
	}
	if err := m.use(); err != nil {
		return err
	}
	defer m.unuse()
	if err := m.seek(m.logical(n)); err != nil {
		return err
	}
	m.end = m.tpos
	if err := m.filemark(); err != nil {
		return err
	}
	m.warned = false
	return nil
}

// Sync makes the written blocks durable: MTWEOF with a count of 0 writes
// no filemark but flushes the drive's buffer to the tape. A medium whose
// cartridge another one took from the drive has nothing to flush.
func (m *Medium) Sync() error {
	if m.closed {
		return m.errf("sync", "%w", os.ErrClosed)
	}
	if !m.write {
		return nil
	}
	if m.lib != nil {
		m.lib.dr.mu.Lock()
		defer m.lib.dr.mu.Unlock()
		if m.lib.dr.cur != m {
			// Its cartridge was unloaded since its last write: the
			// filemark and the close before flushed the drive's buffer.
			return nil
		}
	}
	return m.op(MTWEOF, 0)
}

// Close ends the session with a filemark if blocks were written since the
// last one, and closes the drive (it does not rewind).
func (m *Medium) Close() error {
	if m.closed {
		return m.errf("close", "%w", os.ErrClosed)
	}
	m.closed = true
	if m.lib != nil {
		return m.lib.closeMedium(m)
	}
	var err error
	if m.unmarked {
		if err = m.seek(m.end); err == nil {
			err = m.filemark()
		}
	}
	if e := m.d.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// use gives the drive to the medium for one operation: with a changer,
// the cartridge of another medium is unloaded and this one's loaded.
func (m *Medium) use() error {
	if m.lib == nil {
		return nil
	}
	m.lib.dr.mu.Lock()
	if err := m.lib.attach(context.Background(), m); err != nil {
		m.lib.dr.mu.Unlock()
		return err
	}
	return nil
}

func (m *Medium) unuse() {
	if m.lib != nil {
		m.lib.dr.mu.Unlock()
	}
}

// detach closes the drive under the medium, which stays open: the next
// operation loads its cartridge again. A filemark goes first after a
// write, where the driver would write one at close.
func (m *Medium) detach() error {
	var err error
	if m.lastWrite {
		err = m.filemark()
	}
	if e := m.d.Close(); e != nil && err == nil {
		err = e
	}
	m.d, m.tpos, m.lastWrite = nil, -1, false
	return err
}
