package volume

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
)

// Test helpers are prefixed rt so as not to collide with other tests of
// the package.

var rtTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// rtID returns a fixed ID made from n.
func rtID(kind, n byte) records.ID {
	return records.ID{0x01, 0x94, 0x2a, 0x5c, 0x00, 0x00, 0x70, kind, 0x80, 0, 0, 0, 0, 0, 0, n}
}

func rtLabel(bs int) Label {
	return Label{Format: FormatVersion, VolumeID: rtID(0xee, 1), Label: "TST001", Pool: "test", BlockSize: bs, Created: rtTime}
}

func rtJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// rtLabelBlock encodes the label block of l.
func rtLabelBlock(l Label) []byte {
	b := make([]byte, l.BlockSize)
	p := rtJSON(l)
	copy(b[BlockHeaderSize:], p)
	PutBlockHeader(b, BlockHeader{Flags: flagLabel, Volume: l.VolumeID, Length: uint32(len(p)), BlockSize: uint32(l.BlockSize)})
	return b
}

// rtRec is where a record of an object went.
type rtRec struct {
	h     records.Header
	block int64
}

// rtVol builds a volume by hand, block by block, as the writer does.
type rtVol struct {
	t     testing.TB
	m     device.Medium
	label Label
	blk   []byte
	fill  int
	count uint32
	next  int64
	log   map[records.ID][]rtRec
}

// rtNewVol labels the blank medium m.
func rtNewVol(t testing.TB, m device.Medium) *rtVol {
	t.Helper()
	l := rtLabel(m.BlockSize())
	if err := m.WriteBlock(rtLabelBlock(l)); err != nil {
		t.Fatalf("write label: %v", err)
	}
	return &rtVol{t: t, m: m, label: l, blk: make([]byte, m.BlockSize()), next: 1, log: map[records.ID][]rtRec{}}
}

