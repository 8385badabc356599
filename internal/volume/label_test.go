package volume

import (
	"errors"
	"os"
	"strings"
	"testing"

	"daisy/internal/device/vtape"
)

// rtFlipBit flips bit i of the volume file at path.
func rtFlipBit(t testing.TB, path string, i int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, i/8); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << (i % 8)
	if _, err := f.WriteAt(b, i/8); err != nil {
		t.Fatal(err)
	}
}

// rtCheckRecovered opens the volume (block size from the label, or the
// block headers) and checks that its label damage is reported and the
// label recovered as want; with full, that it reads in full and that a
// scan reports block 0 as damaged, nothing else.
func rtCheckRecovered(t *testing.T, what, path string, objs []*rtObj, want Label, wantNote string, full bool) {
	t.Helper()
	m, err := vtape.Open(path, vtape.Options{})
	if err != nil {
		t.Fatalf("%s: vtape.Open: %v", what, err)
	}
	defer m.Close()
	r, err := NewReader(m)
	if err != nil {
		t.Fatalf("%s: NewReader: %v", what, err)
	}
	ld := r.LabelDamage()
	if !errors.Is(ld, ErrLabelDamaged) || !errors.Is(ld, ErrBadBlock) || !strings.Contains(ld.Error(), wantNote) {
		t.Fatalf("%s: LabelDamage %v, want ErrLabelDamaged saying %q", what, ld, wantNote)
	}
	if got := r.Label(); got != want {
		t.Fatalf("%s: label %+v, want %+v", what, got, want)
	}
	if !full {
		return
	}
	recs, dmg := rtReadAll(t, r)
	if len(dmg) != 0 {
		t.Fatalf("%s: damage in the data blocks: %v", what, dmg)
	}
	data := rtAssemble(t, recs)
	for _, o := range objs {
		if string(data[o.id]) != string(o.data) {
			t.Fatalf("%s: object %d read back differs", what, o.id[15])
		}
	}
	if err := m.Locate(0); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(m)
	if err != nil {
		t.Fatalf("%s: Scan: %v", what, err)
	}
	if len(res.Damage) != 1 || res.Damage[0].Block != 0 || !errors.Is(res.Damage[0].Err, ErrLabelDamaged) || len(res.Objects) != len(objs) {
		t.Fatalf("%s: scan found damage %v and %d objects; want the label block only, and %d objects", what, res.Damage, len(res.Objects), len(objs))
	}
	for _, o := range res.Objects {
		if o.End == nil || len(o.Missing) > 0 {
			t.Fatalf("%s: scanned object %s: end %v, missing %v", what, o.ID, o.End, o.Missing)
		}
	}
}

// One flipped bit anywhere in the label block's header or label is
// damage, not "not a daisy volume": the volume is recovered, the label
// repaired, every record read.
func TestReaderLabelBitFlip(t *testing.T) {
	_, path, objs := rtStandard(t)
	want := rtLabel(MinBlockSize)
	payload := len(rtJSON(want))
	// Every bit of the header, every third bit of the label; every 16th
	// case read in full.
	var bits []int64
	for i := int64(0); i < BlockHeaderSize*8; i++ {
		bits = append(bits, i)
	}
	for i := int64(BlockHeaderSize * 8); i < int64(BlockHeaderSize+payload)*8; i += 3 {
		bits = append(bits, i)
	}
	for n, bit := range bits {
		rtFlipBit(t, path, bit)
		rtCheckRecovered(t, "bit "+itoa(bit), path, objs, want, "repaired: one flipped bit", n%16 == 0)
		if bit/8 >= 40 && bit/8 < 44 {
			// The block size field, on a device set to the volume's block
			// size (verify and restore open volumes so).
			m, err := vtape.Open(path, vtape.Options{BlockSize: MinBlockSize})
			if err != nil {
				t.Fatalf("bit %d: vtape.Open with the block size: %v", bit, err)
			}
			r, err := NewReader(m)
			if err != nil || r.LabelDamage() == nil || r.Label() != want {
				t.Fatalf("bit %d: NewReader on a device of the block size: %v", bit, err)
			}
			m.Close()
		}
		rtFlipBit(t, path, bit)
	}
}

// A label block wiped out is recovered from the first valid data block:
// the volume ID and block size; the label name and pool are unknown.
func TestReaderLabelWiped(t *testing.T) {
	v, path, objs := rtStandard(t)
	rtPatch(t, path, MinBlockSize, 0, false, func(b []byte) { clear(b) })
	want := Label{Format: FormatVersion, VolumeID: v.label.VolumeID, BlockSize: MinBlockSize}
	rtCheckRecovered(t, "wiped label", path, objs, want, "recovered from block 1's header; its label name and pool are unknown", true)
	// Block 1 damaged too: block 2 gives the volume (and its objects lose
	// what block 1 held, which is not checked here).
	rtPatch(t, path, MinBlockSize, 1, false, func(b []byte) { b[100] ^= 1 })
	m2, err := vtape.Open(path, vtape.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewReader(m2)
	if err != nil || !strings.Contains(r2.LabelDamage().Error(), "recovered from block 2's header") || r2.Label() != want {
		t.Fatalf("label and block 1 damaged: %v, %v", err, r2.LabelDamage())
	}
	m2.Close()

	// With only a label block there is nothing to recover it from.
	one, p1 := rtCreate(t, MinBlockSize)
	one.close()
	rtPatch(t, p1, MinBlockSize, 0, false, func(b []byte) { b[BlockHeaderSize+2] ^= 4 })
	m, err := vtape.Open(p1, vtape.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := NewReader(m); !errors.Is(err, ErrNotDaisy) {
		t.Fatalf("damaged label of a volume without data blocks: %v, want ErrNotDaisy", err)
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
