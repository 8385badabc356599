package mediaagent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"daisy/internal/buffers"
	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// testVolumes is the Volumes of a reader over the volumes a dirVolumes
// made, opened as vtape files.
type testVolumes struct{ vols []Volume }

func (tv *testVolumes) Volume(ctx context.Context, id string) (Volume, error) {
	for _, v := range tv.vols {
		if v.ID == id {
			return v, nil
		}
	}
	return Volume{}, errors.New("no such volume")
}

func (tv *testVolumes) Open(ctx context.Context, v Volume) (device.Medium, error) {
	return vtape.Open(v.Ref, vtape.Options{BlockSize: v.BlockSize})
}

// written writes n objects of size bytes each, multiplexed onto volumes of
// capacity bytes (0: no limit), and returns the volumes and results.
func written(t *testing.T, n, size int, capacity int64) (*testVolumes, []CopyResult) {
	t.Helper()
	ctx := context.Background()
	var pool records.Pool
	vols := &dirVolumes{dir: t.TempDir(), capacity: capacity}
	var bufs []*buffers.Buffer
	for i := range n {
		bufs = append(bufs, buffers.New("B"+string(rune('1'+i)), 2<<20))
	}
	a := newBMA(vols, bufs...)
	a.ExtentTarget = 1 << 20
	for _, b := range bufs {
		feed(t, ctx, &pool, b, size)
	}
	res, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return &testVolumes{vols: vols.made}, res
}

func readExtentsOf(r CopyResult) []ReadExtent {
	var out []ReadExtent
	for _, e := range r.Extents {
		out = append(out, ReadExtent{VolumeID: e.VolumeID.String(), FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
			FirstOffset: int64(e.FirstOffset), EndOffset: int64(e.EndOffset)})
	}
	return out
}

// assemble reads every record of rd into an assembler and returns the
// stream and the reader's damage.
func assemble(t *testing.T, rd *ExtentReader, id records.ID) ([]byte, []Damage, error) {
	t.Helper()
	var out bytes.Buffer
	asm := records.NewAssembler(id, &out)
	var damage []Damage
	for !asm.Done() {
		rec, err := rd.Next()
		damage = append(damage, rd.TakeDamage()...)
		if err != nil {
			return out.Bytes(), damage, err
		}
		if err := asm.Add(rec.Header, rec.Payload); err != nil {
			return out.Bytes(), damage, err
		}
	}
	return out.Bytes(), damage, nil
}

// TestExtentReaderReadsOnlyItsExtents: an object multiplexed with two
// others reads back whole, its hash checked, and the device counters say
// that only its extents' blocks (and each volume's label) were read.
func TestExtentReaderReadsOnlyItsExtents(t *testing.T) {
	tv, res := written(t, 3, 6<<20, 0)
	r := res[1]
	exts := readExtentsOf(r)
	if len(exts) < 2 {
		t.Fatalf("object in %d extents; the test wants it multiplexed", len(exts))
	}
	rd := NewExtentReader(context.Background(), tv, r.Object, exts)
	defer rd.Close()
	data, damage, err := assemble(t, rd, r.Object)
	if err != nil || len(damage) > 0 {
		t.Fatalf("read: %v, damage %v", err, damage)
	}
	if len(data) != 6<<20 {
		t.Fatalf("%d bytes, want %d", len(data), 6<<20)
	}
	var want int64
	for _, e := range exts {
		want += e.LastBlock - e.FirstBlock + 1
	}
	reads := rd.Reads()
	var blocks, mounts int64
	for _, x := range reads {
		blocks += x.Blocks
		mounts += int64(x.Mounts)
		if x.Volume == "" || x.ID == "" || x.Bytes != x.Blocks*volume.DefaultBlockSize {
			t.Fatalf("counters %+v", x)
		}
	}
	if mounts != 1 || blocks != want+mounts {
		t.Fatalf("read %d blocks in %d mounts, want the %d blocks of the extents and one label per mount: %+v", blocks, mounts, want, reads)
	}
}

