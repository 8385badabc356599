package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Device and pool types of tape libraries.
const (
	// TypeTape is a Linux SCSI tape drive (path: /dev/nst0), with a
	// changer or without.
	TypeTape = "tape"
	// TypeChanger is a tape library's robot (path: /dev/sg1), driven
	// through mtx; tape drives name it with "changer:". It is not a
	// drive: no media agent writes through it.
	TypeChanger = "changer"
)

// TapeDrive says how daisy reaches a tape drive: a device of type tape,
// and the drive a tape pool's cartridges are read through.
type TapeDrive struct {
	// Device is the name of the tape device under devices.
	Device string
	// Path is the drive's non-rewinding st device (/dev/nst0).
	Path string
	// Changer is the changer's device (mtx -f), "" for a drive whose
	// cartridges are loaded by hand.
	Changer string
	// Drive is the drive's number in the changer (mtx's Data Transfer
	// Element, from 0).
	Drive int
	// Peers are the paths of the changer's drives that the configuration
	// names, by drive number (this one included).
	Peers map[int]string
}

// tapeDeviceKeys are the keys a device of type tape or changer adds.
var tapeDeviceKeys = []string{"path", "changer", "drive"}

// deviceTape reads the keys of a tape drive or changer device.
func (d *decoder) deviceTape(im *mapping, dv *Device, dm *deviceMeta) {
	path, pathAt, hasPath := im.str("path")
	changer, chAt, hasChanger := im.str("changer")
	drive, drAt, hasDrive := im.str("drive")
	dm.changer, dm.drive = chAt, drAt
	switch dv.Type {
	case TypeTape, TypeChanger:
	default:
		for _, k := range tapeDeviceKeys {
			if f := im.get(k); f != nil {
				d.errorf(f.key, "%s is a key of devices of type tape or changer, not of %s (type %s); remove it", k, im.label, dv.Type)
			}
		}
		return
	}
	_, typeAt, _ := im.str("type")
	example := "/dev/nst0"
	if dv.Type == TypeChanger {
		example = "/dev/sg1"
	}
	switch {
	case !hasPath && pathAt.valid():
		// reported by str
	case !hasPath:
		d.errorf(typeAt, "%s of type %s needs the path of its device, e.g. path: %s", im.label, dv.Type, example)
	case !filepath.IsAbs(path):
		d.errorf(pathAt, "path %q of %s is not absolute; name the device, e.g. %s", path, im.label, example)
	default:
		dv.Path = filepath.Clean(path)
	}
	if dv.Type == TypeChanger {
		for _, k := range []string{"changer", "drive", "timing"} {
			if f := im.get(k); f != nil {
				d.errorf(f.key, "%s is a key of a tape drive, not of %s (type changer); put it on the drive (type: tape) instead", k, im.label)
			}
		}
		return
	}
	if hasPath && dv.Path != "" && strings.HasPrefix(filepath.Base(dv.Path), "st") {
		d.errorf(pathAt, "path %s of %s is a rewinding tape device: it rewinds when closed, and the next session would overwrite the tape; use the non-rewinding one, %s", dv.Path, im.label, filepath.Join(filepath.Dir(dv.Path), "n"+filepath.Base(dv.Path)))
	}
	dv.Tape = &TapeDrive{Device: dv.Name, Path: dv.Path}
	if hasChanger {
		if strings.TrimSpace(changer) == "" {
			d.errorf(chAt, "%s has an empty changer; name a device of type changer, or remove the key for a drive loaded by hand", im.label)
		} else {
			dv.Tape.Changer = changer // a device name until checkTape resolves it
		}
	}
	if hasDrive {
		n, err := strconv.Atoi(strings.TrimSpace(drive))
		switch {
		case err != nil || n < 0:
			d.errorf(drAt, "drive %q of %s must be the drive's number in its changer (0, 1, ...)", drive, im.label)
		case !hasChanger:
			d.errorf(drAt, "%s has a drive number but no changer; add changer: NAME or remove drive", im.label)
		default:
			dv.Tape.Drive = n
		}
	}
}

// poolTape reads the keys of a tape pool.
func (d *decoder) poolTape(im *mapping, p *Pool, pm *poolMeta) {
	drive, at, ok := im.str("drive")
	pm.drive = at
	switch p.Type {
	case TypeTape:
	case TypeChanger:
		_, typeAt, _ := im.str("type")
		d.errorf(typeAt, "%s cannot be of type changer, which is a device; a pool of cartridges in a changer is of type tape", im.label)
		return
	default:
		if f := im.get("drive"); f != nil {
			d.errorf(f.key, "drive is a key of pools of type tape, not of %s (type %s); remove it", im.label, p.Type)
		}
		return
	}
	for _, k := range []string{"volume_capacity", "free_space"} {
		if f := im.get(k); f != nil {
			d.errorf(f.key, "%s of %s does not apply to a tape pool: a cartridge ends at the drive's early warning; remove it", k, im.label)
		}
	}
	p.VolumeCapacity, p.FreeSpace = 0, 0
	if ok {
		p.Drive = drive
	}
}

