package config

import (
	"reflect"
	"strings"
	"testing"
)

const tapeYAML = `sources:
  - {name: home, paths: [/home]}
pools:
  - {name: weekly, type: tape, retention: 30d}
  - {name: disk}
devices:
  - {name: robot, type: changer, path: /dev/sg1}
  - {name: lto1, type: tape, path: /dev/nst0, changer: robot, drive: 0, block_size: 512KiB}
  - {name: lto2, type: tape, path: /dev/nst1, changer: robot, drive: 1}
  - {name: v0}
backup_group:
  - {name: bma0, device: lto2, pool: weekly, buffers: [{name: B1, source: home}]}
mirror_groups:
  - media_agents:
      - {name: mma1, device: v0, pool: disk, buffers: [{name: B1, follows: bma0.B1}]}
`

// A changer with two drives, a tape pool read through the drive that
// writes it.
func TestTapeConfig(t *testing.T) {
	c, err := Parse("daisy.yaml", []byte(tapeYAML))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := c.Device("robot")
	if ch.Type != TypeChanger || ch.Path != "/dev/sg1" || ch.Tape != nil {
		t.Errorf("changer: %+v", ch)
	}
	l1, _ := c.Device("lto1")
	peers := map[int]string{0: "/dev/nst0", 1: "/dev/nst1"}
	if l1.Tape == nil || !reflect.DeepEqual(*l1.Tape, TapeDrive{Device: "lto1", Path: "/dev/nst0", Changer: "/dev/sg1", Drive: 0, Peers: peers}) || l1.BlockSize != 512*KiB {
		t.Errorf("lto1: %+v %+v", l1, l1.Tape)
	}
	p, _ := c.Pool("weekly")
	if p.Drive != "lto2" || p.Tape == nil || !reflect.DeepEqual(*p.Tape, TapeDrive{Device: "lto2", Path: "/dev/nst1", Changer: "/dev/sg1", Drive: 1, Peers: peers}) {
		t.Errorf("pool weekly reads through %q %+v, want lto2 (the drive writing it)", p.Drive, p.Tape)
	}
	if p.VolumeCapacity != 0 || p.FreeSpace != 0 {
		t.Errorf("tape pool: capacity %d, free space %d", p.VolumeCapacity, p.FreeSpace)
	}
	if d, _ := c.Pool("disk"); d.Tape != nil || d.Drive != "" {
		t.Errorf("vtape pool with a drive: %+v", d)
	}
}

func TestTapeConfigErrors(t *testing.T) {
	base := "sources:\n  - {name: home, paths: [/home]}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"devices:\n  - {name: t, type: tape}\n", `4:21: device t of type tape needs the path of its device, e.g. path: /dev/nst0`},
		{"devices:\n  - {name: t, type: tape, path: dev/nst0}\n", `4:33: path "dev/nst0" of device t is not absolute`},
		{"devices:\n  - {name: t, type: tape, path: /dev/st0}\n", `path /dev/st0 of device t is a rewinding tape device`},
		{"devices:\n  - {name: t, type: tape, path: /dev/nst0, changer: robot}\n", `changer robot of device t does not exist`},
		{"devices:\n  - {name: v, type: vtape}\n  - {name: t, type: tape, path: /dev/nst0, changer: v}\n", `changer v of device t is of type vtape, not changer`},
		{"devices:\n  - {name: t, type: tape, path: /dev/nst0, drive: 1}\n", `device t has a drive number but no changer`},
		{"devices:\n  - {name: r, type: changer, path: /dev/sg1}\n  - {name: t, type: tape, path: /dev/nst0, changer: r, drive: x}\n", `drive "x" of device t must be the drive's number in its changer`},
		{"devices:\n  - {name: r, type: changer, path: /dev/sg1}\n  - {name: t, type: tape, path: /dev/nst0, changer: r}\n  - {name: u, type: tape, path: /dev/nst1, changer: r}\n", `device u is drive 0 of changer r, as device t is`},
		{"devices:\n  - {name: t, type: tape, path: /dev/nst0}\n  - {name: u, type: tape, path: /dev/nst0}\n", `device u uses /dev/nst0, as device t does`},
		{"devices:\n  - {name: r, type: changer, path: /dev/sg1, drive: 0}\n", `drive is a key of a tape drive, not of device r (type changer)`},
		{"devices:\n  - {name: r, type: changer}\n", `device r of type changer needs the path of its device, e.g. path: /dev/sg1`},
		{"devices:\n  - {name: v, path: /dev/nst0}\n", `path is a key of devices of type tape or changer, not of device v (type vtape)`},
		{"pools:\n  - {name: w, type: tape}\n", `tape pool w needs a drive to read its cartridges through`},
		{"pools:\n  - {name: w, type: tape, volume_capacity: 1GiB}\ndevices:\n  - {name: t, type: tape, path: /dev/nst0}\n", `volume_capacity of pool w does not apply to a tape pool`},
		{"pools:\n  - {name: w, type: tape, drive: x}\ndevices:\n  - {name: t, type: tape, path: /dev/nst0}\n", `drive x of pool w does not exist; use one of the tape devices: t`},
		{"pools:\n  - {name: w, type: changer}\n", `pool w cannot be of type changer`},
		{"pools:\n  - {name: w, drive: t}\n", `drive is a key of pools of type tape, not of pool w (type vtape)`},
		{"pools:\n  - {name: w, type: tape}\ndevices:\n  - {name: r, type: changer, path: /dev/sg1}\n  - {name: t, type: tape, path: /dev/nst0, changer: r}\nbackup_group:\n  - {name: b, device: r, pool: w, buffers: [{name: B1, source: home}]}\n",
			`media agent b writes through device r, a changer`},
		{"pools:\n  - {name: w}\ndevices:\n  - {name: t, type: tape, path: /dev/nst0}\nbackup_group:\n  - {name: b, device: t, pool: w, buffers: [{name: B1, source: home}]}\n",
			`media agent b writes through device t of type tape into pool w of type vtape`},
		{"devices:\n  - {name: t, type: tapes, path: /dev/nst0}\n", `unknown type "tapes" of device t; use type: vtape, tape, changer or s3`},
	} {
		_, err := Parse("daisy.yaml", []byte(base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
