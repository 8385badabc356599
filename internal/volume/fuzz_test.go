package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/, so that `go test`
// runs them; `go test -run TestFuzzSeeds ./internal/volume/ -args
// -update-fuzz-seeds` writes the seed-* entries again from fzSeeds (other
// entries are inputs the fuzzer once failed on, kept as regression tests).
// scripts/fuzz.sh runs every target of the repository; one by hand:
//
//	go test -run XXX -fuzz '^FuzzScanPacked$' -fuzztime 30s -fuzzminimizetime 2s ./internal/volume/
//
// The block size is at least 64 KiB (MinBlockSize), so a volume file is
// too big to be a fuzz input: the inputs of FuzzReader and FuzzScanPacked
// are packed volumes (fzMedium), each block without its zero padding, a
// few hundred bytes to a few KiB, read as a medium in memory.

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "write the fuzz seed corpora in testdata/fuzz")

// fzVolume returns the bytes of a small volume (blocks of 64 KiB): a
// session with three objects (copy marks, compressed data), then one cut
// by a trailer.
func fzVolume(t testing.TB) []byte {
	m := &rtMem{bs: MinBlockSize}
	v := rtNewVol(t, m)
	sid := rtID(0x5e, 1)
	v.add(rtSessionBegin(sid, ""))
	a, b := rtNewObj(1, 30), rtNewObj(2, 20)
	v.add(records.Encode(nil, records.TypeCopyMark, a.id, 0, 0, rtJSON(records.CopyInfo{Copy: 1, Role: "backup", MediaAgent: "bma1"})))
	v.add(a.begin())
	v.add(records.Encode(nil, records.TypeCopyMark, b.id, 0, 0, rtJSON(records.CopyInfo{Copy: 2, Role: "mirror", Level: 1})))
	v.add(b.begin())
	v.add(a.dataRec(15))
	v.add(b.dataRec(20))
	v.add(a.dataRec(15))
	v.add(b.end())
	v.add(a.end())
	// An object compressed with zstd, as a StreamWriter cuts it.
	var pool records.Pool
	w, err := records.NewStreamWriter(rtID(0x0b, 4), records.BeginInfo{Source: "src4", Level: "full", Time: rtTime, Content: "pax", Compression: records.CompressionZstd}, &pool, func(r *records.Record) error {
		v.add(bytes.Clone(r.Bytes()))
		r.Release()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte("compressed "), 20))
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	v.add(rtSessionEnd(sid, 3))
	v.flush()
	v.add(rtSessionBegin(rtID(0x5e, 2), ""))
	c := rtNewObj(3, 10)
	v.add(c.begin())
	v.add(c.dataRec(10))
	v.flush()
	v.add(records.Encode(nil, records.TypeTrailer, rtID(0x5e, 2), 0, 0, rtJSON(TrailerInfo{Session: rtID(0x5e, 2), Next: "TST002", NextVolumeID: rtID(0xee, 2), Time: rtTime})))
	v.flush()
	var out []byte
	for _, blk := range m.blocks {
		out = append(out, blk...)
	}
	return out
}