// checkTape resolves the changers of tape drives and the drive each tape
// pool is read through, and checks that media agents write through drives
// of their pool's type and never through a changer.
func (d *decoder) checkTape(c *Config, m *meta) {
	var drives, changers []string
	for _, dv := range c.Devices {
		switch dv.Type {
		case TypeTape:
			drives = append(drives, dv.Name)
		case TypeChanger:
			changers = append(changers, dv.Name)
		}
	}
	type slot struct {
		changer string
		drive   int
	}
	usedSlot := map[slot]string{}
	usedPath := map[string]string{}
	for i := range c.Devices {
		dv := &c.Devices[i]
		if dv.Type != TypeTape && dv.Type != TypeChanger {
			continue
		}
		if prev, dup := usedPath[dv.Path]; dup && dv.Path != "" {
			d.errorf(m.devices[i].name, "device %s uses %s, as device %s does; every drive and changer is one device", show(dv.Name), dv.Path, show(prev))
		} else {
			usedPath[dv.Path] = dv.Name
		}
		if dv.Tape == nil || dv.Tape.Changer == "" {
			continue
		}
		name := dv.Tape.Changer
		ch, ok := c.Device(name)
		switch {
		case !ok && m.incomplete[kindDevice]:
			continue
		case !ok:
			d.errorf(m.devices[i].changer, "changer %s of device %s does not exist; add a device of type changer (path: /dev/sg1) or use one of: %s", show(name), show(dv.Name), listNames(changers))
			continue
		case ch.Type != TypeChanger:
			d.errorf(m.devices[i].changer, "changer %s of device %s is of type %s, not changer; use one of: %s", show(name), show(dv.Name), ch.Type, listNames(changers))
			continue
		}
		dv.Tape.Changer = ch.Path
		k := slot{name, dv.Tape.Drive}
		if prev, dup := usedSlot[k]; dup {
			d.errorf(m.devices[i].name, "device %s is drive %d of changer %s, as device %s is; give each its drive number (drive: N)", show(dv.Name), dv.Tape.Drive, show(name), show(prev))
		}
		usedSlot[k] = dv.Name
	}

	peers := map[string]map[int]string{}
	for _, dv := range c.Devices {
		if t := dv.Tape; t != nil && t.Changer != "" {
			if peers[t.Changer] == nil {
				peers[t.Changer] = map[int]string{}
			}
			peers[t.Changer][t.Drive] = t.Path
		}
	}
	for _, dv := range c.Devices {
		if t := dv.Tape; t != nil && t.Changer != "" {
			t.Peers = peers[t.Changer]
		}
	}

	agents := c.MediaAgents()
	for i := range c.CopyJobs {
		agents = append(agents, c.CopyJobs[i].MediaAgents()...)
	}
	for _, a := range agents {
		dv, ok := c.Device(a.Device)
		if !ok {
			continue
		}
		p, pok := c.Pool(a.Pool)
		switch {
		case dv.Type == TypeChanger:
			d.errorf(m.devices[c.deviceIndex(dv.Name)].name, "media agent %s writes through device %s, a changer; a media agent writes through a drive (type: tape) whose changer is %s", show(a.Name), show(dv.Name), show(dv.Name))
		case pok && (dv.Type == TypeTape) != (p.Type == TypeTape):
			d.errorf(m.devices[c.deviceIndex(dv.Name)].name, "media agent %s writes through device %s of type %s into pool %s of type %s; a tape drive writes into tape pools only, and a tape pool is written by tape drives", show(a.Name), show(dv.Name), dv.Type, show(p.Name), p.Type)
		}
	}

	for i := range c.Pools {
		p := &c.Pools[i]
		if p.Type != TypeTape {
			continue
		}
		at := m.pools[i].drive
		if p.Drive == "" {
			// The drive of the first media agent writing into the pool,
			// else the only drive.
			for _, a := range agents {
				if dv, ok := c.Device(a.Device); ok && a.Pool == p.Name && dv.Type == TypeTape {
					p.Drive = dv.Name
					break
				}
			}
			if p.Drive == "" && len(drives) == 1 {
				p.Drive = drives[0]
			}
			if p.Drive == "" {
				if !m.incomplete[kindDevice] {
					d.errorf(m.pools[i].name, "tape pool %s needs a drive to read its cartridges through; add drive: NAME naming one of the tape devices: %s", show(p.Name), listNames(drives))
				}
				continue
			}
			at = m.pools[i].name
		}
		dv, ok := c.Device(p.Drive)
		switch {
		case !ok && m.incomplete[kindDevice]:
		case !ok:
			d.errorf(at, "drive %s of pool %s does not exist; use one of the tape devices: %s", show(p.Drive), show(p.Name), listNames(drives))
		case dv.Type == TypeTape && dv.Tape == nil:
			// the device's own error is reported
		case dv.Type != TypeTape:
			d.errorf(at, "drive %s of pool %s is of type %s, not tape; use one of: %s", show(p.Drive), show(p.Name), dv.Type, listNames(drives))
		default:
			t := *dv.Tape
			p.Tape = &t
		}
	}
}

func (c *Config) deviceIndex(name string) int {
	for i, d := range c.Devices {
		if d.Name == name {
			return i
		}
	}
	return 0
}

// String names a tape drive in messages.
func (t TapeDrive) String() string {
	if t.Changer == "" {
		return t.Path
	}
	return fmt.Sprintf("%s (drive %d of changer %s)", t.Path, t.Drive, t.Changer)
}
