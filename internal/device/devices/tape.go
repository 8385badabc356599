package devices

import (
	"errors"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/tape"
)

// tape: a Linux SCSI tape drive, with its changer (mtx) if it has one; a
// pool's cartridges are read through the pool's drive (config resolves
// it), written through the device's.
func init() {
	Register(config.TypeTape, func(p config.Pool, d config.Device) (device.Library, error) {
		t := p.Tape
		if d.Tape != nil {
			t = d.Tape
		}
		if t == nil {
			return nil, errors.New("no tape drive to read the pool's cartridges through (drive: NAME)")
		}
		o := tape.Options{Path: t.Path, Drive: t.Drive, Peers: t.Peers}
		if t.Changer != "" {
			o.Changer = &tape.Changer{Device: t.Changer}
		}
		return tape.New(o)
	})
}
