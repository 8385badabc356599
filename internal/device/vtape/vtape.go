// Package vtape is a virtual tape: a volume file behaving like a tape.
// Fixed-size blocks are appended in sequence, read back by block, and the
// medium can be positioned at any block (like a tape's locate). A capacity
// can be set: near it the medium gives the early warning that a real drive
// gives near the end of the tape (device.ErrEndOfMedium), leaves a reserve
// of two blocks for a trailer, and then refuses writes (device.ErrFull).
// The filesystem holding the volume file gives the same early warning when
// its free space runs low (Options.MinFree): a volume spans or its session
// fails cleanly before the filesystem is full, and what is kept free stays
// for the catalog and for cutting the session's tail.
//
// Library is the device.Library of a directory of volume files (a vtape
// pool), with the optional device.Space and device.Reclaimer.
//
// A new volume file's directory entry is synced (internal/durable) before
// Create returns, so a catalog that records the volume never outlives the
// file's name.
//
// A volume file holds the blocks end to end, nothing else: block n is at
// byte n*BlockSize. Reads and writes go straight to the file by position
// (pread/pwrite), without buffering or copying.
package vtape

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"daisy/internal/device"
	"daisy/internal/durable"
)

// ReserveBlocks is the number of blocks kept after the early warning for a
// trailer: the warning comes when a write would leave less than this.
const ReserveBlocks = 2

// MaxBlockSize bounds the block size of a virtual tape.
const MaxBlockSize = 64 << 20

// The first block of a daisy volume starts with a block header (see
// internal/volume/format.go): magic "DSY1" at bytes 0..3 and the volume's
// block size, little endian, at bytes 40..43. Open reads the block size
// there when none is given; vtape does not depend on the volume package.
const (
	labelMagic     = "DSY1"
	labelSizeField = 40
	labelHeaderLen = 64
)

// ErrNoLabel is returned by Open, when no block size is given, for a file
// that does not start with a daisy block header to take it from.
var ErrNoLabel = errors.New("vtape: no daisy label to take the block size from")

// Options configure a medium.
type Options struct {
	// BlockSize is the size of every block. Create needs it; Open reads it
	// from the volume's label when it is 0.
	BlockSize int
	// Capacity is the size of the medium in bytes, label included; 0 means
	// unlimited. It must leave room for at least four blocks: the label,
	// one data block and the reserve.
	Capacity int64
	// MinFree is the free space, in bytes, to keep on the filesystem of
	// the volume file; 0 means none. The early warning comes when a block
	// would leave less than MinFree plus the reserve free (checked with
	// statfs, every block when space is short); the reserve's blocks may
	// then still be written.
	MinFree int64
}

// Medium is a mounted volume file. It implements device.Medium,
// device.Locator and device.Truncater. Like every medium it is used by one
// goroutine at a time.
type Medium struct {
	f        *os.File
	path     string
	bs       int64
	capacity int64
	minFree  int64
	readOnly bool

	pos    int64 // block the next read or write uses
	size   int64 // bytes of data in the file
	warned bool  // the early warning has been given
	// After an early warning for want of free space, the reserve ends
	// here (0: no such warning).
	reserveEnd int64
	// Bytes that may be written before free space is checked again.
	unchecked int64
	stats     device.Stats
	closed    bool
}

var (
	_ device.Medium    = (*Medium)(nil)
	_ device.Locator   = (*Medium)(nil)
	_ device.Truncater = (*Medium)(nil)
)

func checkOptions(path string, o Options, needSize bool) error {
	if o.BlockSize < 0 || o.BlockSize > MaxBlockSize || (needSize && o.BlockSize == 0) {
		return fmt.Errorf("vtape: %s: block size %d, must be 1..%d", path, o.BlockSize, MaxBlockSize)
	}
	if o.Capacity < 0 {
		return fmt.Errorf("vtape: %s: negative capacity %d", path, o.Capacity)
	}
	if o.MinFree < 0 {
		return fmt.Errorf("vtape: %s: negative free space to keep %d", path, o.MinFree)
	}
	return nil
}

func checkCapacity(path string, capacity, bs int64) error {
	if capacity != 0 && capacity < (2+ReserveBlocks)*bs {
		return fmt.Errorf("vtape: %s: capacity %d bytes is less than %d blocks of %d (label, one data block and the reserve of %d)", path, capacity, 2+ReserveBlocks, bs, ReserveBlocks)
	}
	return nil
}