// TestExtentReaderSpansVolumes: an object spanning three volumes reads
// back in order, one mount per volume.
func TestExtentReaderSpansVolumes(t *testing.T) {
	tv, res := written(t, 1, 10<<20, 4<<20)
	if len(tv.vols) < 3 {
		t.Fatalf("%d volumes", len(tv.vols))
	}
	rd := NewExtentReader(context.Background(), tv, res[0].Object, readExtentsOf(res[0]))
	defer rd.Close()
	var seen []string
	rd.OnVolume = func(v Volume) { seen = append(seen, v.Label) }
	if _, damage, err := assemble(t, rd, res[0].Object); err != nil || len(damage) > 0 {
		t.Fatalf("read: %v, damage %v", err, damage)
	}
	if len(rd.Reads()) != len(tv.vols) || len(seen) != len(tv.vols) {
		t.Fatalf("read %+v, moved to %v; want the %d volumes once each", rd.Reads(), seen, len(tv.vols))
	}
}

// smash overwrites block n of a volume file with garbage.
func smash(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 100), n*volume.DefaultBlockSize+200); err != nil {
		t.Fatal(err)
	}
}

// TestExtentReaderReportsDamage: a damaged block inside an extent is
// reported with its volume and number, and reading goes on after it, so
// that the records after it are read (the gap shows at the next one).
func TestExtentReaderReportsDamage(t *testing.T) {
	tv, res := written(t, 1, 4<<20, 0)
	exts := readExtentsOf(res[0])
	bad := exts[0].FirstBlock + 3
	smash(t, tv.vols[0].Ref, bad)
	rd := NewExtentReader(context.Background(), tv, res[0].Object, exts)
	defer rd.Close()
	var got []Damage
	rd.OnDamage = func(d Damage) { got = append(got, d) }
	var n int
	var lastSeq uint32
	gap := false
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && rec.Header.Seq != lastSeq+1 {
			gap = true
		}
		lastSeq = rec.Header.Seq
		n++
	}
	if len(got) != 1 || got[0].Block != bad || got[0].Last != bad || got[0].Volume.Label != tv.vols[0].Label ||
		!errors.Is(got[0], volume.ErrBadBlock) || got[0].Unavailable {
		t.Fatalf("damage %+v, want block %d of %s", got, bad, tv.vols[0].Label)
	}
	if !strings.Contains(got[0].Error(), "volume "+tv.vols[0].Label+" block ") {
		t.Fatalf("damage says %q", got[0].Error())
	}
	if !gap || rec0End(t, lastSeq, res[0]) {
		t.Fatalf("read %d records up to seq %d, gap %v: want the records after the damage", n, lastSeq, gap)
	}
}

// rec0End reports whether seq is not the End record's: the read stopped
// early.
func rec0End(t *testing.T, seq uint32, r CopyResult) bool {
	want := uint32((r.Bytes + records.MaxPayload - 1) / records.MaxPayload)
	return seq < want
}

// TestExtentReaderUnavailable: a missing volume file and a file holding
// another volume are unavailable, not damage, and named; the reader goes
// on with the next volume.
func TestExtentReaderUnavailable(t *testing.T) {
	tv, res := written(t, 1, 10<<20, 4<<20)
	exts := readExtentsOf(res[0])
	first, second := tv.vols[0], tv.vols[1]
	if err := os.Rename(first.Ref, first.Ref+".away"); err != nil {
		t.Fatal(err)
	}
	// The second volume's file holds the third volume.
	if err := os.Rename(second.Ref, second.Ref+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tv.vols[2].Ref, second.Ref); err != nil {
		t.Fatal(err)
	}
	rd := NewExtentReader(context.Background(), tv, res[0].Object, exts)
	defer rd.Close()
	_, damage, err := assemble(t, rd, res[0].Object)
	if err == nil {
		t.Fatal("read without two of its volumes succeeded")
	}
	var missing, wrong bool
	for _, d := range damage {
		if !d.Unavailable || d.Block != -1 {
			continue
		}
		switch d.Volume.ID {
		case first.ID:
			missing = strings.Contains(d.Error(), "is missing") && errors.Is(d, os.ErrNotExist)
		case second.ID:
			wrong = strings.Contains(d.Error(), tv.vols[2].ID) && strings.Contains(d.Error(), second.ID)
		}
	}
	if !missing || !wrong {
		t.Fatalf("damage %v: want the missing volume and the wrong one named as unavailable", damage)
	}
}

