package tape

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"daisy/internal/device"
)

// Options configure a tape library: one drive, with or without a changer.
type Options struct {
	// Path is the drive's non-rewinding device (/dev/nst0).
	Path string
	// Changer, when set, moves cartridges into and out of the drive;
	// cartridges are then named by their barcodes.
	Changer *Changer
	// Drive is the drive's number in the changer (mtx's Data Transfer
	// Element, from 0).
	Drive int
	// Peers are the device paths of the changer's other drives, by drive
	// number: a cartridge wanted here that sits in one of them, unused,
	// is ejected there and moved.
	Peers map[int]string
	// Name is the reference of the cartridge in a drive without a
	// changer (default: the device's base name, "nst0"): whatever
	// cartridge is loaded answers to it, and the label checks it.
	Name string
	// Open opens the device; nil is OpenDevice (the kernel's st driver).
	Open Opener
}

// Library is a tape drive, with its changer if it has one, as a
// device.Library. References are barcodes (with a changer) or the fixed
// name of the drive (without one).
//
// With a changer, several media may be open at once although the drive
// holds one cartridge: each medium keeps its place, and the operation of
// one whose cartridge is not in the drive unloads the other (a filemark
// first after a write) and loads its own. That is how a media agent with
// one drive spans: the next volume is created, the trailer written on the
// last one, and the records carried over go to the next one, at the cost
// of three cartridge moves. Without a changer the drive holds its one
// cartridge: Open, Create and Erase fail with device.ErrBusy while a
// medium is open. The libraries of a process on the same device path share
// the drive.
type Library struct {
	o     Options
	dr    *drive
	shelf *shelf
}

// drive is a drive's state in the process: the medium whose cartridge is
// mounted (its device open) and how many media are open.
type drive struct {
	mu   sync.Mutex
	cur  *Medium
	open int
	// loads counts the cartridges loaded by the changer.
	loads int64
}

// shelf is what the process learned of a changer's (or a drive's)
// cartridges: barcode to the label of the volume on it, "" blank.
type shelf struct {
	mu     sync.Mutex
	labels map[string]string
	// inUse counts the open media per barcode, and a Create about to
	// mount a cartridge; Create takes no cartridge that is in use, so two
	// drives of a changer never take the same one.
	inUse map[string]int
}

// reserve marks tag in use unless it is; it reports whether it was not.
func (s *shelf) reserve(tag string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[tag] > 0 {
		return false
	}
	s.inUse[tag]++
	return true
}

func (s *shelf) use(tag string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[tag] += n; s.inUse[tag] <= 0 {
		delete(s.inUse, tag)
	}
}

func (s *shelf) learn(tag, label string) {
	s.mu.Lock()
	s.labels[tag] = label
	s.mu.Unlock()
}

func (s *shelf) forget(tag string) {
	s.mu.Lock()
	delete(s.labels, tag)
	s.mu.Unlock()
}

// known returns the label learned for tag and whether one was.
func (s *shelf) known(tag string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.labels[tag]
	return l, ok
}

// holder returns the barcode of the cartridge learned to hold label.
func (s *shelf) holder(label string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tag, l := range s.labels {
		if l == label {
			return tag, true
		}
	}
	return "", false
}

var (
	statesMu sync.Mutex
	drives   = map[string]*drive{}
	shelves  = map[string]*shelf{}
)

func stateOf(path, shelfKey string) (*drive, *shelf) {
	statesMu.Lock()
	defer statesMu.Unlock()
	d := drives[path]
	if d == nil {
		d = &drive{}
		drives[path] = d
	}
	s := shelves[shelfKey]
	if s == nil {
		s = &shelf{labels: map[string]string{}, inUse: map[string]int{}}
		shelves[shelfKey] = s
	}
	return d, s
}

var (
	openerMu   sync.Mutex
	testOpener Opener
)

// SetTestOpener makes the libraries made from now on, without an Opener
// of their own, open drives with o (a fake st driver, sttest), until the
// returned function is called. For tests only.
func SetTestOpener(o Opener) (undo func()) {
	openerMu.Lock()
	defer openerMu.Unlock()
	old := testOpener
	testOpener = o
	return func() {
		openerMu.Lock()
		defer openerMu.Unlock()
		testOpener = old
	}
}

var _ device.Library = (*Library)(nil)

