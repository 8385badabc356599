package tape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Changer is a tape library's robot, driven through the mtx command of
// Debian's mtx package: "mtx -f DEVICE status" for the inventory,
// "load SLOT DRIVE" and "unload SLOT DRIVE" to move cartridges. Barcodes
// (mtx's VolumeTag) name the cartridges.
type Changer struct {
	// Device is the changer's SCSI generic device (e.g. /dev/sg1).
	Device string
	// Command is the mtx program; "" is "mtx" from PATH.
	Command string
}

// Element is a slot or drive of the inventory.
type Element struct {
	// Number is the slot number (from 1) or the drive number (from 0).
	Number int
	// Full: a cartridge is there.
	Full bool
	// Tag is the cartridge's barcode ("" if it has none or none is read).
	Tag string
	// Source is, for a full drive, the slot its cartridge came from (0
	// unknown).
	Source int
	// ImportExport marks a mail slot.
	ImportExport bool
}

// Inventory is what "mtx status" reports.
type Inventory struct {
	Drives []Element
	Slots  []Element
}

// Find returns where the cartridge with barcode tag is: the drive (from
// 0) or the slot (from 1); drive is -1 when it is in a slot, slot 0 when
// it is nowhere.
func (inv Inventory) Find(tag string) (drive, slot int) {
	for _, d := range inv.Drives {
		if d.Full && d.Tag == tag {
			return d.Number, d.Source
		}
	}
	for _, s := range inv.Slots {
		if s.Full && s.Tag == tag {
			return -1, s.Number
		}
	}
	return -1, 0
}

// robots serializes the mtx commands of the process per changer device:
// a robot moves one cartridge at a time, and the drives of one changer
// share it.
var (
	robotsMu sync.Mutex
	robots   = map[string]*sync.Mutex{}
)

func robot(dev string) *sync.Mutex {
	robotsMu.Lock()
	defer robotsMu.Unlock()
	r := robots[dev]
	if r == nil {
		r = &sync.Mutex{}
		robots[dev] = r
	}
	return r
}

func (c *Changer) run(ctx context.Context, args ...string) ([]byte, error) {
	r := robot(c.Device)
	r.Lock()
	defer r.Unlock()
	cmd := c.Command
	if cmd == "" {
		cmd = "mtx"
	}
	x := exec.CommandContext(ctx, cmd, append([]string{"-f", c.Device}, args...)...)
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	if err := x.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("changer %s: %s: %w (install Debian's mtx package)", c.Device, cmd, err)
		}
		if msg != "" {
			return nil, fmt.Errorf("changer %s: %s %s: %w: %s", c.Device, cmd, strings.Join(args, " "), err, msg)
		}
		return nil, fmt.Errorf("changer %s: %s %s: %w", c.Device, cmd, strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}

// Status returns the changer's inventory.
func (c *Changer) Status(ctx context.Context) (Inventory, error) {
	out, err := c.run(ctx, "status")
	if err != nil {
		return Inventory{}, err
	}
	inv, err := ParseStatus(out)
	if err != nil {
		return Inventory{}, fmt.Errorf("changer %s: mtx status: %w", c.Device, err)
	}
	return inv, nil
}

// Load moves the cartridge in slot into drive.
func (c *Changer) Load(ctx context.Context, slot, drive int) error {
	_, err := c.run(ctx, "load", strconv.Itoa(slot), strconv.Itoa(drive))
	return err
}

// Unload moves the cartridge in drive to slot.
func (c *Changer) Unload(ctx context.Context, slot, drive int) error {
	_, err := c.run(ctx, "unload", strconv.Itoa(slot), strconv.Itoa(drive))
	return err
}

var (
	headerRE  = regexp.MustCompile(`^\s*Storage Changer (.*):(\d+) Drives?, (\d+) Slots? \( (\d+) Import/Export \)$`)
	driveRE   = regexp.MustCompile(`^Data Transfer Element (\d+):(Empty|Full \((?:Storage Element (\d+)|Unknown Storage Element) Loaded\))(.*)$`)
	slotRE    = regexp.MustCompile(`^\s*Storage Element (\d+)( IMPORT/EXPORT)?:(Empty|Full\s*)(.*)$`)
	driveTags = regexp.MustCompile(`^(?::VolumeTag = ([^:]*?))?(?::AlternateVolumeTag = (.*?))?\s*$`)
	slotTags  = regexp.MustCompile(`^(?::VolumeTag=([^:]*?))?(?::AlternateVolumeTag=(.*?))?\s*$`)
)

// ParseStatus parses the output of "mtx status" (mtx.c's Status: a header
// line, one "Data Transfer Element N:" line per drive, one "Storage
// Element N:" line per slot). A line it does not understand is an error
// naming the line.
func ParseStatus(out []byte) (Inventory, error) {
	var inv Inventory
	header := false
	var wantDrives, wantSlots int
	for i, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, " \t\r")
		bad := func(what string) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, what)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if m := headerRE.FindStringSubmatch(line); m != nil {
			if header {
				return inv, bad("a second header")
			}
			header = true
			wantDrives, _ = strconv.Atoi(m[2])
			wantSlots, _ = strconv.Atoi(m[3])
			continue
		}
		if !header {
			return inv, bad("expected the header \"Storage Changer DEVICE:N Drives, N Slots ( N Import/Export )\"")
		}
		if m := driveRE.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil || n != len(inv.Drives) {
				return inv, bad(fmt.Sprintf("drive %s out of order (expected %d)", m[1], len(inv.Drives)))
			}
			e := Element{Number: n, Full: m[2] != "Empty"}
			if m[3] != "" {
				e.Source, _ = strconv.Atoi(m[3])
			}
			t := driveTags.FindStringSubmatch(m[4])
			if t == nil || (!e.Full && m[4] != "") {
				return inv, bad("cannot read the volume tag")
			}
			e.Tag = strings.TrimSpace(t[1])
			inv.Drives = append(inv.Drives, e)
			continue
		}
		if m := slotRE.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil || n != len(inv.Slots)+1 {
				return inv, bad(fmt.Sprintf("slot %s out of order (expected %d)", m[1], len(inv.Slots)+1))
			}
			e := Element{Number: n, Full: m[3] != "Empty", ImportExport: m[2] != ""}
			t := slotTags.FindStringSubmatch(m[4])
			if t == nil || (!e.Full && m[4] != "") {
				return inv, bad("cannot read the volume tag")
			}
			e.Tag = strings.TrimSpace(t[1])
			inv.Slots = append(inv.Slots, e)
			continue
		}
		return inv, bad("not a line of mtx status")
	}
	switch {
	case !header:
		return inv, errors.New("no \"Storage Changer\" header in the output")
	case len(inv.Drives) != wantDrives:
		return inv, fmt.Errorf("the header says %d drives, %d listed", wantDrives, len(inv.Drives))
	case len(inv.Slots) != wantSlots:
		return inv, fmt.Errorf("the header says %d slots, %d listed", wantSlots, len(inv.Slots))
	}
	return inv, nil
}