// rtCreate makes a labelled vtape volume with blocks of bs bytes.
func rtCreate(t testing.TB, bs int) (*rtVol, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "TST001")
	m, err := vtape.Create(path, vtape.Options{BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	return rtNewVol(t, m), path
}

func (v *rtVol) add(rec []byte) {
	if BlockHeaderSize+v.fill+len(rec) > len(v.blk) {
		v.flush()
	}
	copy(v.blk[BlockHeaderSize+v.fill:], rec)
	v.fill += len(rec)
	v.count++
	h, err := records.ParseHeader(rec)
	if err != nil {
		v.t.Fatalf("add: %v", err)
	}
	v.log[h.Object] = append(v.log[h.Object], rtRec{h: h, block: v.next})
}

func (v *rtVol) flush() {
	if v.count == 0 {
		return
	}
	clear(v.blk[BlockHeaderSize+v.fill:])
	PutBlockHeader(v.blk, BlockHeader{Volume: v.label.VolumeID, Number: uint64(v.next), Length: uint32(v.fill), Records: v.count, BlockSize: uint32(len(v.blk))})
	if err := v.m.WriteBlock(v.blk); err != nil {
		v.t.Fatalf("write block %d: %v", v.next, err)
	}
	v.next++
	v.fill, v.count = 0, 0
}

// close flushes and closes the medium.
func (v *rtVol) close() {
	v.flush()
	if err := v.m.Close(); err != nil {
		v.t.Fatal(err)
	}
}

// rtObj produces the records of one object by hand.
type rtObj struct {
	id   records.ID
	data []byte
	seq  uint32
	off  uint64
}

func rtNewObj(n byte, size int) *rtObj {
	o := &rtObj{id: rtID(0x0b, n), data: make([]byte, size)}
	for i := range o.data {
		o.data[i] = byte(i*7+int(n)*13) ^ byte(i>>9)
	}
	return o
}

func (o *rtObj) begin() []byte {
	b := records.BeginInfo{Source: fmt.Sprintf("src%d", o.id[15]), Client: "host1", Level: "full", Time: rtTime, Content: "pax"}
	o.seq = 1
	return records.Encode(nil, records.TypeBegin, o.id, 0, 0, rtJSON(b))
}

func (o *rtObj) more() bool { return o.off < uint64(len(o.data)) }

func (o *rtObj) dataRec(n int) []byte {
	n = min(n, len(o.data)-int(o.off))
	r := records.Encode(nil, records.TypeData, o.id, o.off, o.seq, o.data[o.off:o.off+uint64(n)])
	o.off += uint64(n)
	o.seq++
	return r
}

func (o *rtObj) end() []byte {
	sum := sha256.Sum256(o.data)
	e := records.EndInfo{Length: o.off, Records: o.seq - 1, Hash: records.HashName + hex.EncodeToString(sum[:])}
	return records.Encode(nil, records.TypeEnd, o.id, o.off, o.seq, rtJSON(e))
}

func rtSessionBegin(sid records.ID, previous string) []byte {
	return records.Encode(nil, records.TypeSessionBegin, sid, 0, 0, rtJSON(SessionInfo{Session: sid, Job: 7, MediaAgent: "bma1", Host: "media1", Time: rtTime, Previous: previous}))
}

func rtSessionEnd(sid records.ID, objects int) []byte {
	return records.Encode(nil, records.TypeSessionEnd, sid, 0, 0, rtJSON(SessionEndInfo{Session: sid, Time: rtTime, Objects: objects}))
}

// session writes one session holding objs interleaved, in data records of
// chunk bytes, round robin; each object ends when its data does. With
// end false the session has no end record (its writer stopped).
func (v *rtVol) session(sid records.ID, objs []*rtObj, chunk int, end bool) {
	v.add(rtSessionBegin(sid, ""))
	for _, o := range objs {
		v.add(o.begin())
	}
	for left := len(objs); left > 0; {
		left = 0
		for _, o := range objs {
			if o.seq == 0 || o.seq == ^uint32(0) {
				continue
			}
			if o.more() {
				v.add(o.dataRec(chunk))
			}
			if o.more() {
				left++
				continue
			}
			v.add(o.end())
			o.seq = ^uint32(0) // done
		}
	}
	if end {
		v.add(rtSessionEnd(sid, len(objs)))
	}
	v.flush()
}

// rtOpen mounts a volume file, the block size from its label.
func rtOpen(t testing.TB, path string) *vtape.Medium {
	t.Helper()
	m, err := vtape.Open(path, vtape.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// rtPatch changes block n of a volume file with f; with fixCRC the block
// header is re-encoded (CRC included) from the header fields f left.
func rtPatch(t testing.TB, path string, bs int, n int64, fixCRC bool, f func(b []byte)) {
	t.Helper()
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b := make([]byte, bs)
	if _, err := file.ReadAt(b, n*int64(bs)); err != nil {
		t.Fatalf("patch block %d: %v", n, err)
	}
	f(b)
	if fixCRC {
		h, err := ParseBlockHeader(b)
		if err != nil {
			t.Fatalf("patch block %d: %v", n, err)
		}
		PutBlockHeader(b, h)
	}
	if _, err := file.WriteAt(b, n*int64(bs)); err != nil {
		t.Fatal(err)
	}
}

// rtReadAll reads every record; payloads are copied.
func rtReadAll(t testing.TB, r *Reader) ([]Record, []Damage) {
	t.Helper()
	var recs []Record
	var dmg []Damage
	r.SetOnDamage(func(d Damage) { dmg = append(dmg, d) })
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rec.Payload = bytes.Clone(rec.Payload)
		recs = append(recs, rec)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after io.EOF: %v", err)
	}
	return recs, dmg
}

// rtAssemble demultiplexes the object records and checks each object
// with records.Assembler; it returns the data of each object.
func rtAssemble(t testing.TB, recs []Record) map[records.ID][]byte {
	t.Helper()
	asm := map[records.ID]*records.Assembler{}
	out := map[records.ID]*bytes.Buffer{}
	for _, rec := range recs {
		h := rec.Header
		if !h.Type.IsObject() {
			continue
		}
		a := asm[h.Object]
		if a == nil {
			out[h.Object] = &bytes.Buffer{}
			a = records.NewAssembler(h.Object, out[h.Object])
			asm[h.Object] = a
		}
		if err := a.Add(h, rec.Payload); err != nil {
			t.Fatalf("assemble: %v", err)
		}
	}
	res := map[records.ID][]byte{}
	for id, a := range asm {
		if !a.Done() {
			t.Fatalf("object %s has no end", id)
		}
		res[id] = out[id].Bytes()
	}
	return res
}

// rtStandard writes a volume of blocks of 64 KiB holding one session
// with three interleaved objects in records of 20,000 bytes.
func rtStandard(t testing.TB) (*rtVol, string, []*rtObj) {
	v, path := rtCreate(t, MinBlockSize)
	objs := []*rtObj{rtNewObj(1, 150_000), rtNewObj(2, 95_000), rtNewObj(3, 210_000)}
	v.session(rtID(0x5e, 1), objs, 20_000, true)
	v.close()
	return v, path, objs
}

func TestReaderRoundTrip(t *testing.T) {
	v, path, objs := rtStandard(t)
	m := rtOpen(t, path)
	r, err := NewReader(m)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	if r.Label() != v.label {
		t.Fatalf("label %+v, want %+v", r.Label(), v.label)
	}
	if m.Position() != 1 {
		t.Fatalf("after NewReader the medium is at block %d, want 1", m.Position())
	}
	recs, dmg := rtReadAll(t, r)
	if len(dmg) != 0 {
		t.Fatalf("damage on a clean volume: %v", dmg)
	}
	// Every record, in order, in the block it was written to.
	var n int
	for _, l := range v.log {
		n += len(l)
	}
	if len(recs) != n {
		t.Fatalf("%d records read, %d written", len(recs), n)
	}
	seen := map[records.ID]int{}
	for _, rec := range recs {
		id := rec.Header.Object
		w := v.log[id][seen[id]]
		seen[id]++
		if w.h != rec.Header || w.block != rec.Block {
			t.Fatalf("record %+v in block %d, written %+v in block %d", rec.Header, rec.Block, w.h, w.block)
		}
	}
	if recs[0].Header.Type != records.TypeSessionBegin || recs[len(recs)-1].Header.Type != records.TypeSessionEnd {
		t.Fatalf("session marks: first %s last %s", recs[0].Header.Type, recs[len(recs)-1].Header.Type)
	}
	data := rtAssemble(t, recs)
	for _, o := range objs {
		if !bytes.Equal(data[o.id], o.data) {
			t.Fatalf("object %s: %d bytes read back, %d written, or different", o.id, len(data[o.id]), len(o.data))
		}
	}
	if st := m.Stats(); st.BlocksRead != v.next || st.BytesRead != v.next*MinBlockSize {
		t.Fatalf("stats %+v after reading %d blocks once", st, v.next)
	}
}

func TestReaderPayloadCapacity(t *testing.T) {
	// A caller appending to a payload must not overwrite the next record.
	_, path, _ := rtStandard(t)
	r, err := NewReader(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if cap(rec.Payload) != len(rec.Payload) {
		t.Fatalf("payload has room beyond its end: len %d cap %d", len(rec.Payload), cap(rec.Payload))
	}
}

// rtMem is a medium in memory that cannot seek.
type rtMem struct {
	bs     int
	blocks [][]byte
	tail   []byte // a partial block after the last one
	pos    int64
	st     device.Stats
	err    error // returned by ReadBlock at block errAt
	errAt  int64
}

func (m *rtMem) Name() string   { return "mem" }
func (m *rtMem) BlockSize() int { return m.bs }
func (m *rtMem) WriteBlock(b []byte) error {
	m.blocks = append(m.blocks, bytes.Clone(b))
	m.pos++
	return nil
}
func (m *rtMem) ReadBlock(b []byte) error {
	if m.err != nil && m.pos == m.errAt {
		return m.err
	}
	if m.pos == int64(len(m.blocks)) && m.tail != nil {
		m.pos++
		copy(b, m.tail)
		clear(b[len(m.tail):])
		return io.ErrUnexpectedEOF
	}
	if m.pos >= int64(len(m.blocks)) {
		return io.EOF
	}
	copy(b, m.blocks[m.pos])
	m.pos++
	m.st.BlocksRead++
	return nil
}
func (m *rtMem) Position() int64              { return m.pos }
func (m *rtMem) Sync() error                  { return nil }
func (m *rtMem) Stats() device.Stats          { return m.st }
func (m *rtMem) Close() error                 { return nil }
func rtMemOf(bs int, blocks ...[]byte) *rtMem { return &rtMem{bs: bs, blocks: blocks} }

func TestReaderNotDaisy(t *testing.T) {
	const bs = MinBlockSize
	good := rtLabelBlock(rtLabel(bs))
	relabel := func(f func(l *Label)) []byte {
		l := rtLabel(bs)
		f(&l)
		return rtLabelBlock(l)
	}
	patch := func(b []byte, f func(b []byte), fix bool) []byte {
		b = bytes.Clone(b)
		f(b)
		if fix {
			h, _ := ParseBlockHeader(b)
			PutBlockHeader(b, h)
		}
		return b
	}
	random := make([]byte, bs)
	for i := range random {
		random[i] = byte(i * 131 >> 3)
	}
	notDaisy := map[string]*rtMem{
		"blank":            rtMemOf(bs),
		"random bytes":     rtMemOf(bs, random),
		"short first":      {bs: bs, tail: good[:1000]},
		"bad CRC":          rtMemOf(bs, patch(good, func(b []byte) { b[BlockHeaderSize+3] ^= 1 }, false)),
		"not a label":      rtMemOf(bs, patch(good, func(b []byte) { b[6] = 0 }, true)),
		"label number":     rtMemOf(bs, patch(good, func(b []byte) { b[24] = 1 }, true)),
		"label records":    rtMemOf(bs, patch(good, func(b []byte) { b[36] = 1 }, true)),
		"label flags":      rtMemOf(bs, patch(good, func(b []byte) { b[6] = 3 }, true)),
		"label not JSON":   rtMemOf(bs, patch(good, func(b []byte) { b[BlockHeaderSize] = '[' }, true)),
		"label format 0":   rtMemOf(bs, relabel(func(l *Label) { l.Format = 0 })),
		"label volume ID":  rtMemOf(bs, patch(relabel(func(l *Label) { l.VolumeID = rtID(9, 9) }), func(b []byte) { copy(b[8:24], good[8:24]) }, true)),
		"label block size": rtMemOf(bs, patch(relabel(func(l *Label) { l.BlockSize = 2 * bs }), func(b []byte) { b[40], b[41], b[42] = 0, 0, 1 }, true)),
		"bad block size":   {bs: 1000},
	}
	for name, m := range notDaisy {
		_, err := NewReader(m)
		if !errors.Is(err, ErrNotDaisy) {
			t.Fatalf("%s: NewReader: %v, want ErrNotDaisy", name, err)
		}
	}

	// Newer format versions are refused as such.
	newer := map[string]*rtMem{
		"header version": rtMemOf(bs, patch(good, func(b []byte) { b[4] = 2 }, false)),
		"label format":   rtMemOf(bs, relabel(func(l *Label) { l.Format = FormatVersion + 1 })),
	}
	for name, m := range newer {
		_, err := NewReader(m)
		if !errors.Is(err, ErrFormatVersion) || errors.Is(err, ErrNotDaisy) {
			t.Fatalf("%s: NewReader: %v, want ErrFormatVersion", name, err)
		}
	}

	// A label for another block size: a daisy volume on a misconfigured
	// device, which is not ErrNotDaisy.
	big := rtLabelBlock(rtLabel(2 * bs))
	_, err := NewReader(rtMemOf(bs, big[:bs]))
	if err == nil || errors.Is(err, ErrNotDaisy) {
		t.Fatalf("label of another block size: %v", err)
	}

	// A read error is passed on.
	boom := errors.New("boom")
	_, err = NewReader(&rtMem{bs: bs, blocks: [][]byte{good}, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}

	if _, err := NewReader(rtMemOf(bs, good)); err != nil {
		t.Fatalf("good label: %v", err)
	}
	// Not at block 0 and cannot seek.
	m := rtMemOf(bs, good, good)
	m.pos = 1
	if _, err := NewReader(m); err == nil {
		t.Fatalf("NewReader of a medium at block 1 that cannot seek succeeded")
	}
}

func TestReaderRewindsLocator(t *testing.T) {
	_, path, _ := rtStandard(t)
	m := rtOpen(t, path)
	m.Locate(3)
	r, err := NewReader(m)
	if err != nil {
		t.Fatalf("NewReader at block 3: %v", err)
	}
	rec, err := r.Next()
	if err != nil || rec.Block != 1 || rec.Header.Type != records.TypeSessionBegin {
		t.Fatalf("first record: %+v %v", rec, err)
	}
}

// rtDamageCase damages block 2 of the standard volume.
func TestReaderDamage(t *testing.T) {
	other := rtID(0xee, 2)
	cases := map[string]struct {
		fix bool
		f   func(b []byte)
	}{
		"payload byte": {false, func(b []byte) { b[BlockHeaderSize+5000] ^= 0x40 }},
		"header byte":  {false, func(b []byte) { b[30] ^= 1 }},
		"magic":        {false, func(b []byte) { b[0] = 'X' }},
		"zeroed":       {false, func(b []byte) { clear(b) }},
		"newer version": {false, func(b []byte) {
			b[4] = 2 // with a CRC that matches (PutBlockHeader writes version 1)
			h, _ := ParseBlockHeader(b)
			crc := records.UpdateChecksum(records.Checksum(b[:60]), b[BlockHeaderSize:BlockHeaderSize+int(h.Length)])
			b[60], b[61], b[62], b[63] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
		}},
		"wrong number":      {true, func(b []byte) { b[24] = 7 }},
		"other volume":      {true, func(b []byte) { copy(b[8:24], other[:]) }},
		"label flag":        {true, func(b []byte) { b[6] = 1 }},
		"unknown flag":      {true, func(b []byte) { b[6] = 4 }},
		"block size":        {true, func(b []byte) { b[42] = 2 }},
		"record count up":   {true, func(b []byte) { b[36]++ }},
		"record count down": {true, func(b []byte) { b[36]-- }},
		"record CRC":        {true, func(b []byte) { b[BlockHeaderSize+records.HeaderSize+10] ^= 1 }},
		"record flags": {true, func(b []byte) {
			// Valid record CRC with a reserved flag set.
			r := b[BlockHeaderSize:]
			r[3] = 1
			h, _ := records.ParseHeader(r)
			crc := records.UpdateChecksum(records.Checksum(r[:36]), r[records.HeaderSize:h.Size()])
			r[36], r[37], r[38], r[39] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
		}},
		"payload length": {true, func(b []byte) { b[32] -= 8 }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v, path, _ := rtStandard(t)
			rtPatch(t, path, MinBlockSize, 2, c.fix, c.f)
			r, err := NewReader(rtOpen(t, path))
			if err != nil {
				t.Fatal(err)
			}
			recs, dmg := rtReadAll(t, r)
			if len(dmg) != 1 || dmg[0].Block != 2 || !errors.Is(dmg[0], ErrBadBlock) {
				t.Fatalf("damage %v, want block 2 with ErrBadBlock", dmg)
			}
			t.Log(dmg[0])
			if msg := dmg[0].Error(); msg[:9] != "block 2: " {
				t.Fatalf("damage message %q", msg)
			}
			// Every record of the other blocks, none of block 2.
			want := 0
			for _, l := range v.log {
				for _, w := range l {
					if w.block != 2 {
						want++
					}
				}
			}
			if len(recs) != want {
				t.Fatalf("%d records read, want %d", len(recs), want)
			}
			for _, rec := range recs {
				if rec.Block == 2 {
					t.Fatalf("record of the damaged block returned: %+v", rec.Header)
				}
			}
		})
	}
}

func TestReaderPartialTail(t *testing.T) {
	v, path, _ := rtStandard(t)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(bytes.Repeat([]byte{0x44}, 3000))
	f.Close()
	r, err := NewReader(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	_, dmg := rtReadAll(t, r)
	if len(dmg) != 1 || dmg[0].Block != v.next || !errors.Is(dmg[0], io.ErrUnexpectedEOF) {
		t.Fatalf("damage %v, want the partial block %d with io.ErrUnexpectedEOF", dmg, v.next)
	}
}

func TestReaderReadError(t *testing.T) {
	const bs = MinBlockSize
	m := &rtMem{bs: bs}
	v := rtNewVol(t, m)
	v.session(rtID(0x5e, 1), []*rtObj{rtNewObj(1, 100_000)}, 30_000, true)
	boom := errors.New("drive on fire")
	m.pos, m.err, m.errAt = 0, boom, 2
	r, err := NewReader(m)
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err = r.Next()
		if err != nil {
			break
		}
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Next: %v, want the medium's error", err)
	}
	// Scan returns the error with what it found before.
	m.pos = 0
	res, err := Scan(m)
	if !errors.Is(err, boom) || res == nil || res.GoodEnd != 2 || len(res.Objects) != 1 {
		t.Fatalf("Scan: %v, result %+v", err, res)
	}
}

func TestReaderSeekBlock(t *testing.T) {
	v, path, _ := rtStandard(t)
	m := rtOpen(t, path)
	r, err := NewReader(m)
	if err != nil {
		t.Fatal(err)
	}
	// Read one record, then jump.
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	before := m.Stats()
	if err := r.SeekBlock(4); err != nil {
		t.Fatalf("SeekBlock(4): %v", err)
	}
	var first []records.Header
	for _, l := range v.log {
		for _, w := range l {
			if w.block == 4 {
				first = append(first, w.h)
			}
		}
	}
	rec, err := r.Next()
	if err != nil || rec.Block != 4 {
		t.Fatalf("after SeekBlock(4): block %d, %v", rec.Block, err)
	}
	found := false
	for _, h := range first {
		found = found || h == rec.Header
	}
	if !found {
		t.Fatalf("record %+v is not one of block 4", rec.Header)
	}
	if d := m.Stats().BlocksRead - before.BlocksRead; d != 1 {
		t.Fatalf("%d blocks read after the seek, want 1", d)
	}
	for _, n := range []int64{0, -1} {
		if err := r.SeekBlock(n); err == nil {
			t.Fatalf("SeekBlock(%d) succeeded", n)
		}
	}
	if err := r.SeekBlock(v.next + 1); err == nil {
		t.Fatalf("SeekBlock beyond the end succeeded")
	}
	// At the end, then back.
	if err := r.SeekBlock(v.next); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next at the end: %v", err)
	}
	if err := r.SeekBlock(1); err != nil {
		t.Fatal(err)
	}
	if rec, err := r.Next(); err != nil || rec.Header.Type != records.TypeSessionBegin {
		t.Fatalf("after SeekBlock(1): %+v %v", rec.Header, err)
	}

	// A medium that cannot seek.
	mm := &rtMem{bs: MinBlockSize}
	rtNewVol(t, mm).session(rtID(0x5e, 1), []*rtObj{rtNewObj(1, 10)}, 10, true)
	mm.pos = 0
	r2, err := NewReader(mm)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.SeekBlock(1); err == nil {
		t.Fatalf("SeekBlock on a medium that cannot seek succeeded")
	}
}

func BenchmarkReaderNext(b *testing.B) {
	const bs = DefaultBlockSize
	v, path := rtCreate(b, bs)
	var objs []*rtObj
	for i := range 4 {
		objs = append(objs, rtNewObj(byte(i), 16<<20))
	}
	v.session(rtID(0x5e, 1), objs, records.MaxPayload, true)
	v.close()
	m := rtOpen(b, path)
	r, err := NewReader(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(v.next-1) * bs)
	for b.Loop() {
		if err := r.SeekBlock(1); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
