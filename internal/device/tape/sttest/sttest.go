// Package sttest is a fake Linux SCSI tape driver (st) for tests: drives
// and cartridges in a directory, behind tape.Drive, with the rules of the
// kernel's Documentation/scsi/st.rst for the operations daisy uses:
//
//   - variable block mode (MTSETBLK 0): each write(2) is one block of its
//     byte count; a read returns the next block's length if the buffer
//     holds it and fails with ENOMEM otherwise (the tape moves past the
//     block either way);
//   - a read at a filemark returns 0 and positions after it; at the end
//     of the data the first read returns 0 and the next ones EIO;
//   - writing at a position erases everything after it; a write that
//     passes the early-warning point is finished and returns its count,
//     the next write returns ENOSPC without writing, the one after it is
//     allowed, and so on alternately until the physical end, where every
//     write returns ENOSPC;
//   - the driver writes a filemark before a rewind, offline, MTBSF or
//     MTSEEK that follows a write, and at close after a write;
//   - MTFSF spaces forward over filemarks (positioned after the last),
//     EIO at the end of the data; MTBSF backward (positioned before the
//     filemark), EIO at the beginning; MTSEEK to a logical block
//     (filemarks count; the file and block numbers are then unknown), EIO
//     past the end of the data; MTEOM to the end of the data; MTWEOF
//     writes filemarks (a count of 0 only flushes); MTERASE erases from the
//     position; MTIOCPOS tells the logical block; MTIOCGET gives the
//     status bits (BOT, EOF, EOD, EOT, write protect, online);
//   - opening an empty drive fails with ENOMEDIUM, opening a write
//     protected cartridge for writing with EROFS, opening a drive already
//     open with EBUSY; an operation the fake does not model fails with
//     ENOSYS (as the driver answers MTTELL, which it leaves to MTIOCPOS).
//
// A Shelf is a directory: each cartridge is a file BARCODE.cart, and the
// file driveN names the cartridge loaded in drive N (the fake mtx script
// of this package, or Insert, writes it). The device path /dev/nstN is
// drive N. A Shelf counts what its drives did (Counters), so that tests
// can check how much a restore read.
package sttest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"daisy/internal/device/tape"
)

// Counters count what the drives of a shelf did.
type Counters struct {
	BlocksRead    atomic.Int64 // data blocks read (a read returning data or ENOMEM)
	BlocksWritten atomic.Int64 // data blocks written
	Filemarks     atomic.Int64 // filemarks written
	Positionings  atomic.Int64 // positioning operations (rewind, space, seek, end of data)
	Spaced        atomic.Int64 // tape objects (blocks and filemarks) passed over by positioning
}

// Shelf is a directory of fake cartridges and drives.
type Shelf struct {
	Dir      string
	Counters Counters

	mu      sync.Mutex
	drives  map[int]*driveState
	inserts atomic.Int64
}

type driveState struct {
	load string // the load the position is for (the content of driveN)
	pos  int64
	open bool
}

// NewShelf returns the shelf in dir, which must exist.
func NewShelf(dir string) *Shelf { return &Shelf{Dir: dir, drives: map[int]*driveState{}} }

// Cartridge is a fake tape's content: blocks and filemarks, a capacity and
// an early-warning point, in bytes of block data.
type Cartridge struct {
	Capacity       int64
	EarlyWarning   int64
	WriteProtected bool
	// Objects are the tape's blocks in order; nil is a filemark.
	Objects [][]byte
}

// Blocks returns the number of data blocks on the cartridge.
func (c *Cartridge) Blocks() int {
	n := 0
	for _, o := range c.Objects {
		if o != nil {
			n++
		}
	}
	return n
}

// Filemarks returns the number of filemarks on the cartridge.
func (c *Cartridge) Filemarks() int { return len(c.Objects) - c.Blocks() }

const cartMagic = "STTEST1\n"

var tagRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

func (s *Shelf) cartPath(tag string) (string, error) {
	if !tagRE.MatchString(tag) {
		return "", fmt.Errorf("sttest: barcode %q: use 1-32 letters, digits, '.', '_' or '-'", tag)
	}
	return filepath.Join(s.Dir, tag+".cart"), nil
}