// fzSeeds returns the seed inputs of each fuzz target: each the values of
// the arguments of its fuzz function.
func fzSeeds(t testing.TB) map[string]map[string][]any {
	vol := fzVolume(t)
	flipped := bytes.Clone(vol)
	flipped[MinBlockSize+BlockHeaderSize+50] ^= 0x08 // in block 1's first record
	truncated := vol[:MinBlockSize*3+30]             // block 3 partial

	// Block 1 cut after its payload (CheckBlock needs no more).
	h, _ := CheckBlock(vol[MinBlockSize:])
	block := bytes.Clone(vol[MinBlockSize : MinBlockSize+BlockHeaderSize+int(h.Length)])
	lh, _ := CheckBlock(vol)
	label := bytes.Clone(vol[:BlockHeaderSize+int(lh.Length)])
	badBlock := bytes.Clone(block)
	badBlock[BlockHeaderSize+records.HeaderSize+3] ^= 1
	badLabel := bytes.Clone(label)
	badLabel[BlockHeaderSize+2] ^= 0x20

	rec := records.Encode(nil, records.TypeData, rtID(0x0b, 1), 65472, 2, []byte("some data of an object stream"))
	begin := block[BlockHeaderSize:]
	bh, _ := records.ParseHeader(begin)
	begin = begin[:bh.Size()]
	badRec := bytes.Clone(rec)
	badRec[30] ^= 2

	holed := bytes.Clone(vol) // block 2, object 3's, never written
	clear(holed[2*MinBlockSize : 3*MinBlockSize])
	holed = append(holed[:3*MinBlockSize:3*MinBlockSize], append(make([]byte, MinBlockSize), vol[3*MinBlockSize:]...)...)
	binary.LittleEndian.PutUint64(holed[4*MinBlockSize+24:], 4) // the trailer block, renumbered
	h4, _ := ParseBlockHeader(holed[4*MinBlockSize:])
	PutBlockHeader(holed[4*MinBlockSize:], h4)

	packed := fzPack(vol)
	return map[string]map[string][]any{
		"FuzzReader": {
			"valid":     {packed, uint8(0), uint8(0)},
			"extent":    {packed, uint8(2), uint8(2)},
			"seek-end":  {packed, uint8(4), uint8(0)},
			"truncated": {fzPack(truncated), uint8(2), uint8(0)},
			"flipped":   {fzPack(flipped), uint8(1), uint8(3)},
			"hole":      {fzPack(holed), uint8(3), uint8(0)},
		},
		"FuzzScanPacked": {
			"valid":     {packed},
			"truncated": {fzPack(truncated)},
			"cut":       {packed[:len(packed)-20]},
			"flipped":   {fzPack(flipped)},
			"hole":      {fzPack(holed)},
		},
		"FuzzBlock": {
			"valid":     {block},
			"label":     {label},
			"flipped":   {badBlock},
			"truncated": {block[:len(block)-7]},
		},
		"FuzzLabel": {
			"valid":   {label},
			"flipped": {badLabel},
			"data":    {block},
		},
		"FuzzRecordDecode": {
			"data":      {rec},
			"begin":     {begin},
			"flipped":   {badRec},
			"truncated": {rec[:len(rec)-1]},
			"header":    {rec[:records.HeaderSize]},
		},
	}
}

func fzPath(target, name string) string {
	return filepath.Join("testdata", "fuzz", target, "seed-"+name)
}

// fzCorpusFile encodes the values of one corpus entry as `go test` reads
// them.
func fzCorpusFile(vals []any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	return b.String()
}