// New returns the library of a drive.
func New(o Options) (*Library, error) {
	if o.Path == "" {
		return nil, errors.New("tape: no device path (e.g. /dev/nst0)")
	}
	if o.Drive < 0 {
		return nil, fmt.Errorf("tape %s: drive number %d, must be ≥ 0", o.Path, o.Drive)
	}
	if o.Name == "" {
		o.Name = o.Path[strings.LastIndexByte(o.Path, '/')+1:]
	}
	if o.Open == nil {
		openerMu.Lock()
		o.Open = testOpener
		openerMu.Unlock()
	}
	if o.Open == nil {
		o.Open = OpenDevice
	}
	key := "drive " + o.Path
	if o.Changer != nil {
		key = "changer " + o.Changer.Device
	}
	dr, sh := stateOf(o.Path, key)
	return &Library{o: o, dr: dr, shelf: sh}, nil
}

// Name identifies the library in messages.
func (l *Library) Name() string {
	if l.o.Changer != nil {
		return fmt.Sprintf("tape %s (changer %s, drive %d)", l.o.Path, l.o.Changer.Device, l.o.Drive)
	}
	return "tape " + l.o.Path
}

// Caps: a tape is sequential (locating takes seconds), appendable,
// cut by a filemark, and gives the early warning; with a changer the
// cartridges are named by their barcodes.
func (l *Library) Caps() device.Caps {
	return device.Caps{Seekable: false, Append: true, Truncate: true, EarlyWarning: true, Named: l.o.Changer != nil}
}

// Loads returns how many cartridges the changer loaded into the drive in
// this process.
func (l *Library) Loads() int64 {
	l.dr.mu.Lock()
	defer l.dr.mu.Unlock()
	return l.dr.loads
}

// mount makes a medium of the cartridge ref and mounts it in the drive
// (f reads or formats it there).
func (l *Library) mount(ctx context.Context, ref device.VolumeRef, write bool, f func(*Medium) error) (*Medium, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name(), err)
	}
	l.dr.mu.Lock()
	defer l.dr.mu.Unlock()
	if l.o.Changer == nil {
		if ref != l.o.Name {
			return nil, fmt.Errorf("%s: %w: %q (the drive has no changer; its cartridge is %q)", l.Name(), device.ErrNoVolume, ref, l.o.Name)
		}
		if l.dr.open > 0 {
			return nil, fmt.Errorf("%s: %w: a cartridge is mounted", l.Name(), device.ErrBusy)
		}
	}
	m := &Medium{lib: l, name: ref, write: write, tpos: -1}
	if err := l.attach(ctx, m); err != nil {
		return nil, err
	}
	if err := f(m); err != nil {
		m.d.Close()
		m.d, l.dr.cur = nil, nil
		return nil, err
	}
	l.dr.open++
	l.shelf.use(ref, 1)
	return m, nil
}

// attach puts m's cartridge in the drive and opens the device for it,
// after closing the drive under the medium that had it. Called with the
// drive's lock held.
func (l *Library) attach(ctx context.Context, m *Medium) error {
	dr := l.dr
	if dr.cur == m {
		return nil
	}
	if cur := dr.cur; cur != nil {
		dr.cur = nil
		if err := cur.detach(); err != nil {
			return fmt.Errorf("%s: unmount %s for %s: %w", l.Name(), cur.name, m.name, err)
		}
	}
	if l.o.Changer != nil {
		if err := l.load(ctx, m.name); err != nil {
			return err
		}
	}
	d, err := l.o.Open(l.o.Path, m.write)
	if err != nil {
		return fmt.Errorf("%s: %w", l.Name(), err)
	}
	if err := d.Op(MTSETBLK, 0); err != nil {
		d.Close()
		return fmt.Errorf("%s: MTSETBLK 0 (variable block mode): %w", l.Name(), err)
	}
	m.d, m.tpos, m.lastWrite = d, -1, false
	dr.cur = m
	return nil
}

// closeMedium ends m's session (a filemark, loading its cartridge again if
// another took the drive) and releases it.
func (l *Library) closeMedium(m *Medium) error {
	dr := l.dr
	dr.mu.Lock()
	defer dr.mu.Unlock()
	var err error
	if m.unmarked {
		if err = l.attach(context.Background(), m); err == nil {
			if err = m.seek(m.end); err == nil {
				err = m.filemark()
			}
		}
	}
	if dr.cur == m {
		if e := m.d.Close(); e != nil && err == nil {
			err = e
		}
		m.d, dr.cur = nil, nil
	}
	dr.open--
	l.shelf.use(m.name, -1)
	return err
}