// AddCartridge puts a new blank cartridge on the shelf.
func (s *Shelf) AddCartridge(tag string, capacity, earlyWarning int64) error {
	if earlyWarning <= 0 || earlyWarning > capacity {
		return fmt.Errorf("sttest: cartridge %s: early warning at %d of a capacity of %d", tag, earlyWarning, capacity)
	}
	p, err := s.cartPath(tag)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return fmt.Errorf("sttest: cartridge %s exists", tag)
	}
	return saveCartridge(p, &Cartridge{Capacity: capacity, EarlyWarning: earlyWarning})
}

// Cartridge reads the cartridge with barcode tag.
func (s *Shelf) Cartridge(tag string) (*Cartridge, error) {
	p, err := s.cartPath(tag)
	if err != nil {
		return nil, err
	}
	return loadCartridge(p)
}

// SetCartridge replaces the content of the cartridge with barcode tag
// (tests that damage a tape).
func (s *Shelf) SetCartridge(tag string, c *Cartridge) error {
	p, err := s.cartPath(tag)
	if err != nil {
		return err
	}
	return saveCartridge(p, c)
}

func (s *Shelf) drivePath(n int) string { return filepath.Join(s.Dir, "drive"+strconv.Itoa(n)) }

// Insert loads the cartridge tag into drive n by hand (a drive without a
// changer); "" empties the drive.
func (s *Shelf) Insert(n int, tag string) error {
	if tag == "" {
		err := os.Remove(s.drivePath(n))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	if _, err := s.cartPath(tag); err != nil {
		return err
	}
	// The second line makes each insertion another load: the cartridge
	// is at its beginning.
	return os.WriteFile(s.drivePath(n), []byte(fmt.Sprintf("%s\ninsert %d\n", tag, s.inserts.Add(1))), 0o600)
}

// Loaded returns the barcode of the cartridge in drive n, "" if none.
func (s *Shelf) Loaded(n int) (string, error) {
	tag, _, err := s.loaded(n)
	return tag, err
}

// loaded returns the barcode in drive n and what identifies this load:
// driveN's content (a second line, written by the fake mtx, makes each
// load another one; a cartridge loaded again is at its beginning).
func (s *Shelf) loaded(n int) (tag, load string, err error) {
	b, err := os.ReadFile(s.drivePath(n))
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	tag, _, _ = strings.Cut(string(b), "\n")
	return strings.TrimSpace(tag), string(b), err
}

var devRE = regexp.MustCompile(`nst(\d+)$`)

// Open opens drive N of the device path /dev/nstN; it is a tape.Opener.
func (s *Shelf) Open(path string, write bool) (tape.Drive, error) {
	m := devRE.FindStringSubmatch(path)
	if m == nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
	}
	n, _ := strconv.Atoi(m[1])
	tag, load, err := s.loaded(n)
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.ENOMEDIUM}
	}
	cp, err := s.cartPath(tag)
	if err != nil {
		return nil, err
	}
	c, err := loadCartridge(cp)
	if err != nil {
		return nil, err
	}
	if write && c.WriteProtected {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.EROFS}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.drives[n]
	if st == nil {
		st = &driveState{}
		s.drives[n] = st
	}
	if st.open {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.EBUSY}
	}
	if st.load != load || st.pos > int64(len(c.Objects)) {
		st.load, st.pos = load, 0 // a cartridge is loaded at its beginning
	}
	st.open = true
	return &Drive{s: s, st: st, path: cp, c: c, write: write, pos: st.pos, fileno: -1, blkno: -1}, nil
}

// Drive is one open of a fake drive.
type Drive struct {
	s     *Shelf
	st    *driveState
	path  string
	c     *Cartridge
	write bool

	pos       int64 // logical block: index into c.Objects
	blksize   int32
	eom       int // 0: before the early warning; 1: the next write gets ENOSPC; 2: the next write is allowed
	eodRead   bool
	lastWrite bool
	justFM    bool
	fileno    int64
	blkno     int64
	dirty     bool
	offline   bool
	closed    bool
}

var _ tape.Drive = (*Drive)(nil)

func (d *Drive) check() error {
	switch {
	case d.closed:
		return syscall.EBADF
	case d.offline:
		return syscall.ENOMEDIUM
	case d.blksize != 0:
		return syscall.ENOSYS // fixed block mode is not modelled
	}
	return nil
}

// used returns the bytes of block data before position p.
func (d *Drive) used(p int64) int64 {
	var n int64
	for _, o := range d.c.Objects[:p] {
		n += int64(len(o))
	}
	return n
}