// TestFuzzSeeds checks that the committed seed corpora are the ones fzSeeds
// makes (and writes them with -update-fuzz-seeds), and that the seeds are
// what they claim: the valid volume scans clean, the others are damaged as
// intended, and a volume scans the same from a volume file as from the
// packed medium the fuzz targets use.
func TestFuzzSeeds(t *testing.T) {
	seeds := fzSeeds(t)
	for target, entries := range seeds {
		for name, vals := range entries {
			path := fzPath(target, name)
			want := fzCorpusFile(vals)
			if *updateSeeds {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("seed %s: %v (write the seeds with -update-fuzz-seeds)", path, err)
			}
			if string(got) != want {
				t.Fatalf("seed %s is not what fzSeeds makes: write the seeds with -update-fuzz-seeds", path)
			}
		}
	}
	for name, want := range map[string]struct {
		damage, objects int
		truncated       bool
	}{"valid": {0, 4, false}, "flipped": {1, 1, false}, "truncated": {1, 4, true}, "cut": {1, 4, true}} {
		packed := seeds["FuzzScanPacked"][name][0].([]byte)
		res := fzScan(t, fzMediumOf(packed))
		if file := fzScanFile(t, fzUnpack(packed)); !reflect.DeepEqual(file, res) {
			t.Fatalf("seed %s: scan of the packed medium\n%+v\nscan of the volume file\n%+v", name, res, file)
		}
		if res == nil || len(res.Damage) != want.damage || res.TruncatedTail != want.truncated || len(res.Objects) != want.objects {
			t.Fatalf("seed %s: scan %+v", name, res)
		}
	}
	// Blocks 2 and 3 of the hole seed are one hole, reported once.
	hole := fzScan(t, fzMediumOf(seeds["FuzzScanPacked"]["hole"][0].([]byte)))
	if len(hole.Damage) != 1 || !errors.Is(hole.Damage[0], ErrHole) || hole.Damage[0].Block != 2 || hole.Damage[0].LastBlock() != 3 || hole.GoodEnd != 5 || len(hole.Objects) != 3 {
		t.Fatalf("hole seed: scan %+v", hole)
	}
	// The valid volume's copy marks and compressed object are as written.
	res := fzScan(t, fzMediumOf(seeds["FuzzScanPacked"]["valid"][0].([]byte)))
	if a, b, d := res.Object(rtID(0x0b, 1)), res.Object(rtID(0x0b, 2)), res.Object(rtID(0x0b, 4)); a.Copy == nil || a.Copy.Copy != 1 || b.Copy == nil || b.Copy.Copy != 2 ||
		d.Bytes != 220 || d.End == nil || d.Begin == nil || d.Begin.Compression != records.CompressionZstd || d.End.Stored >= 220 {
		t.Fatalf("valid seed: objects %+v %+v %+v", a, b, d)
	}
	vol := fzVolume(t)
	if !bytes.Equal(fzUnpack(fzPack(vol)), vol) {
		t.Fatalf("a packed volume does not unpack to itself")
	}
	if _, err := CheckBlock(seeds["FuzzBlock"]["valid"][0].([]byte)); err != nil {
		t.Fatalf("valid block seed: %v", err)
	}
	if _, err := parseLabel(fzPad(seeds["FuzzLabel"]["valid"][0].([]byte))); err != nil {
		t.Fatalf("valid label seed: %v", err)
	}
	for name, want := range map[string]int{"valid": 5, "extent": 1, "seek-end": 0} {
		recs, _, err := fzRead(fzMediumOf(seeds["FuzzReader"][name][0].([]byte)), int64(seeds["FuzzReader"][name][1].(uint8)), int64(seeds["FuzzReader"][name][2].(uint8)), false)
		if err != nil || len(recs) < want || want == 0 && len(recs) > 0 {
			t.Fatalf("FuzzReader seed %s: %d records, %v", name, len(recs), err)
		}
	}
}

// fzMedium is a volume in memory given packed: each block is its header
// and payload, and reads as that padded with zeros to the block size. It
// can seek (device.Locator), and a block of zeros (64 zero bytes packed)
// is a hole (NextData).
type fzMedium struct {
	bs      int
	blocks  [][]byte
	partial bool // the last block is a partial one, shorter than a block
	pos     int64
	reads   int
}

// fzMediumOf reads a packed volume: the block size is the one the first
// header gives (64 KiB if that is not between 1 and 1 MiB: larger ones
// cost the fuzzer too much), and each block is the 64 bytes of its header
// and as many bytes of payload as that header says (at most what the block
// size leaves, and what is left of data); fewer than 64 bytes left at the
// end are a partial block. The blocks alias a copy of data.
func fzMediumOf(data []byte) *fzMedium {
	m := &fzMedium{bs: MinBlockSize}
	if len(data) >= BlockHeaderSize {
		if bs := binary.LittleEndian.Uint32(data[40:]); bs >= 1 && bs <= 1<<20 {
			m.bs = int(bs)
		}
	}
	data = bytes.Clone(data)
	for len(data) > 0 {
		if len(data) < BlockHeaderSize {
			m.blocks = append(m.blocks, data)
			m.partial = true
			break
		}
		n := BlockHeaderSize + min(int(binary.LittleEndian.Uint32(data[32:])), max(m.bs-BlockHeaderSize, 0), len(data)-BlockHeaderSize)
		m.blocks = append(m.blocks, data[:n:n])
		data = data[n:]
	}
	return m
}