// Create makes a new, empty volume file at path, which must not exist; its
// directory must. The new entry is synced in the directory. The medium is
// at block 0.
func Create(path string, o Options) (*Medium, error) {
	if err := checkOptions(path, o, true); err != nil {
		return nil, err
	}
	if err := checkCapacity(path, o.Capacity, int64(o.BlockSize)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("vtape: create %s: the volume file already exists (a new volume needs a new file): %w (%w)", path, device.ErrExists, fs.ErrExist)
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("vtape: create %s: directory %s does not exist: %w", path, filepath.Dir(path), fs.ErrNotExist)
		}
		return nil, fmt.Errorf("vtape: create: %w", err)
	}
	if err := durable.SyncParent(path); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("vtape: create %s: %w", path, err)
	}
	return &Medium{f: f, path: path, bs: int64(o.BlockSize), capacity: o.Capacity, minFree: o.MinFree}, nil
}

// Open mounts an existing volume file, positioned at block 0, for reading
// and appending (read only if the file cannot be written). With
// o.BlockSize 0 the block size is read from the volume's label.
func Open(path string, o Options) (*Medium, error) {
	if err := checkOptions(path, o, false); err != nil {
		return nil, err
	}
	readOnly := false
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		f, err = os.Open(path)
		readOnly = true
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("vtape: open %s: no such volume file: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("vtape: open: %w", err)
	}
	m, err := open(f, path, o, readOnly)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func open(f *os.File, path string, o Options, readOnly bool) (*Medium, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vtape: open: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vtape: open %s: not a regular file", path)
	}
	size := fi.Size()
	bs := int64(o.BlockSize)
	var h [labelHeaderLen]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("vtape: open: read label: %w", err)
	}
	labelBS, labelled := device.LabelBlockSize(h[:n])
	if bs == 0 && (!labelled || labelBS < 1 || labelBS > MaxBlockSize || !blockAt(f, labelBS, 1, size)) {
		// A damaged label: the data blocks' headers give the block size.
		if p := probeBlockSize(f, size); p > 0 {
			labelled, labelBS = true, p
		}
	}
	switch {
	case bs == 0 && !labelled:
		return nil, fmt.Errorf("%w: %s does not start with a daisy block header", ErrNoLabel, path)
	case bs == 0 && (labelBS < 1 || labelBS > MaxBlockSize):
		return nil, fmt.Errorf("%w: %s: label gives block size %d, outside 1..%d", ErrNoLabel, path, labelBS, MaxBlockSize)
	case bs == 0:
		bs = labelBS
		if size < bs {
			return nil, fmt.Errorf("vtape: open %s: %d bytes, shorter than its first block of %d", path, size, bs)
		}
	case labelled && labelBS != bs && !blockAt(f, bs, 1, size): // else the label's field is damaged
		return nil, fmt.Errorf("vtape: open %s: the volume has blocks of %d bytes, the device is set to %d", path, labelBS, bs)
	}
	if err := checkCapacity(path, o.Capacity, bs); err != nil {
		return nil, err
	}
	return &Medium{f: f, path: path, bs: bs, capacity: o.Capacity, minFree: o.MinFree, readOnly: readOnly, size: size}, nil
}

// Name returns the volume file's path.
func (m *Medium) Name() string { return m.path }

// BlockSize returns the size of every block.
func (m *Medium) BlockSize() int { return int(m.bs) }

// Capacity returns the capacity in bytes (0: unlimited).
func (m *Medium) Capacity() int64 { return m.capacity }

// Size returns the bytes of data on the medium.
func (m *Medium) Size() int64 { return m.size }

// Blocks returns the number of blocks on the medium, a partial last block
// included.
func (m *Medium) Blocks() int64 { return (m.size + m.bs - 1) / m.bs }

// Position returns the block the next read or write uses.
func (m *Medium) Position() int64 { return m.pos }

// Stats returns the bytes and blocks moved since the medium was opened.
// BlocksRead counts whole blocks read; BytesRead also counts the bytes of a
// partial block.
func (m *Medium) Stats() device.Stats { return m.stats }

func (m *Medium) errf(op, format string, args ...any) error {
	return &os.PathError{Op: op, Path: m.path, Err: fmt.Errorf(format, args...)}
}

// WriteBlock appends b, exactly one block, at the current position, which
// must be the end of the data. Near the capacity it returns
// device.ErrEndOfMedium once without writing; later writes go into the
// reserve until it is used up (device.ErrFull).
func (m *Medium) WriteBlock(b []byte) error {
	switch {
	case m.closed:
		return m.errf("write", "%w", os.ErrClosed)
	case m.readOnly:
		return m.errf("write", "volume file is read only")
	case int64(len(b)) != m.bs:
		return m.errf("write", "block of %d bytes, the block size is %d", len(b), m.bs)
	case m.pos*m.bs != m.size:
		if m.size%m.bs != 0 {
			return m.errf("write", "the volume ends with a partial block (%d bytes); truncate it before writing", m.size%m.bs)
		}
		return m.errf("write", "at block %d, but the data ends at block %d: a tape is written only at its end (truncate first)", m.pos, m.size/m.bs)
	}
	end := m.size + m.bs
	if err := m.earlyWarning(end); err != nil {
		return err
	}
	n, err := m.f.WriteAt(b, m.size)
	if n > 0 {
		m.stats.BytesWritten += int64(n)
	}
	if err != nil {
		// The file may now hold part of the block: it is a partial tail,
		// which readers report and Truncate cuts.
		if n > 0 {
			m.size += int64(n)
		}
		return err
	}
	m.unchecked -= m.bs
	m.size = end
	m.pos++
	m.stats.BlocksWritten++
	return nil
}