// moved resets what a positioning operation resets.
func (d *Drive) moved() {
	d.eom, d.eodRead, d.justFM = 0, false, false
	d.s.Counters.Positionings.Add(1)
}

// truncate erases everything from the position on.
func (d *Drive) truncate() {
	if d.pos < int64(len(d.c.Objects)) {
		d.c.Objects = d.c.Objects[:d.pos]
		d.dirty = true
	}
}

// Write writes b as one block at the position.
func (d *Drive) Write(b []byte) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	if !d.write {
		return 0, syscall.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	used := d.used(d.pos)
	if used+int64(len(b)) > d.c.Capacity {
		return 0, syscall.ENOSPC // the physical end
	}
	switch d.eom {
	case 1:
		d.eom = 2
		return 0, syscall.ENOSPC
	case 2:
		d.eom = 1
	}
	d.truncate()
	d.c.Objects = append(d.c.Objects, append([]byte(nil), b...))
	d.dirty, d.lastWrite, d.justFM, d.eodRead = true, true, false, false
	d.pos++
	if d.blkno >= 0 {
		d.blkno++
	}
	if d.eom == 0 && used+int64(len(b)) > d.c.EarlyWarning {
		d.eom = 1
	}
	d.s.Counters.BlocksWritten.Add(1)
	return len(b), nil
}

// Read reads the next block into b.
func (d *Drive) Read(b []byte) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	d.lastWrite = false
	if d.pos >= int64(len(d.c.Objects)) {
		if d.eodRead {
			return 0, syscall.EIO
		}
		d.eodRead = true
		return 0, nil
	}
	o := d.c.Objects[d.pos]
	d.pos++
	if o == nil {
		d.justFM = true
		if d.fileno >= 0 {
			d.fileno++
		}
		d.blkno = 0
		return 0, nil
	}
	d.justFM = false
	if d.blkno >= 0 {
		d.blkno++
	}
	d.s.Counters.BlocksRead.Add(1)
	if len(b) < len(o) {
		return 0, syscall.ENOMEM
	}
	return copy(b, o), nil
}

// filemarks writes n filemarks at the position.
func (d *Drive) filemarks(n int32) error {
	if !d.write {
		return syscall.EBADF
	}
	if n == 0 {
		return nil // flush only
	}
	d.truncate()
	for range n {
		d.c.Objects = append(d.c.Objects, nil)
		d.pos++
		if d.fileno >= 0 {
			d.fileno++
		}
		d.s.Counters.Filemarks.Add(1)
	}
	d.blkno, d.dirty, d.justFM = 0, true, true
	return nil
}

// Op runs an MTIOCTOP operation.
func (d *Drive) Op(op int16, count int32) error {
	if d.closed {
		return syscall.EBADF
	}
	if d.offline && op != tape.MTNOP {
		return syscall.ENOMEDIUM
	}
	if op == tape.MTSETBLK {
		if count < 0 {
			return syscall.EINVAL
		}
		d.blksize = count
		return nil
	}
	if err := d.check(); err != nil && op != tape.MTNOP {
		return err
	}
	if d.lastWrite && (op == tape.MTREW || op == tape.MTOFFL || op == tape.MTBSF || op == tape.MTSEEK) {
		if err := d.filemarks(1); err != nil {
			return err
		}
	}
	d.lastWrite = false
	if count < 0 {
		return syscall.EINVAL
	}
	objs := int64(len(d.c.Objects))
	from := d.pos
	defer func() { d.s.Counters.Spaced.Add(max(d.pos-from, from-d.pos)) }()
	switch op {
	case tape.MTNOP:
		return nil
	case tape.MTWEOF:
		return d.filemarks(count)
	case tape.MTREW, tape.MTOFFL:
		d.moved()
		d.pos, d.fileno, d.blkno = 0, 0, 0
		d.offline = op == tape.MTOFFL
		return nil
	case tape.MTEOM:
		d.moved()
		d.pos = objs
		d.fileno, d.blkno = int64(len(d.c.Objects)-d.c.Blocks()), 0
		return nil
	case tape.MTFSF:
		d.moved()
		for range count {
			for {
				if d.pos >= objs {
					d.fileno, d.blkno = -1, -1
					return syscall.EIO
				}
				d.pos++
				if d.c.Objects[d.pos-1] == nil {
					break
				}
			}
			if d.fileno >= 0 {
				d.fileno++
			}
			d.blkno = 0
		}
		d.justFM = count > 0
		return nil
	case tape.MTBSF:
		d.moved()
		for range count {
			for {
				if d.pos == 0 {
					d.fileno, d.blkno = 0, 0
					return syscall.EIO
				}
				d.pos--
				if d.c.Objects[d.pos] == nil {
					break
				}
			}
			if d.fileno > 0 {
				d.fileno--
			}
		}
		d.blkno = -1
		return nil
	case tape.MTSEEK:
		d.moved()
		d.fileno, d.blkno = -1, -1
		if int64(count) > objs {
			d.pos = objs
			return syscall.EIO
		}
		d.pos = int64(count)
		return nil
	case tape.MTERASE:
		if !d.write {
			return syscall.EBADF
		}
		d.truncate()
		return nil
	}
	return syscall.ENOSYS
}