func (m *fzMedium) Name() string   { return "fuzz" }
func (m *fzMedium) BlockSize() int { return m.bs }
func (m *fzMedium) WriteBlock(b []byte) error {
	return errors.New("fzMedium is read only")
}
func (m *fzMedium) ReadBlock(b []byte) error {
	if m.pos >= int64(len(m.blocks)) {
		return io.EOF
	}
	blk := m.blocks[m.pos]
	m.pos++
	m.reads++
	n := copy(b, blk)
	clear(b[n:])
	if m.partial && m.pos == int64(len(m.blocks)) {
		return io.ErrUnexpectedEOF
	}
	return nil
}
func (m *fzMedium) Position() int64     { return m.pos }
func (m *fzMedium) Sync() error         { return nil }
func (m *fzMedium) Stats() device.Stats { return device.Stats{} }
func (m *fzMedium) Close() error        { return nil }

// NextData makes a block of zeros a hole (a run of a sparse volume file
// never written), as vtape.Medium.NextData finds them: it returns the
// first block at or after n that is not all zeros.
func (m *fzMedium) NextData(n int64) (int64, error) {
	for n = max(n, 0); n < int64(len(m.blocks)); n++ {
		if !m.partial || n < int64(len(m.blocks))-1 {
			if bytes.Count(m.blocks[n], []byte{0}) == len(m.blocks[n]) {
				continue
			}
		}
		return n, nil
	}
	return n, nil
}

func (m *fzMedium) Locate(n int64) error {
	if n < 0 || n > int64(len(m.blocks)) {
		return fmt.Errorf("fzMedium: block %d is beyond the end (%d blocks)", n, len(m.blocks))
	}
	m.pos = n
	return nil
}

// repair makes the CRCs of every block and record whose header parses
// right, so that the fuzzer also reaches volumes whose blocks check but
// whose contents are odd; it reports whether it changed anything.
func (m *fzMedium) repair() bool {
	changed := false
	for _, blk := range m.blocks {
		h, err := ParseBlockHeader(blk)
		if err != nil || BlockHeaderSize+int(h.Length) > len(blk) {
			continue
		}
		before := bytes.Clone(blk)
		fzRepairRecords(blk[BlockHeaderSize : BlockHeaderSize+int(h.Length)])
		PutBlockHeader(blk, h)
		changed = changed || !bytes.Equal(before, blk)
	}
	return changed
}

func fzRepairRecords(p []byte) {
	for off := 0; off+records.HeaderSize <= len(p); {
		h, err := records.ParseHeader(p[off:])
		if err != nil || h.Size() > len(p)-off {
			return
		}
		r := p[off : off+h.Size()]
		binary.LittleEndian.PutUint32(r[36:], records.UpdateChecksum(records.Checksum(r[:36]), r[records.HeaderSize:]))
		off += h.Size()
	}
}

// fzPack drops the padding of each block of a volume (which ends with a
// partial block of less than a header, if any).
func fzPack(vol []byte) []byte {
	var out []byte
	bs := int(binary.LittleEndian.Uint32(vol[40:]))
	for off := 0; off < len(vol); off += bs {
		blk := vol[off:min(off+bs, len(vol))]
		if len(blk) < BlockHeaderSize {
			out = append(out, blk...) // a partial block
			break
		}
		n := BlockHeaderSize + int(binary.LittleEndian.Uint32(blk[32:]))
		out = append(out, blk[:min(n, len(blk))]...)
	}
	return out
}

// fzUnpack returns the volume file of a packed volume.
func fzUnpack(data []byte) []byte {
	m := fzMediumOf(data)
	var out []byte
	for i, blk := range m.blocks {
		out = append(out, blk...)
		if !m.partial || i < len(m.blocks)-1 {
			out = append(out, make([]byte, m.bs-len(blk))...)
		}
	}
	return out
}