// earlyWarning decides whether a block may be written up to end: the
// early warning (once) when end reaches into the reserve, of the capacity
// or of the free space to keep; device.ErrFull past the reserve.
func (m *Medium) earlyWarning(end int64) error {
	if m.warned {
		if (m.capacity > 0 && end > m.capacity) || (m.reserveEnd > 0 && end > m.reserveEnd) {
			return device.ErrFull
		}
		return nil
	}
	if m.capacity > 0 && end > m.capacity-ReserveBlocks*m.bs {
		m.warned = true
		return device.ErrEndOfMedium
	}
	if m.minFree <= 0 || m.unchecked > 0 {
		return nil
	}
	free, err := freeSpace(int(m.f.Fd()))
	if err != nil {
		// Without statfs there is no early warning; a full filesystem
		// then fails the write itself.
		return nil
	}
	need := m.minFree + (1+ReserveBlocks)*m.bs
	if free < need {
		m.warned = true
		m.reserveEnd = m.size + ReserveBlocks*m.bs
		return fmt.Errorf("%w: %s: %s free on its filesystem, which keeps %s free (and %d blocks of %s for the reserve)",
			device.ErrEndOfMedium, m.path, mib(free), mib(m.minFree), 1+ReserveBlocks, mib(m.bs))
	}
	// Check again once an eighth of the slack is written (other writers
	// share the filesystem), and at least every 16 MiB.
	m.unchecked = min((free-need)/8, 16<<20)
	return nil
}

// FreeSpace returns the bytes free for unprivileged use on the filesystem
// holding path.
func FreeSpace(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func freeSpace(fd int) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// mib formats a byte count for messages, in MiB with one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ReadBlock reads the block at the current position into b[:BlockSize] and
// advances. At the end of the data it returns io.EOF; for a partial last
// block it reads what there is, zeroes the rest, advances past it and
// returns io.ErrUnexpectedEOF.
func (m *Medium) ReadBlock(b []byte) error {
	if m.closed {
		return m.errf("read", "%w", os.ErrClosed)
	}
	if int64(len(b)) < m.bs {
		return m.errf("read", "buffer of %d bytes for a block of %d", len(b), m.bs)
	}
	off := m.pos * m.bs
	if off >= m.size {
		return io.EOF
	}
	b = b[:m.bs]
	want := min(m.bs, m.size-off)
	n, err := m.f.ReadAt(b[:want], off)
	m.stats.BytesRead += int64(n)
	if err != nil && !(err == io.EOF && int64(n) == want) {
		if err == io.EOF {
			// The file shrank under us.
			clear(b[n:])
			m.pos++
			return io.ErrUnexpectedEOF
		}
		return err
	}
	m.pos++
	if want < m.bs {
		clear(b[want:])
		return io.ErrUnexpectedEOF
	}
	m.stats.BlocksRead++
	return nil
}

// Locate positions at block n, 0 ≤ n ≤ Blocks(), like a tape's locate.
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

// Truncate cuts the data after block n-1, so that block n is the next one
// written, and positions there. 0 ≤ n ≤ Blocks(). Cutting back below the
// early-warning point of the capacity clears the warning; one given for
// want of free space is checked anew at the next write.
func (m *Medium) Truncate(n int64) error {
	switch {
	case m.closed:
		return m.errf("truncate", "%w", os.ErrClosed)
	case m.readOnly:
		return m.errf("truncate", "volume file is read only")
	case n < 0 || n > m.Blocks():
		return m.errf("truncate", "block %d is beyond the end of the data (%d blocks)", n, m.Blocks())
	}
	if err := m.f.Truncate(n * m.bs); err != nil {
		return err
	}
	m.size = n * m.bs
	m.pos = n
	if m.capacity == 0 || m.size+m.bs <= m.capacity-ReserveBlocks*m.bs {
		m.warned = false
		m.reserveEnd = 0
		m.unchecked = 0
	}
	return nil
}

// Sync makes the written blocks durable (fsync).
func (m *Medium) Sync() error {
	if m.closed {
		return m.errf("sync", "%w", os.ErrClosed)
	}
	return m.f.Sync()
}

// Close closes the volume file; it does not sync.
func (m *Medium) Close() error {
	if m.closed {
		return m.errf("close", "%w", os.ErrClosed)
	}
	m.closed = true
	return m.f.Close()
}