// load puts the cartridge with barcode tag into the drive, unloading the
// one there (after ejecting it) to the slot it came from.
func (l *Library) load(ctx context.Context, tag string) error {
	c := l.o.Changer
	// One move at a time on the changer: the inventory read is the one
	// the moves are planned on.
	seq := robot("sequence " + c.Device)
	seq.Lock()
	defer seq.Unlock()
	inv, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if l.o.Drive >= len(inv.Drives) {
		return fmt.Errorf("%s: the changer has %d drives", l.Name(), len(inv.Drives))
	}
	drive, slot := inv.Find(tag)
	if drive == l.o.Drive {
		return nil
	}
	if drive >= 0 {
		if err := l.takeFrom(ctx, drive, inv); err != nil {
			return fmt.Errorf("%s: cartridge %s is in drive %d of the changer: %w", l.Name(), tag, drive, err)
		}
		if inv, err = c.Status(ctx); err != nil {
			return err
		}
		drive, slot = inv.Find(tag)
	}
	if slot == 0 || drive >= 0 {
		return fmt.Errorf("%s: %w: no cartridge with barcode %q in the changer's slots", l.Name(), device.ErrNoVolume, tag)
	}
	if cur := inv.Drives[l.o.Drive]; cur.Full {
		if err := l.unload(ctx, cur, inv); err != nil {
			return err
		}
	}
	if err := c.Load(ctx, slot, l.o.Drive); err != nil {
		return err
	}
	l.dr.loads++
	return nil
}

// takeFrom unloads another drive of the changer to its slot, if this
// process has no medium open in it: the drive is ejected through its
// device (Options.Peers) first.
func (l *Library) takeFrom(ctx context.Context, n int, inv Inventory) error {
	path, ok := l.o.Peers[n]
	if !ok {
		return errors.New("no device path known for that drive (a tape device of the configuration with this changer and drive number)")
	}
	statesMu.Lock()
	peer := drives[path]
	statesMu.Unlock()
	if peer != nil {
		if !peer.mu.TryLock() {
			return fmt.Errorf("%w: drive %s is in use", device.ErrBusy, path)
		}
		defer peer.mu.Unlock()
		if peer.cur != nil {
			return fmt.Errorf("%w: a medium is mounted in drive %s", device.ErrBusy, path)
		}
	}
	return l.unloadDrive(ctx, path, n, inv.Drives[n], inv)
}

// unload ejects the cartridge in the drive and moves it to its slot (or
// the first empty one).
func (l *Library) unload(ctx context.Context, cur Element, inv Inventory) error {
	return l.unloadDrive(ctx, l.o.Path, l.o.Drive, cur, inv)
}

// unloadDrive ejects the cartridge in drive n (device path) and moves it
// to its slot, or the first empty one.
func (l *Library) unloadDrive(ctx context.Context, path string, n int, cur Element, inv Inventory) error {
	if d, err := l.o.Open(path, false); err == nil {
		err = d.Op(MTOFFL, 0)
		d.Close()
		if err != nil {
			return fmt.Errorf("%s: eject %s: MTOFFL: %w", l.Name(), cur.Tag, err)
		}
	}
	to := cur.Source
	if to == 0 || to > len(inv.Slots) || inv.Slots[to-1].Full {
		to = 0
		for _, s := range inv.Slots {
			if !s.Full && !s.ImportExport {
				to = s.Number
				break
			}
		}
	}
	if to == 0 {
		return fmt.Errorf("%s: no empty slot to unload %s into", l.Name(), cur.Tag)
	}
	return l.o.Changer.Unload(ctx, to, n)
}