// fzPad pads a block to its block size (64 KiB if its header gives none up
// to 1 MiB).
func fzPad(blk []byte) []byte {
	m := fzMediumOf(blk)
	b := make([]byte, m.bs)
	copy(b, blk)
	return b
}

// fzRec is a record as the reader returned it.
type fzRec struct {
	block int64
	raw   string
}

// fzRead reads the volume on m with a Reader: from block from on
// (SeekBlock, if from ≥ 1) to block last (SetLimit, if last ≥ 1). It
// returns the records and the damaged blocks reported, or the error of
// NewReader or SeekBlock. A medium in memory never fails, so any other
// error is one of the reader's own: fzRead panics with it, as it does for
// a record that is not what the reader says it is. With again set, it
// then seeks back and reads the same blocks again, which must give the
// same.
func fzRead(m *fzMedium, from, last int64, again bool) ([]fzRec, []int64, error) {
	m.pos = 0
	r, err := NewReader(m)
	if err != nil {
		return nil, nil, err
	}
	var damage []int64
	r.SetOnDamage(func(d Damage) {
		if !errors.Is(d, ErrBadBlock) && !errors.Is(d, io.ErrUnexpectedEOF) {
			panic(fmt.Sprintf("damage %v is neither ErrBadBlock nor io.ErrUnexpectedEOF", d))
		}
		if d.LastBlock() > d.Block && !errors.Is(d, ErrHole) {
			panic(fmt.Sprintf("damage of a run of blocks that is not a hole: %v", d))
		}
		for b := d.Block; b <= d.LastBlock(); b++ {
			damage = append(damage, b)
		}
	})
	read := func() []fzRec {
		var recs []fzRec
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return recs
			}
			if err != nil {
				panic(fmt.Sprintf("Next: %v", err))
			}
			if len(recs) > len(m.blocks)*MaxBlockSize/records.HeaderSize {
				panic("more records than the volume can hold")
			}
			h, p, derr := records.Decode(rec.Raw)
			if rec.Block < 1 || rec.Block >= int64(len(m.blocks)) || derr != nil || h != rec.Header || !bytes.Equal(p, rec.Payload) || len(rec.Raw) != h.Size() {
				panic(fmt.Sprintf("record %+v (%v) in block %d of %d", rec.Header, derr, rec.Block, len(m.blocks)))
			}
			recs = append(recs, fzRec{rec.Block, string(rec.Raw)})
		}
	}
	if from >= 1 {
		if err := r.SeekBlock(from); err != nil {
			return nil, nil, err
		}
	}
	r.SetLimit(last)
	recs := read()
	if again {
		n := len(damage)
		if err := r.SeekBlock(max(from, 1)); err != nil {
			panic(fmt.Sprintf("SeekBlock(%d) again: %v", max(from, 1), err))
		}
		if twice := read(); !slices.Equal(twice, recs) || !slices.Equal(damage[n:], damage[:n]) {
			panic(fmt.Sprintf("read again from block %d to %d: %d records, damage %v; the first time %d, %v", from, last, len(twice), damage[n:], len(recs), damage[:n]))
		}
		damage = damage[:n]
	}
	return recs, damage, nil
}