// TestExtentReaderLocate: seeking to an offset reads a few blocks, not the
// object, and the first data record read holds the offset.
func TestExtentReaderLocate(t *testing.T) {
	const size = 24 << 20
	tv, res := written(t, 1, size, 0)
	id := res[0].Object
	for _, off := range []int64{0, 1, size / 3, size - 100} {
		rd := NewExtentReader(context.Background(), tv, id, readExtentsOf(res[0]))
		if err := rd.Locate(off); err != nil {
			t.Fatal(err)
		}
		first := true
		for {
			rec, err := rd.Next()
			if err != nil {
				t.Fatalf("offset %d: %v", off, err)
			}
			h := rec.Header
			if !h.Type.IsData() {
				continue
			}
			n, _ := records.DataLen(h, rec.Payload)
			if first && int64(h.Offset) > off {
				t.Fatalf("offset %d: positioned after it, at a record at %d", off, h.Offset)
			}
			first = false
			if int64(h.Offset)+int64(n) > off {
				break
			}
		}
		var blocks int64
		for _, x := range rd.Reads() {
			blocks += x.Blocks
		}
		if blocks > 20 {
			t.Fatalf("offset %d: %d blocks read to seek in a %d-block object", off, blocks, size/volume.DefaultBlockSize)
		}
		rd.Close()
	}
}

// TestRMAFallsBackToAnotherCopy: an RMA whose copy's volume is missing
// reads the object from its other copy, checked whole.
func TestRMAFallsBackToAnotherCopy(t *testing.T) {
	tv1, res1 := written(t, 1, 3<<20, 0)
	ctx := context.Background()
	// The same object as a second copy: read the first into a buffer and
	// write it again on other volumes.
	vols2 := &dirVolumes{dir: t.TempDir()}
	in := buffers.New("in", 4<<20)
	bma := newBMA(vols2, in)
	rma := &RMA{Name: "rma", Volumes: tv1, Pool: &records.Pool{}, Tasks: []ReadTask{{Object: res1[0].Object, Extents: readExtentsOf(res1[0]), Out: in}}}
	go rma.Run(ctx)
	res2, err := bma.Run(ctx)
	if err != nil || len(res2) != 1 || res2[0].Err != nil {
		t.Fatalf("second copy: %v %+v", err, res2)
	}
	all := &testVolumes{vols: append(append([]Volume(nil), tv1.vols...), vols2.made...)}
	if err := os.Remove(tv1.vols[0].Ref); err != nil {
		t.Fatal(err)
	}
	out := buffers.New("out", 4<<20)
	cur := out.Attach("test", nil)
	a := &RMA{Name: "rma", Volumes: all, Pool: &records.Pool{}, Tasks: []ReadTask{{Object: res1[0].Object, Extents: readExtentsOf(res1[0]), Out: out,
		Fallbacks: [][]ReadExtent{readExtentsOf(res2[0])}, FallbackCopies: []int{2}}}}
	h := sha256.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		asm := records.NewAssembler(res1[0].Object, h)
		for {
			r, ok := cur.Next(ctx)
			if !ok {
				return
			}
			hd, p, err := records.Decode(r.Bytes())
			if err == nil {
				err = asm.Add(hd, p)
			}
			if err != nil {
				t.Error(err)
			}
			cur.Ack()
		}
	}()
	rr, err := a.Run(ctx)
	<-done
	if err != nil || len(rr) != 1 || rr[0].Err != nil || rr[0].Fallback != 0 || len(rr[0].FellBack) != 1 ||
		!strings.Contains(rr[0].FellBack[0], "is missing") || rr[0].Bytes != 3<<20 {
		t.Fatalf("run: %v %+v", err, rr)
	}
	if len(hex.EncodeToString(h.Sum(nil))) != 64 || len(a.Reads()) == 0 {
		t.Fatalf("reads %+v", a.Reads())
	}
}