// Tell returns the logical block (MTIOCPOS).
func (d *Drive) Tell() (int64, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	return d.pos, nil
}

// Status returns the drive's status (MTIOCGET).
func (d *Drive) Status() (tape.Mtget, error) {
	if d.closed {
		return tape.Mtget{}, syscall.EBADF
	}
	g := tape.Mtget{Type: tape.MTISSCSI2, Dsreg: int(d.blksize) << tape.MT_ST_BLKSIZE_SHIFT, Fileno: int32(d.fileno), Blkno: int32(d.blkno)}
	if d.offline {
		g.Gstat = tape.GMT_DR_OPEN
		return g, nil
	}
	g.Gstat = tape.GMT_ONLINE
	if d.pos == 0 {
		g.Gstat |= tape.GMT_BOT
	}
	if d.pos >= int64(len(d.c.Objects)) {
		g.Gstat |= tape.GMT_EOD
	}
	if d.justFM {
		g.Gstat |= tape.GMT_EOF
	}
	if d.used(d.pos) > d.c.EarlyWarning {
		g.Gstat |= tape.GMT_EOT
	}
	if d.c.WriteProtected {
		g.Gstat |= tape.GMT_WR_PROT
	}
	return g, nil
}

// Close closes the drive: a filemark after a write, the cartridge saved.
func (d *Drive) Close() error {
	if d.closed {
		return syscall.EBADF
	}
	var err error
	if d.lastWrite && !d.offline {
		err = d.filemarks(1)
	}
	d.closed = true
	if d.dirty {
		if e := saveCartridge(d.path, d.c); e != nil && err == nil {
			err = e
		}
	}
	d.s.mu.Lock()
	d.st.pos, d.st.open = d.pos, false
	d.s.mu.Unlock()
	return err
}

func saveCartridge(path string, c *Cartridge) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString(cartMagic)
	var h [17]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(c.Capacity))
	binary.LittleEndian.PutUint64(h[8:], uint64(c.EarlyWarning))
	if c.WriteProtected {
		h[16] = 1
	}
	w.Write(h[:])
	for _, o := range c.Objects {
		var l [8]byte
		n := int64(-1)
		if o != nil {
			n = int64(len(o))
		}
		binary.LittleEndian.PutUint64(l[:], uint64(n))
		w.Write(l[:])
		w.Write(o)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadCartridge(path string) (*Cartridge, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sttest: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	bad := func(what string) error { return fmt.Errorf("sttest: %s: %s", path, what) }
	var h [len(cartMagic) + 17]byte
	if _, err := io.ReadFull(r, h[:]); err != nil || string(h[:len(cartMagic)]) != cartMagic {
		return nil, bad("not a fake cartridge")
	}
	c := &Cartridge{
		Capacity:       int64(binary.LittleEndian.Uint64(h[len(cartMagic):])),
		EarlyWarning:   int64(binary.LittleEndian.Uint64(h[len(cartMagic)+8:])),
		WriteProtected: h[len(cartMagic)+16] == 1,
	}
	for {
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err == io.EOF {
			return c, nil
		} else if err != nil {
			return nil, bad("truncated")
		}
		n := int64(binary.LittleEndian.Uint64(l[:]))
		if n < 0 {
			c.Objects = append(c.Objects, nil)
			continue
		}
		if n > c.Capacity {
			return nil, bad("a block longer than the capacity")
		}
		o := make([]byte, n)
		if _, err := io.ReadFull(r, o); err != nil {
			return nil, bad("truncated block")
		}
		c.Objects = append(c.Objects, o)
	}
}