// FuzzReader reads a packed volume whole, then from block from to block
// last as a restore reads one extent (SeekBlock, SetLimit), twice: that
// must give the records and damage of the whole read in those blocks.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, from, last uint8) {
		for _, m := range fzMediums(data) {
			all, allDamage, err := fzRead(m, 0, 0, false)
			recs, damage, err2 := fzRead(m, int64(from), int64(last), true)
			if err != nil {
				if err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("NewReader: %v, then %v", err, err2)
				}
				continue
			}
			if err2 != nil {
				if int(from) <= len(m.blocks) {
					t.Fatalf("SeekBlock(%d) of %d blocks: %v", from, len(m.blocks), err2)
				}
				continue
			}
			in := func(b int64) bool { return b >= int64(from) && (last == 0 || b <= int64(last)) }
			var want []fzRec
			for _, r := range all {
				if in(r.block) {
					want = append(want, r)
				}
			}
			wantDamage := slices.DeleteFunc(allDamage, func(b int64) bool { return !in(b) })
			if !slices.Equal(recs, want) || !slices.Equal(damage, wantDamage) {
				t.Fatalf("blocks %d to %d: %d records, damage %v; the whole read has %d records there, damage %v", from, last, len(recs), damage, len(want), wantDamage)
			}
		}
	})
}

// fzMediums returns the medium of a packed volume and, if repairing its
// CRCs changed it, the repaired one.
func fzMediums(data []byte) []*fzMedium {
	m := fzMediumOf(data)
	fixed := fzMediumOf(data)
	if fixed.repair() {
		return []*fzMedium{m, fixed}
	}
	return []*fzMedium{m}
}

// FuzzScanPacked reads a packed volume with a Reader and scans it, checking
// what must hold whatever the input (fzScan).
func FuzzScanPacked(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range fzMediums(data) {
			fzScan(t, m)
		}
	})
}

// fzScanFile scans a volume file, mounted with vtape; nil if it does not
// mount or is not a volume.
func fzScanFile(t *testing.T, vol []byte) *ScanResult {
	path := filepath.Join(t.TempDir(), "vol")
	if err := os.WriteFile(path, vol, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := vtape.Open(path, vtape.Options{})
	if err != nil {
		return nil
	}
	defer m.Close()
	res, err := Scan(m)
	if err != nil {
		return nil
	}
	return res
}

// fzScan reads the volume on m with a Reader and scans it, checking what
// must hold whatever the input. It returns the scan result, nil if m does
// not hold a volume.
func fzScan(t *testing.T, m *fzMedium) *ScanResult {
	blocks := int64(len(m.blocks))
	recs, readerDamage, rerr := fzRead(m, 0, 0, false)
	m.pos = 0
	res, err := Scan(m)
	if (err == nil) != (rerr == nil) {
		t.Fatalf("NewReader: %v, Scan: %v", rerr, err)
	}
	if err != nil {
		return nil
	}
	if res.Blocks > res.GoodEnd || res.GoodEnd > blocks || res.GoodEnd < 1 {
		t.Fatalf("blocks %d, good end %d, %d blocks in the file", res.Blocks, res.GoodEnd, blocks)
	}
	var blockDamage []int64
	tail := false
	label := int64(0) // 1 if the label block was damaged but the volume recovered
	for i, d := range res.Damage {
		if d.Block == 0 {
			if i != 0 || !errors.Is(d, ErrBadBlock) {
				t.Fatalf("damage %d of %v is of the label", i, res.Damage)
			}
			label = 1
			continue
		}
		if errors.Is(d, records.ErrCorrupt) && !errors.Is(d, ErrBadBlock) {
			if d.Block >= res.GoodEnd {
				t.Fatalf("record out of place after the good end: %v", d)
			}
			continue
		}
		for b := d.Block; b <= d.LastBlock(); b++ {
			blockDamage = append(blockDamage, b)
		}
		tail = tail || d.Block >= res.GoodEnd
	}
	if fmt.Sprint(blockDamage) != fmt.Sprint(readerDamage) {
		t.Fatalf("scan damage %v, reader damage %v", blockDamage, readerDamage)
	}
	if tail != res.TruncatedTail {
		t.Fatalf("truncated tail %v with damage %v and good end %d", res.TruncatedTail, res.Damage, res.GoodEnd)
	}
	// Every block before the good end is valid or damaged, once.
	if res.Blocks+label+int64(len(blockDamage)-countFrom(blockDamage, res.GoodEnd)) != res.GoodEnd {
		t.Fatalf("blocks %d and damage %v do not cover the %d blocks before the good end", res.Blocks, blockDamage, res.GoodEnd)
	}
	for _, s := range res.Sessions {
		if s.FirstBlock < 1 || s.FirstBlock > s.LastBlock || s.LastBlock >= res.GoodEnd {
			t.Fatalf("session %+v", s)
		}
	}
	nrec := 0
	for _, o := range res.Objects {
		prev := int64(0)
		for _, e := range o.Extents {
			if e.FirstBlock <= prev || e.LastBlock < e.FirstBlock || e.Records < 1 || e.LastBlock >= res.GoodEnd {
				t.Fatalf("object %s: extents %+v", o.ID, o.Extents)
			}
			prev = e.LastBlock + 1
			nrec += e.Records
		}
		if len(o.Extents) == 0 || o.LastSeq < o.FirstSeq {
			t.Fatalf("object %+v", o)
		}
		for _, mr := range o.Missing {
			if mr.From > mr.To {
				t.Fatalf("object %s: missing %+v", o.ID, o.Missing)
			}
		}
	}
	if nrec > len(recs) {
		t.Fatalf("the objects' extents hold %d records, the volume %d", nrec, len(recs))
	}
	return res
}

func countFrom(blocks []int64, from int64) int {
	n := 0
	for _, b := range blocks {
		if b >= from {
			n++
		}
	}
	return n
}

// FuzzLabel decodes a label block (given packed, without its padding), as
// is and with its CRC made right: parseLabel accepts it, with a label that
// encodes back to a block it accepts as the same label, or rejects it
// with ErrNotDaisy, ErrFormatVersion or a block size mismatch.
func FuzzLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		blk := fzPad(data)
		fzLabel(t, blk)
		if h, err := ParseBlockHeader(blk); err == nil && BlockHeaderSize+int(h.Length) <= len(blk) {
			PutBlockHeader(blk, h)
			fzLabel(t, blk)
		}
	})
}