// Open mounts the cartridge ref, positioned at block 0, after reading its
// label (with blockSize 0 the label gives the block size).
func (l *Library) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, blockSize int) (device.Medium, error) {
	write := mode == device.Append
	m, err := l.mount(ctx, ref, write, func(m *Medium) error { return m.mount(blockSize) })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Erase empties the cartridge ref and mounts it for writing at block 0.
func (l *Library) Erase(ctx context.Context, ref device.VolumeRef, blockSize int) (device.Medium, error) {
	if blockSize < labelHeaderLen || blockSize > MaxBlockSize {
		return nil, fmt.Errorf("%s: erase %s: block size %d, must be %d..%d", l.Name(), ref, blockSize, labelHeaderLen, MaxBlockSize)
	}
	m, err := l.mount(ctx, ref, true, func(m *Medium) error { return m.format(blockSize, false) })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Create mounts a blank cartridge for a new volume labelled label: with a
// changer the one whose barcode is label if there is one, else (and for
// an empty label: the pool then labels the volume with the barcode, as
// Caps.Named says) the first blank one in slot order that no open medium
// holds (cleaning cartridges, barcodes CLN..., are skipped); without, the
// cartridge in the drive, which must be blank. The reference is the cartridge's barcode (the
// drive's name without a changer). A label the library knows on a
// cartridge (from mounting it in this process) fails with
// device.ErrExists.
func (l *Library) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	if blockSize < labelHeaderLen || blockSize > MaxBlockSize {
		return nil, "", fmt.Errorf("%s: new volume %s: block size %d, must be %d..%d", l.Name(), label, blockSize, labelHeaderLen, MaxBlockSize)
	}
	if tag, ok := l.shelf.holder(label); ok && label != "" {
		return nil, "", fmt.Errorf("%s: %w: cartridge %s holds volume %s", l.Name(), device.ErrExists, tag, label)
	}
	format := func(m *Medium) error { return m.format(blockSize, true) }
	if l.o.Changer == nil {
		m, err := l.mount(ctx, l.o.Name, true, format)
		if err != nil {
			if tag, ok := l.shelf.holder(label); ok && label != "" {
				return nil, "", fmt.Errorf("%s: %w: cartridge %s holds volume %s", l.Name(), device.ErrExists, tag, label)
			}
			return nil, "", err
		}
		return m, l.o.Name, nil
	}
	inv, err := l.o.Changer.Status(ctx)
	if err != nil {
		return nil, "", err
	}
	var tags []string
	if d, s := inv.Find(label); label != "" && (d >= 0 || s > 0) {
		tags = append(tags, label)
	} else {
		for _, e := range append(append([]Element(nil), inv.Drives...), inv.Slots...) {
			known, ok := l.shelf.known(e.Tag)
			if e.Full && e.Tag != "" && !strings.HasPrefix(e.Tag, "CLN") && !e.ImportExport && (!ok || known == "") {
				tags = append(tags, e.Tag)
			}
		}
	}
	var notBlank []string
	for _, tag := range tags {
		if !l.shelf.reserve(tag) {
			continue // open, or being taken by another drive's Create
		}
		m, err := l.mount(ctx, tag, true, format)
		l.shelf.use(tag, -1)
		if err == nil {
			return m, tag, nil
		}
		if !errors.Is(err, ErrNotBlank) {
			return nil, "", err
		}
		if holder, ok := l.shelf.holder(label); ok && label != "" {
			return nil, "", fmt.Errorf("%s: %w: cartridge %s holds volume %s", l.Name(), device.ErrExists, holder, label)
		}
		notBlank = append(notBlank, tag)
	}
	if len(tags) == 1 && tags[0] == label {
		return nil, "", fmt.Errorf("%s: %w: cartridge %s is not blank", l.Name(), device.ErrExists, label)
	}
	return nil, "", fmt.Errorf("%s: no blank cartridge in the changer (%d more with data: %s)", l.Name(), len(notBlank), strings.Join(notBlank, " "))
}

// List returns the cartridges that hold volumes, by barcode (the drive's
// cartridge without a changer); sizes are unknown without reading them.
// A cartridge the process has not mounted yet is mounted to see whether
// it is blank (a catalog rebuild reads every one anyway).
func (l *Library) List(ctx context.Context) ([]device.Found, error) {
	refs := []string{l.o.Name}
	if l.o.Changer != nil {
		inv, err := l.o.Changer.Status(ctx)
		if err != nil {
			return nil, err
		}
		refs = nil
		for _, e := range append(append([]Element(nil), inv.Drives...), inv.Slots...) {
			if e.Full && e.Tag != "" && !strings.HasPrefix(e.Tag, "CLN") {
				refs = append(refs, e.Tag)
			}
		}
	}
	var out []device.Found
	for _, ref := range refs {
		if _, ok := l.shelf.known(ref); !ok {
			m, err := l.mount(ctx, ref, false, func(m *Medium) error { return m.mount(0) })
			switch {
			case err == nil:
				m.Close()
			case errors.Is(err, device.ErrBusy):
				// The drive's one cartridge is mounted: it holds a volume.
				out = append(out, device.Found{Ref: ref, Size: -1})
				continue
			case !errors.Is(err, ErrBlank):
				return nil, err
			}
		}
		if label, ok := l.shelf.known(ref); ok && label == "" {
			continue // blank
		}
		out = append(out, device.Found{Ref: ref, Size: -1})
	}
	return out, nil
}

// Close releases the library; the cartridge stays in the drive.
func (l *Library) Close() error { return nil }
