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
	// Name is the reference of the cartridge in a drive without a
	// changer (default: the device's base name, "nst0"): whatever
	// cartridge is loaded answers to it, and the label checks it.
	Name string
	// Open opens the device; nil is OpenDevice (the kernel's st driver).
	Open Opener
}

// Library is a tape drive, with its changer if it has one, as a
// device.Library. References are barcodes (with a changer) or the fixed
// name of the drive (without one). The drive holds one cartridge: Open,
// Create and Erase fail with device.ErrBusy while a medium it mounted is
// open.
type Library struct {
	o     Options
	drive *driveLock
}

// driveLock holds a drive for one medium at a time. The libraries of one
// process on the same device path share it (a configuration builds a
// library per pool and per pool and device), as the st driver allows one
// open of a drive.
type driveLock struct {
	mu   sync.Mutex
	busy bool
}

var (
	locksMu sync.Mutex
	locks   = map[string]*driveLock{}
)

func lockOf(path string) *driveLock {
	locksMu.Lock()
	defer locksMu.Unlock()
	l := locks[path]
	if l == nil {
		l = &driveLock{}
		locks[path] = l
	}
	return l
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
	return &Library{o: o, drive: lockOf(o.Path)}, nil
}

// Name identifies the library in messages.
func (l *Library) Name() string {
	if l.o.Changer != nil {
		return fmt.Sprintf("tape %s (changer %s, drive %d)", l.o.Path, l.o.Changer.Device, l.o.Drive)
	}
	return "tape " + l.o.Path
}

// Caps: a tape is sequential (locating takes seconds), appendable,
// cut by a filemark, and gives the early warning.
func (l *Library) Caps() device.Caps {
	return device.Caps{Seekable: false, Append: true, Truncate: true, EarlyWarning: true}
}

// acquire takes the drive for one medium.
func (l *Library) acquire() error {
	l.drive.mu.Lock()
	defer l.drive.mu.Unlock()
	if l.drive.busy {
		return fmt.Errorf("%s: %w: a cartridge is mounted", l.Name(), device.ErrBusy)
	}
	l.drive.busy = true
	return nil
}

func (l *Library) release() {
	l.drive.mu.Lock()
	l.drive.busy = false
	l.drive.mu.Unlock()
}

// mount loads ref into the drive (through the changer) and opens it; the
// drive is held until the medium closes. f mounts the open drive.
func (l *Library) mount(ctx context.Context, ref device.VolumeRef, write bool, f func(Drive) (*Medium, error)) (*Medium, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	m, err := l.mountHeld(ctx, ref, write, f)
	if err != nil {
		l.release()
		return nil, err
	}
	m.onClose = l.release
	return m, nil
}

func (l *Library) mountHeld(ctx context.Context, ref device.VolumeRef, write bool, f func(Drive) (*Medium, error)) (*Medium, error) {
	if l.o.Changer == nil {
		if ref != l.o.Name {
			return nil, fmt.Errorf("%s: %w: %q (the drive has no changer; its cartridge is %q)", l.Name(), device.ErrNoVolume, ref, l.o.Name)
		}
	} else if err := l.load(ctx, ref); err != nil {
		return nil, err
	}
	d, err := l.o.Open(l.o.Path, write)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name(), err)
	}
	m, err := f(d)
	if err != nil {
		d.Close()
		return nil, err
	}
	return m, nil
}

// load puts the cartridge with barcode tag into the drive, unloading the
// one there (after ejecting it) to the slot it came from.
func (l *Library) load(ctx context.Context, tag string) error {
	c := l.o.Changer
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
		return fmt.Errorf("%s: cartridge %s is in drive %d of the changer", l.Name(), tag, drive)
	}
	if slot == 0 {
		return fmt.Errorf("%s: %w: no cartridge with barcode %q in the changer", l.Name(), device.ErrNoVolume, tag)
	}
	if cur := inv.Drives[l.o.Drive]; cur.Full {
		if err := l.unload(ctx, cur, inv); err != nil {
			return err
		}
	}
	return c.Load(ctx, slot, l.o.Drive)
}

// unload ejects the cartridge in the drive and moves it to its slot (or
// the first empty one).
func (l *Library) unload(ctx context.Context, cur Element, inv Inventory) error {
	if d, err := l.o.Open(l.o.Path, false); err == nil {
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
	return l.o.Changer.Unload(ctx, to, l.o.Drive)
}

// Open mounts the cartridge ref, positioned at block 0, after reading its
// label (with blockSize 0 the label gives the block size).
func (l *Library) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, blockSize int) (device.Medium, error) {
	write := mode == device.Append
	m, err := l.mount(ctx, ref, write, func(d Drive) (*Medium, error) { return Mount(d, ref, write, blockSize) })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Erase empties the cartridge ref and mounts it for writing at block 0.
func (l *Library) Erase(ctx context.Context, ref device.VolumeRef, blockSize int) (device.Medium, error) {
	m, err := l.mount(ctx, ref, true, func(d Drive) (*Medium, error) { return Format(d, ref, blockSize, false) })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Create mounts a blank cartridge for a new volume: with a changer the one
// whose barcode is label if there is one, else the first blank one in
// slot order (cleaning cartridges, barcodes CLN..., are skipped); without,
// the cartridge in the drive, which must be blank. The reference is the
// cartridge's barcode (the drive's name without a changer).
func (l *Library) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	if l.o.Changer == nil {
		m, err := l.mount(ctx, l.o.Name, true, func(d Drive) (*Medium, error) { return Format(d, l.o.Name, blockSize, true) })
		if err != nil {
			return nil, "", err
		}
		return m, l.o.Name, nil
	}
	inv, err := l.o.Changer.Status(ctx)
	if err != nil {
		return nil, "", err
	}
	var tags []string
	if d, s := inv.Find(label); d >= 0 || s > 0 {
		tags = append(tags, label)
	} else {
		for _, e := range append(append([]Element(nil), inv.Drives...), inv.Slots...) {
			if e.Full && e.Tag != "" && !strings.HasPrefix(e.Tag, "CLN") && !e.ImportExport {
				tags = append(tags, e.Tag)
			}
		}
	}
	var notBlank []string
	for _, tag := range tags {
		m, err := l.mount(ctx, tag, true, func(d Drive) (*Medium, error) { return Format(d, tag, blockSize, true) })
		if err == nil {
			return m, tag, nil
		}
		if !errors.Is(err, ErrNotBlank) {
			return nil, "", err
		}
		notBlank = append(notBlank, tag)
	}
	if len(tags) == 1 && tags[0] == label {
		return nil, "", fmt.Errorf("%s: cartridge %s is not blank", l.Name(), label)
	}
	return nil, "", fmt.Errorf("%s: no blank cartridge in the changer (%d with data: %s)", l.Name(), len(notBlank), strings.Join(notBlank, " "))
}

// List returns the cartridges the library holds, by barcode (the drive's
// cartridge without a changer); sizes are unknown without mounting.
func (l *Library) List(ctx context.Context) ([]device.Found, error) {
	if l.o.Changer == nil {
		return []device.Found{{Ref: l.o.Name, Size: -1}}, nil
	}
	inv, err := l.o.Changer.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []device.Found
	for _, e := range append(append([]Element(nil), inv.Drives...), inv.Slots...) {
		if e.Full && e.Tag != "" && !strings.HasPrefix(e.Tag, "CLN") {
			out = append(out, device.Found{Ref: e.Tag, Size: -1})
		}
	}
	return out, nil
}

// Close releases the library; the cartridge stays in the drive.
func (l *Library) Close() error { return nil }