func fzLabel(t *testing.T, blk []byte) {
	l, err := parseLabel(blk)
	if err != nil {
		if !errors.Is(err, ErrNotDaisy) && !errors.Is(err, ErrFormatVersion) && !strings.Contains(err.Error(), "the medium reads blocks of") {
			t.Fatalf("parseLabel error %v is neither ErrNotDaisy nor ErrFormatVersion", err)
		}
		return
	}
	if l.Format != FormatVersion || l.BlockSize != len(blk) || !ValidBlockSize(l.BlockSize) {
		t.Fatalf("parseLabel accepted %+v of a %d-byte block", l, len(blk))
	}
	again, err := parseLabel(rtLabelBlock(l))
	if err != nil || again.VolumeID != l.VolumeID || again.Label != l.Label || again.Pool != l.Pool || again.BlockSize != l.BlockSize || !again.Created.Equal(l.Created) {
		t.Fatalf("label %+v encodes to a block that parses as %+v, %v", l, again, err)
	}
}

func FuzzBlock(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fzBlock(t, data)
		// Again with the CRCs made right, to reach the record checks.
		if len(data) >= BlockHeaderSize {
			if h, err := ParseBlockHeader(data); err == nil && BlockHeaderSize+int(h.Length) <= len(data) {
				b := bytes.Clone(data)
				fzRepairRecords(b[BlockHeaderSize : BlockHeaderSize+int(h.Length)])
				PutBlockHeader(b, h)
				if _, err := CheckBlock(b); err != nil {
					t.Fatalf("CheckBlock of a block PutBlockHeader made: %v", err)
				}
				fzBlock(t, b)
			}
		}
	})
}

