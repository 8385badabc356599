package devices_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/device/tape"
	"daisy/internal/device/tape/sttest"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// A tape pool built from daisy.yaml, on the fake st driver and the fake
// mtx with one drive: a session of daisy's volume writer spans, as the
// media agent does (the next volume created while the last is open, the
// trailer written on the last, the records carried over), from the first
// cartridge at its early warning to the second; a scan of each cartridge,
// opened by pool and barcode, finds the records, the trailer and the
// session's end.
func TestTapePoolSpans(t *testing.T) {
	const bs = volume.MinBlockSize
	s := sttest.NewShelf(t.TempDir())
	for _, tag := range []string{"T01", "T02", "T03"} {
		if err := s.AddCartridge(tag, 24*bs, 16*bs); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	if _, err := s.InstallMtx(bin, []string{"T01", "T02", "T03"}, 1); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	defer tape.SetTestOpener(s.Open)()

	c, err := config.Parse("daisy.yaml", []byte(`sources:
  - {name: home, paths: [/home]}
pools:
  - {name: weekly, type: tape}
devices:
  - {name: robot, type: changer, path: `+filepath.Join(s.Dir, "sg1")+`}
  - {name: lto1, type: tape, path: `+filepath.Join(s.Dir, "nst0")+`, changer: robot, block_size: 64KiB}
backup_group:
  - {name: bma0, device: lto1, pool: weekly, buffers: [{name: B1, source: home}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	set := devices.New(c)
	defer set.Close()
	p, _ := c.Pool("weekly")
	dv, _ := c.Device("lto1")
	lib, err := set.Library(p, dv)
	if err != nil {
		t.Fatal(err)
	}
	if caps := lib.Caps(); caps.Seekable || !caps.EarlyWarning || !caps.Append || !caps.Truncate {
		t.Fatalf("caps %+v", caps)
	}
	ctx := context.Background()
	newVolume := func(label, previous string) (device.Medium, *volume.Writer, volume.Label) {
		m, ref, err := lib.Create(ctx, label, bs)
		if err != nil {
			t.Fatal(err)
		}
		l := volume.Label{VolumeID: records.NewID(), Label: label, Pool: "weekly", BlockSize: bs, Created: time.Now().UTC()}
		if err := volume.Format(m, l); err != nil {
			t.Fatal(err)
		}
		w, err := volume.NewWriter(m, l, volume.WriterOptions{Session: volume.SessionInfo{Session: records.NewID(), Previous: previous}, At: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != ref {
			t.Fatalf("medium %s, reference %s", m.Name(), ref)
		}
		return m, w, l
	}
	m1, w, l1 := newVolume("weekly-0001", "")
	var m2 device.Medium
	var l2 volume.Label
	obj := records.NewID()
	payload := bytes.Repeat([]byte("daisy"), 6000) // two records a block
	const n = 40
	var off uint64
	for seq := uint32(1); seq <= n; seq++ {
		rec := records.Encode(nil, records.TypeData, obj, off, seq, payload)
		err := w.Add(rec)
		if errors.Is(err, volume.ErrVolumeFull) {
			if m2 != nil {
				t.Fatal("the second cartridge filled too")
			}
			var w2 *volume.Writer
			m2, w2, l2 = newVolume("weekly-0002", l1.Label)
			if err := w.Span(w2); err != nil {
				t.Fatalf("span: %v", err)
			}
			if err := m1.Close(); err != nil {
				t.Fatal(err)
			}
			w = w2
			err = w.Add(rec)
		}
		if err != nil {
			t.Fatal(err)
		}
		off += uint64(len(payload))
	}
	if m2 == nil {
		t.Fatal("no early warning")
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	var total uint64
	for i, v := range []devices.Volume{{Pool: "weekly", Ref: "T01"}, {Pool: "weekly", Ref: "T02"}} {
		m, err := set.Open(ctx, v, device.ReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		res, err := volume.Scan(m)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Damage) != 0 || len(res.Sessions) != 1 {
			t.Fatalf("%s: damage %v, %d sessions", v.Ref, res.Damage, len(res.Sessions))
		}
		ses := res.Sessions[0]
		switch i {
		case 0:
			if res.Label.Label != "weekly-0001" || ses.Trailer == nil || ses.Trailer.Next != "weekly-0002" || ses.Trailer.NextVolumeID != l2.VolumeID {
				t.Fatalf("T01: label %s, trailer %+v", res.Label.Label, ses.Trailer)
			}
		case 1:
			if res.Label.Label != "weekly-0002" || ses.Info.Previous != "weekly-0001" || ses.End == nil {
				t.Fatalf("T02: label %s, session %+v", res.Label.Label, ses)
			}
		}
		if o := res.Object(obj); o != nil {
			total += o.Bytes
		}
	}
	if total != n*uint64(len(payload)) {
		t.Fatalf("the scans found %d bytes of the object, want %d", total, n*len(payload))
	}
	found, err := lib.List(ctx)
	if err != nil || len(found) != 2 {
		t.Fatalf("List: %v, %v; want T01 and T02 (T03 is blank)", found, err)
	}
}