func fzBlock(t *testing.T, data []byte) {
	h, err := CheckBlock(data)
	if err != nil {
		if !errors.Is(err, ErrBadBlock) {
			t.Fatalf("CheckBlock error %v is not ErrBadBlock", err)
		}
		return
	}
	if h.Version != FormatVersion || !ValidBlockSize(int(h.BlockSize)) || BlockHeaderSize+int(h.Length) > len(data) || h.Length > h.BlockSize-BlockHeaderSize {
		t.Fatalf("CheckBlock accepted header %+v of a %d-byte block", h, len(data))
	}
	// Re-encoding the header gives the same bytes (with the reserved bytes
	// zero and the version of this daisy, which CheckBlock demands).
	again := bytes.Clone(data[:BlockHeaderSize+int(h.Length)])
	PutBlockHeader(again, h)
	if !bytes.Equal(again[:44], data[:44]) || !bytes.Equal(again[60:64], data[60:64]) {
		t.Fatalf("header %+v re-encodes differently", h)
	}
	// The records walk the reader does.
	p := data[BlockHeaderSize : BlockHeaderSize+int(h.Length)]
	if err := checkRecords(p, h.Records); err != nil {
		if !errors.Is(err, ErrBadBlock) {
			t.Fatalf("checkRecords error %v is not ErrBadBlock", err)
		}
		return
	}
	n := uint32(0)
	for len(p) > 0 {
		rh, err := records.ParseHeader(p)
		if err != nil || rh.Size() > len(p) {
			t.Fatalf("checkRecords accepted a payload that does not parse: %v", err)
		}
		p = p[rh.Size():]
		n++
	}
	if n != h.Records {
		t.Fatalf("checkRecords accepted %d records for %d", n, h.Records)
	}
}

func FuzzRecordDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, p, err := records.Decode(data)
		if err != nil {
			if !errors.Is(err, records.ErrCorrupt) {
				t.Fatalf("Decode error %v is not ErrCorrupt", err)
			}
			return
		}
		n := h.Size()
		if n > len(data) || len(p) != int(h.Length) || h.Length > records.MaxPayload {
			t.Fatalf("Decode: header %+v, %d payload bytes of %d", h, len(p), len(data))
		}
		enc := records.Encode(nil, h.Type, h.Object, h.Offset, h.Seq, p)
		if h.Flags != 0 {
			// records.Encode cannot set the reserved flags byte, which
			// Decode accepts: set it and the CRC to compare the rest.
			enc[3] = h.Flags
			binary.LittleEndian.PutUint32(enc[36:], records.UpdateChecksum(records.Checksum(enc[:36]), enc[records.HeaderSize:]))
		}
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("re-encoding %+v gives\n%x\nnot\n%x", h, enc[:records.HeaderSize], data[:records.HeaderSize])
		}
	})
}

// TestScanSequenceWrap is the regression test of a crasher FuzzScanPacked
// found (testdata/fuzz/FuzzScanPacked/8870cbd45cb0180d): after a record
// of sequence number 2^32-1 the scanner expected record 0 next, so that a
// record 1 after it was taken as the next one with a gap, and the object
// ended before it began (LastSeq < FirstSeq).
func TestScanSequenceWrap(t *testing.T) {
	m := &rtMem{bs: MinBlockSize}
	v := rtNewVol(t, m)
	sid, id := rtID(0x5e, 1), rtID(0x0b, 1)
	v.add(rtSessionBegin(sid, ""))
	v.add(records.Encode(nil, records.TypeData, id, 0, ^uint32(0), []byte("last")))
	v.add(records.Encode(nil, records.TypeData, id, 4, 1, []byte("next")))
	v.add(rtSessionEnd(sid, 1))
	v.flush()
	m.pos = 0
	res, err := Scan(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 {
		t.Fatalf("objects %+v", res.Objects)
	}
	o := res.Objects[0]
	if o.FirstSeq != ^uint32(0) || o.LastSeq != ^uint32(0) || o.Bytes != 4 || len(o.Missing) != 0 {
		t.Fatalf("object %+v", o)
	}
	if len(res.Damage) != 1 || !errors.Is(res.Damage[0], records.ErrCorrupt) || !strings.Contains(res.Damage[0].Error(), "out of order") {
		t.Fatalf("damage %v, want the record after the last one out of order", res.Damage)
	}
}
