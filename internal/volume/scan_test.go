package volume

import (
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
)

// rtSpan returns the data range a record covers.
func rtSpan(h records.Header) (from, to uint64) {
	switch h.Type {
	case records.TypeBegin:
		return 0, 0
	case records.TypeData:
		return h.Offset, h.Offset + uint64(h.Length)
	}
	return h.Offset, h.Offset
}

// rtExpect computes, from the log of what was written, what a scan of a
// one-session volume must find of object o when the blocks in damaged are
// lost. sessionEnd is the block of the session's end record (0 if lost).
func rtExpect(v *rtVol, o *rtObj, damaged []int64, sessionEnd int64) ScannedObject {
	isDamaged := func(b int64) bool { return slices.Contains(damaged, b) }
	between := func(a, b int64) []int64 {
		var out []int64
		for _, d := range damaged {
			if d > a && d < b {
				out = append(out, d)
			}
		}
		return out
	}
	want := ScannedObject{ID: o.id}
	log := v.log[o.id]
	firstGood := true
	for i := 0; i < len(log); i++ {
		w := log[i]
		if isDamaged(w.block) {
			// A run of lost records.
			j := i
			for j < len(log) && isDamaged(log[j].block) {
				j++
			}
			from, _ := rtSpan(w.h)
			prev := int64(0)
			if i > 0 {
				prev = log[i-1].block
			}
			r := ByteRange{From: from, To: EndUnknown}
			if j < len(log) {
				r.To, _ = rtSpan(log[j].h)
				r.Blocks = between(prev, log[j].block)
			} else {
				bound := int64(1 << 62)
				if sessionEnd > 0 {
					bound = sessionEnd
				}
				r.Blocks = between(prev, bound)
			}
			want.Missing = append(want.Missing, r)
			i = j - 1
			continue
		}
		from, to := rtSpan(w.h)
		if firstGood {
			want.FirstSeq = w.h.Seq
			firstGood = false
		}
		want.LastSeq = w.h.Seq
		switch w.h.Type {
		case records.TypeBegin:
			want.Begin = &records.BeginInfo{}
		case records.TypeEnd:
			want.End = &records.EndInfo{}
		case records.TypeData:
			want.Bytes += uint64(w.h.Length)
		}
		if n := len(want.Extents); n > 0 && want.Extents[n-1].LastBlock >= w.block-1 {
			e := &want.Extents[n-1]
			e.LastBlock, e.EndOffset = w.block, to
			e.Records++
		} else {
			want.Extents = append(want.Extents, ObjectExtent{FirstBlock: w.block, LastBlock: w.block, FirstOffset: from, EndOffset: to, Records: 1})
		}
	}
	// Without its end record, in a session whose end was lost, the
	// object is cut short.
	want.Cut = want.End == nil && sessionEnd == 0
	return want
}

// rtCheckObject compares a scanned object with the expectation; Begin and
// End are compared for presence (and End's length and hash when present).
func rtCheckObject(t *testing.T, got *ScannedObject, want ScannedObject, o *rtObj) {
	t.Helper()
	if got == nil {
		t.Fatalf("object %s not found", want.ID)
	}
	if (got.Begin == nil) != (want.Begin == nil) || (got.End == nil) != (want.End == nil) {
		t.Fatalf("object %s: begin %v end %v, want begin %v end %v", o.id, got.Begin != nil, got.End != nil, want.Begin != nil, want.End != nil)
	}
	if got.Begin != nil && (got.Begin.Client != "host1" || got.Begin.Level != "full" || !got.Begin.Time.Equal(rtTime)) {
		t.Fatalf("object %s: begin info %+v", o.id, got.Begin)
	}
	if got.End != nil && (got.End.Length != uint64(len(o.data)) || got.End.Hash == "") {
		t.Fatalf("object %s: end info %+v", o.id, got.End)
	}
	g, w := *got, want
	g.Begin, g.End, w.Begin, w.End = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("object %s:\n got  %+v\n want %+v", o.id, g, w)
	}
}

func TestScanClean(t *testing.T) {
	v, path, objs := rtStandard(t)
	m := rtOpen(t, path)
	res, err := Scan(m)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if res.Label != v.label || res.Blocks != v.next || res.GoodEnd != v.next || res.TruncatedTail || len(res.Damage) != 0 {
		t.Fatalf("scan: blocks %d good end %d truncated %v damage %v; %d blocks written", res.Blocks, res.GoodEnd, res.TruncatedTail, res.Damage, v.next)
	}
	if len(res.Sessions) != 1 {
		t.Fatalf("%d sessions", len(res.Sessions))
	}
	s := res.Sessions[0]
	if s.Info.Session != rtID(0x5e, 1) || s.Info.MediaAgent != "bma1" || s.Info.Job != 7 || s.FirstBlock != 1 || s.LastBlock != v.next-1 || s.End == nil || s.End.Objects != 3 || s.Trailer != nil {
		t.Fatalf("session %+v", s)
	}
	if len(res.Objects) != 3 {
		t.Fatalf("%d objects", len(res.Objects))
	}
	for i, o := range objs {
		if res.Objects[i].ID != o.id {
			t.Fatalf("object %d is %s, want %s (order of first appearance)", i, res.Objects[i].ID, o.id)
		}
		want := rtExpect(v, o, nil, v.next-1)
		if want.Bytes != uint64(len(o.data)) || len(want.Missing) != 0 {
			t.Fatalf("test expectation is wrong: %+v", want)
		}
		rtCheckObject(t, res.Object(o.id), want, o)
	}
	// Interleaved objects: more than one extent each, not one per record.
	if len(res.Objects[2].Extents) < 1 || res.Objects[2].Extents[0].Records < 2 {
		t.Fatalf("extents of object 3: %+v", res.Objects[2].Extents)
	}
	if res.Object(rtID(9, 9)) != nil {
		t.Fatalf("Object of an unknown ID found something")
	}
	if st := m.Stats(); st.BlocksRead != v.next {
		t.Fatalf("scan read %d blocks, the volume has %d", st.BlocksRead, v.next)
	}
}

// rtDamageScan damages blocks of a fresh volume made by build and checks
// the scan's account of every object.
func rtDamageScan(t *testing.T, build func(t testing.TB) (*rtVol, string, []*rtObj), damaged []int64) *ScanResult {
	t.Helper()
	v, path, objs := build(t)
	bs := v.label.BlockSize
	for _, d := range damaged {
		rtPatch(t, path, bs, d, false, func(b []byte) { b[BlockHeaderSize+100] ^= 0x01 })
	}
	res, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	var gotDamage []int64
	for _, d := range res.Damage {
		if !errors.Is(d, ErrBadBlock) {
			t.Fatalf("damage %v does not wrap ErrBadBlock", d)
		}
		gotDamage = append(gotDamage, d.Block)
	}
	if !slices.Equal(gotDamage, damaged) {
		t.Fatalf("damage in blocks %v, want %v", gotDamage, damaged)
	}
	last := v.next - 1
	goodEnd := v.next
	for slices.Contains(damaged, goodEnd-1) {
		goodEnd--
	}
	if res.GoodEnd != goodEnd || res.TruncatedTail != (goodEnd != v.next) || res.Blocks != v.next-int64(len(damaged)) {
		t.Fatalf("good end %d truncated %v blocks %d, want %d %v %d", res.GoodEnd, res.TruncatedTail, res.Blocks, goodEnd, goodEnd != v.next, v.next-int64(len(damaged)))
	}
	sessionEnd := last
	if slices.Contains(damaged, last) {
		sessionEnd = 0
	}
	if len(res.Sessions) != 1 || (res.Sessions[0].End == nil) != (sessionEnd == 0) {
		t.Fatalf("sessions %+v", res.Sessions)
	}
	// A session whose begin record was lost knows only the ID its end
	// record gives.
	wantInfo := SessionInfo{Session: rtID(0x5e, 1), Job: 7, MediaAgent: "bma1", Host: "media1", Time: rtTime}
	if slices.Contains(damaged, 1) {
		wantInfo = SessionInfo{}
		if sessionEnd != 0 {
			wantInfo.Session = rtID(0x5e, 1)
		}
	}
	if s := res.Sessions[0]; s.Info != wantInfo {
		t.Fatalf("session info %+v with damage in %v, want %+v", s.Info, damaged, wantInfo)
	}
	found := 0
	for _, o := range objs {
		if !slices.ContainsFunc(v.log[o.id], func(w rtRec) bool { return !slices.Contains(damaged, w.block) }) {
			// All its records were lost: nothing on the volume names it.
			if res.Object(o.id) != nil {
				t.Fatalf("object %s found, all its records were damaged", o.id)
			}
			continue
		}
		found++
		rtCheckObject(t, res.Object(o.id), rtExpect(v, o, damaged, sessionEnd), o)
	}
	if len(res.Objects) != found {
		t.Fatalf("%d objects found, want %d", len(res.Objects), found)
	}
	return res
}

func TestScanDamage(t *testing.T) {
	// One block damaged in the middle of three interleaved objects: find
	// a block holding records of two of them.
	v, _, objs := rtStandard(t)
	var target int64
	for b := int64(2); b < v.next-1 && target == 0; b++ {
		n := 0
		for _, o := range objs {
			if slices.ContainsFunc(v.log[o.id], func(w rtRec) bool { return w.block == b }) {
				n++
			}
		}
		if n == 2 {
			target = b
		}
	}
	if target == 0 {
		t.Fatalf("no block holds records of exactly two objects; change the test volume")
	}
	res := rtDamageScan(t, rtStandard, []int64{target})
	var hit []records.ID
	for _, o := range res.Objects {
		if len(o.Missing) > 0 {
			hit = append(hit, o.ID)
			if o.End == nil || o.Begin == nil || o.Missing[0].To == EndUnknown || o.Missing[0].To <= o.Missing[0].From || !slices.Equal(o.Missing[0].Blocks, []int64{target}) {
				t.Fatalf("object %s: missing %+v", o.ID, o.Missing)
			}
			if o.Bytes+(o.Missing[0].To-o.Missing[0].From) != o.End.Length {
				t.Fatalf("object %s: %d bytes found and %+v missing do not add up to %d", o.ID, o.Bytes, o.Missing, o.End.Length)
			}
		} else if o.Bytes != o.End.Length {
			t.Fatalf("undamaged object %s: %d bytes of %d", o.ID, o.Bytes, o.End.Length)
		}
	}
	if len(hit) != 2 {
		t.Fatalf("objects with missing data: %v, want 2", hit)
	}
}

func TestScanDamageEveryBlock(t *testing.T) {
	v, _, _ := rtStandard(t)
	for b := int64(1); b < v.next; b++ {
		rtDamageScan(t, rtStandard, []int64{b})
	}
	// Several blocks, adjacent and apart, the first and the last.
	for _, d := range [][]int64{{2, 3}, {1, 4}, {3, 5, 6}, {v.next - 2, v.next - 1}, {1, v.next - 1}} {
		rtDamageScan(t, rtStandard, d)
	}
}

// rtDense writes blocks of 256 KiB holding many small records of four
// objects of different sizes.
func rtDense(t testing.TB) (*rtVol, string, []*rtObj) {
	v, path := rtCreate(t, DefaultBlockSize)
	objs := []*rtObj{rtNewObj(1, 700_000), rtNewObj(2, 90_000), rtNewObj(3, 400_000), rtNewObj(4, 1)}
	objs[3].data = nil // an empty object
	v.session(rtID(0x5e, 1), objs, 7_000, true)
	v.close()
	return v, path, objs
}

func TestScanDamageDense(t *testing.T) {
	v, _, _ := rtDense(t)
	if v.next < 5 {
		t.Fatalf("dense volume of %d blocks only", v.next)
	}
	for b := int64(1); b < v.next; b++ {
		rtDamageScan(t, rtDense, []int64{b})
	}
	rtDamageScan(t, rtDense, []int64{2, 4})
}

func TestScanTruncatedTail(t *testing.T) {
	for _, tail := range []string{"partial", "garbage", "zeros"} {
		t.Run(tail, func(t *testing.T) {
			v, path := rtCreate(t, MinBlockSize)
			a, b := rtNewObj(1, 100_000), rtNewObj(2, 100_000)
			v.session(rtID(0x5e, 1), []*rtObj{a}, 30_000, true)
			// A second session cut short: b's end record and the session
			// end were in the block that did not make it whole.
			v.session(rtID(0x5e, 2), []*rtObj{b}, 30_000, true)
			v.close()
			last := v.next - 1
			if v.log[b.id][len(v.log[b.id])-1].block != last {
				t.Fatalf("test volume: the end of b is not in the last block")
			}
			switch tail {
			case "partial":
				os.Truncate(path, last*MinBlockSize+5000)
			case "garbage":
				rtPatch(t, path, MinBlockSize, last, false, func(b []byte) { b[BlockHeaderSize+40000] ^= 0xff })
			case "zeros":
				rtPatch(t, path, MinBlockSize, last, false, func(b []byte) { clear(b) })
			}
			m := rtOpen(t, path)
			res, err := Scan(m)
			if err != nil {
				t.Fatal(err)
			}
			if !res.TruncatedTail || res.GoodEnd != last || len(res.Damage) != 1 || res.Damage[0].Block != last {
				t.Fatalf("truncated %v good end %d damage %v, want the tail at %d", res.TruncatedTail, res.GoodEnd, res.Damage, last)
			}
			if tail == "partial" && !errors.Is(res.Damage[0], io.ErrUnexpectedEOF) {
				t.Fatalf("partial block: %v", res.Damage[0])
			}
			if len(res.Sessions) != 2 || res.Sessions[0].End == nil || res.Sessions[1].End != nil || res.Sessions[1].Trailer != nil {
				t.Fatalf("sessions %+v", res.Sessions)
			}
			ob := res.Object(b.id)
			want := rtExpect(v, b, []int64{last}, 0)
			rtCheckObject(t, ob, want, b)
			if len(ob.Missing) != 1 || ob.Missing[0].To != EndUnknown || !slices.Equal(ob.Missing[0].Blocks, []int64{last}) {
				t.Fatalf("object b: missing %+v", ob.Missing)
			}
			if oa := res.Object(a.id); len(oa.Missing) != 0 || oa.End == nil {
				t.Fatalf("object a of the first session: %+v", oa)
			}

			// Cut the tail and append a session where it ends.
			if err := m.Truncate(res.GoodEnd); err != nil {
				t.Fatal(err)
			}
			v2 := &rtVol{t: t, m: m, label: v.label, blk: make([]byte, MinBlockSize), next: res.GoodEnd, log: map[records.ID][]rtRec{}}
			c := rtNewObj(3, 50_000)
			v2.session(rtID(0x5e, 3), []*rtObj{c}, 30_000, true)
			res2, err := Scan(m)
			if err != nil {
				t.Fatal(err)
			}
			if res2.TruncatedTail || len(res2.Damage) != 0 || len(res2.Sessions) != 3 || res2.Sessions[2].End == nil || res2.Sessions[2].FirstBlock != res.GoodEnd {
				t.Fatalf("after cutting and appending: truncated %v damage %v sessions %+v", res2.TruncatedTail, res2.Damage, res2.Sessions)
			}
			if oc := res2.Object(c.id); oc == nil || oc.End == nil || oc.Bytes != 50_000 {
				t.Fatalf("appended object: %+v", oc)
			}
			// The session cut short stays without an end, its object
			// without its end, and nothing is damaged any more.
			if s := res2.Sessions[1]; s.End != nil || s.LastBlock != res.GoodEnd-1 {
				t.Fatalf("interrupted session after the cut: %+v", s)
			}
			if ob := res2.Object(b.id); ob.End != nil || len(ob.Missing) != 0 {
				t.Fatalf("interrupted object after the cut: %+v", ob)
			}
		})
	}
}

func TestScanSessionsWithoutEnd(t *testing.T) {
	v, path := rtCreate(t, MinBlockSize)
	a, b := rtNewObj(1, 70_000), rtNewObj(2, 70_000)
	v.session(rtID(0x5e, 1), []*rtObj{a}, 30_000, false) // writer died, blocks whole
	v.session(rtID(0x5e, 2), []*rtObj{b}, 30_000, true)
	v.close()
	res, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sessions) != 2 || res.Sessions[0].End != nil || res.Sessions[1].End == nil || res.TruncatedTail || len(res.Damage) != 0 {
		t.Fatalf("sessions %+v damage %v", res.Sessions, res.Damage)
	}
	if s := res.Sessions[1]; s.FirstBlock != res.Sessions[0].LastBlock+1 || s.Info.Session != rtID(0x5e, 2) {
		t.Fatalf("second session %+v", s)
	}
	for _, o := range res.Objects {
		if o.End == nil || len(o.Missing) != 0 {
			t.Fatalf("object %+v", o)
		}
	}
}

func TestScanSpanning(t *testing.T) {
	// Volume 1 ends with a trailer while a is being written; volume 2's
	// session continues it.
	v1, p1 := rtCreate(t, MinBlockSize)
	a := rtNewObj(1, 200_000)
	sid := rtID(0x5e, 1)
	v1.add(rtSessionBegin(sid, ""))
	v1.add(a.begin())
	for a.off < 90_000 {
		v1.add(a.dataRec(30_000))
	}
	v1.add(records.Encode(nil, records.TypeTrailer, sid, 0, 0, rtJSON(TrailerInfo{Session: sid, Next: "TST002", NextVolumeID: rtID(0xee, 2), Time: rtTime})))
	v1.close()
	seqOnV2, offOnV2 := a.seq, a.off

	v2, p2 := rtCreate(t, MinBlockSize)
	sid2 := rtID(0x5e, 2)
	v2.add(rtSessionBegin(sid2, "TST001"))
	for a.more() {
		v2.add(a.dataRec(30_000))
	}
	v2.add(a.end())
	v2.add(rtSessionEnd(sid2, 1))
	v2.close()

	r1, err := Scan(rtOpen(t, p1))
	if err != nil {
		t.Fatal(err)
	}
	s := r1.Sessions
	if len(s) != 1 || s[0].Trailer == nil || s[0].Trailer.Next != "TST002" || s[0].Trailer.NextVolumeID != rtID(0xee, 2) || s[0].End != nil {
		t.Fatalf("volume 1 sessions %+v", s)
	}
	o := r1.Objects[0]
	if o.Begin == nil || o.End != nil || o.Bytes != 90_000 || len(o.Missing) != 0 || o.FirstSeq != 0 || o.LastSeq != 3 {
		t.Fatalf("volume 1 object %+v", o)
	}
	if o.Next != "TST002" || o.Cut || r1.EndsInSession {
		t.Fatalf("volume 1 with a trailer: object continues on %q, cut %v; volume ends in a session %v", o.Next, o.Cut, r1.EndsInSession)
	}

	r2, err := Scan(rtOpen(t, p2))
	if err != nil {
		t.Fatal(err)
	}
	if s := r2.Sessions; len(s) != 1 || s[0].Info.Previous != "TST001" || s[0].End == nil {
		t.Fatalf("volume 2 sessions %+v", s)
	}
	o = r2.Objects[0]
	if o.Begin != nil || o.End == nil || o.End.Length != 200_000 || o.FirstSeq != seqOnV2 || o.Bytes != 200_000-offOnV2 || len(o.Missing) != 0 {
		t.Fatalf("volume 2 object %+v", o)
	}
	if e := o.Extents[0]; e.FirstOffset != offOnV2 || o.Extents[len(o.Extents)-1].EndOffset != 200_000 {
		t.Fatalf("volume 2 extents %+v", o.Extents)
	}

	// Damage at the start of the continuation: the object's first data
	// records on it are lost, from offset 0 as far as this volume knows.
	rtPatch(t, p2, MinBlockSize, 1, false, func(b []byte) { b[BlockHeaderSize+9] ^= 1 })
	r2, err = Scan(rtOpen(t, p2))
	if err != nil {
		t.Fatal(err)
	}
	o = r2.Objects[0]
	next := v2.log[a.id][0]
	for _, w := range v2.log[a.id] {
		if w.block == 2 {
			next = w
			break
		}
	}
	if len(o.Missing) != 1 || o.Missing[0].From != 0 || o.Missing[0].To != next.h.Offset || !slices.Equal(o.Missing[0].Blocks, []int64{1}) {
		t.Fatalf("continuation with its first block damaged: missing %+v", o.Missing)
	}
	if r2.Sessions[0].Info != (SessionInfo{Session: sid2}) || r2.Sessions[0].End == nil || r2.Sessions[0].FirstBlock != 2 {
		t.Fatalf("session whose begin was lost: %+v", r2.Sessions[0])
	}
}

func TestScanAnomalies(t *testing.T) {
	v, path := rtCreate(t, MinBlockSize)
	sid := rtID(0x5e, 1)
	a := rtNewObj(1, 50_000)
	v.add(rtSessionBegin(sid, ""))
	v.add(a.begin())
	d1 := a.dataRec(10_000)
	v.add(d1)
	v.add(d1) // repeated
	v.add(records.Encode(nil, records.Type(9), a.id, 0, 0, nil))
	v.add(records.Encode(nil, records.TypeBegin, rtID(0x0b, 7), 0, 0, []byte("{not json")))
	v.add(records.Encode(nil, records.TypeData, a.id, 12_345, a.seq, make([]byte, 10))) // right seq, wrong offset
	a.seq++
	a.off = 12_355
	v.add(records.Encode(nil, records.TypeData, a.id, 5, a.seq+3, make([]byte, 10))) // gap, offset going back
	v.add(rtSessionEnd(sid, 2))
	v.close()
	res, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if res.TruncatedTail || res.GoodEnd != 2 || res.Blocks != 2 {
		t.Fatalf("truncated %v good end %d blocks %d", res.TruncatedTail, res.GoodEnd, res.Blocks)
	}
	if len(res.Damage) != 5 {
		t.Fatalf("damage %v, want 5 records out of place", res.Damage)
	}
	for _, d := range res.Damage {
		if d.Block != 1 || !errors.Is(d, records.ErrCorrupt) || errors.Is(d, ErrBadBlock) {
			t.Fatalf("damage %v", d)
		}
	}
	if o := res.Object(rtID(0x0b, 7)); o == nil || o.Begin != nil {
		t.Fatalf("object with a bad begin payload: %+v", o)
	}
	o := res.Object(a.id)
	if o.Bytes != 10_020 || len(o.Missing) != 1 || o.Missing[0].From != 12_355 || o.Missing[0].To != 12_355 || o.Missing[0].Blocks != nil {
		t.Fatalf("object a: %+v", o)
	}
}

func TestScanWithWriter(t *testing.T) {
	// Volumes written by the package's Writer: one session, and one
	// spanning onto a second volume.
	dir := t.TempDir()
	mk := func(name string, capacity int64) (*vtape.Medium, Label) {
		m, err := vtape.Create(dir+"/"+name, vtape.Options{BlockSize: MinBlockSize, Capacity: capacity})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		l := Label{VolumeID: records.NewID(), Label: name, Pool: "p", BlockSize: MinBlockSize, Created: rtTime}
		if err := Format(m, l); err != nil {
			t.Fatalf("Format: %v", err)
		}
		l.Format = FormatVersion
		return m, l
	}
	m1, l1 := mk("V1", 12*MinBlockSize)
	m2, l2 := mk("V2", 0)
	w, err := NewWriter(m1, l1, WriterOptions{Session: SessionInfo{Session: records.NewID()}, At: 1})
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	objs := []*rtObj{rtNewObj(1, 500_000), rtNewObj(2, 300_000)}
	var recs [][]byte
	for _, o := range objs {
		recs = append(recs, o.begin())
	}
	for objs[0].more() || objs[1].more() {
		for _, o := range objs {
			if o.more() {
				recs = append(recs, o.dataRec(25_000))
			}
		}
	}
	for _, o := range objs {
		recs = append(recs, o.end())
	}
	spanned := false
	for _, rec := range recs {
		err := w.Add(rec)
		if errors.Is(err, ErrVolumeFull) {
			w2, err2 := NewWriter(m2, l2, WriterOptions{Session: SessionInfo{Session: records.NewID(), Previous: l1.Label}, At: 1})
			if err2 != nil {
				t.Fatal(err2)
			}
			if err := w.Span(w2); err != nil {
				t.Fatalf("Span: %v", err)
			}
			w, spanned = w2, true
			err = w.Add(rec)
		}
		if err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if !spanned {
		t.Fatalf("the test volume did not fill up")
	}
	r1, err := Scan(m1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Scan(m2)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Damage)+len(r2.Damage) != 0 || r1.Sessions[0].Trailer == nil || r1.Sessions[0].Trailer.Next != "V2" || r2.Sessions[0].Info.Previous != "V1" || r2.Sessions[0].End == nil {
		t.Fatalf("scans: %+v %+v / %+v %+v", r1.Sessions, r1.Damage, r2.Sessions, r2.Damage)
	}
	// Both volumes read back in order give each object whole.
	var all []Record
	for _, m := range []device.Medium{m1, m2} {
		r, err := NewReader(m)
		if err != nil {
			t.Fatal(err)
		}
		recs, dmg := rtReadAll(t, r)
		if len(dmg) != 0 {
			t.Fatalf("damage %v", dmg)
		}
		all = append(all, recs...)
	}
	data := rtAssemble(t, all)
	for _, o := range objs {
		if string(data[o.id]) != string(o.data) {
			t.Fatalf("object %s differs after spanning", o.id)
		}
		o1, o2 := r1.Object(o.id), r2.Object(o.id)
		var got uint64
		if o1 != nil {
			got += o1.Bytes
		}
		if o2 != nil {
			got += o2.Bytes
		}
		if got != uint64(len(o.data)) {
			t.Fatalf("object %s: scans found %d bytes of %d", o.id, got, len(o.data))
		}
	}
}

func BenchmarkScan(b *testing.B) {
	const bs = DefaultBlockSize
	v, path := rtCreate(b, bs)
	var objs []*rtObj
	for i := range 4 {
		objs = append(objs, rtNewObj(byte(i), 16<<20))
	}
	v.session(rtID(0x5e, 1), objs, records.MaxPayload, true)
	v.close()
	m := rtOpen(b, path)
	b.SetBytes(v.next * bs)
	for b.Loop() {
		res, err := Scan(m)
		if err != nil || len(res.Objects) != 4 {
			b.Fatal(err)
		}
	}
}

func TestScanDamageInLaterSession(t *testing.T) {
	// Objects left without an end by their session are not charged with
	// damage in a later session.
	for _, end := range []bool{true, false} {
		v, path := rtCreate(t, MinBlockSize)
		a := rtNewObj(1, 100_000)
		sid := rtID(0x5e, 1)
		v.add(rtSessionBegin(sid, ""))
		v.add(a.begin())
		v.add(a.dataRec(30_000))
		if end {
			v.add(rtSessionEnd(sid, 1))
		}
		v.flush()
		b := rtNewObj(2, 300_000)
		v.session(rtID(0x5e, 2), []*rtObj{b}, 30_000, true)
		v.close()
		damaged := v.log[b.id][3].block
		rtPatch(t, path, MinBlockSize, damaged, false, func(b []byte) { b[70] ^= 1 })
		res, err := Scan(rtOpen(t, path))
		if err != nil {
			t.Fatal(err)
		}
		if oa := res.Object(a.id); oa.End != nil || len(oa.Missing) != 0 {
			t.Fatalf("session end %v: object a: %+v", end, oa)
		}
		if ob := res.Object(b.id); len(ob.Missing) != 1 || !slices.Equal(ob.Missing[0].Blocks, []int64{damaged}) {
			t.Fatalf("session end %v: object b: %+v", end, ob)
		}
		if len(res.Sessions) != 2 || (res.Sessions[0].End != nil) != end {
			t.Fatalf("session end %v: sessions %+v", end, res.Sessions)
		}
	}
}

func TestScanLabelOnly(t *testing.T) {
	v, path := rtCreate(t, MinBlockSize)
	v.close()
	res, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 1 || res.GoodEnd != 1 || res.TruncatedTail || len(res.Sessions)+len(res.Objects)+len(res.Damage) != 0 || res.Label != v.label {
		t.Fatalf("label-only volume: %+v", res)
	}
	// A crash while writing the first data block.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("DSY1"))
	f.Close()
	res, err = Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 1 || res.GoodEnd != 1 || !res.TruncatedTail || len(res.Damage) != 1 || res.Damage[0].Block != 1 {
		t.Fatalf("label and a partial block: %+v", res)
	}
	// Not a volume at all.
	m := &rtMem{bs: MinBlockSize}
	if _, err := Scan(m); !errors.Is(err, ErrNotDaisy) {
		t.Fatalf("Scan of a blank medium: %v", err)
	}
}

// A volume file cut at a block boundary has no damaged block, but its last
// session has no end: the scan says so, and that its objects without an
// end record are cut short rather than continued elsewhere.
func TestScanCutAtBlockBoundary(t *testing.T) {
	v, path := rtCreate(t, MinBlockSize)
	a, b, c := rtNewObj(1, 60_000), rtNewObj(2, 300_000), rtNewObj(3, 300_000)
	v.session(rtID(0x5e, 1), []*rtObj{a}, 30_000, true)
	v.session(rtID(0x5e, 2), []*rtObj{b, c}, 30_000, true)
	v.close()
	whole, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if whole.EndsInSession || len(whole.Damage) != 0 {
		t.Fatalf("whole volume: ends in a session %v, damage %v", whole.EndsInSession, whole.Damage)
	}
	for _, o := range whole.Objects {
		if o.Cut || o.Next != "" {
			t.Fatalf("whole volume: object %+v", o)
		}
	}
	cut := whole.Sessions[1].FirstBlock + 2
	if cut >= whole.GoodEnd {
		t.Fatalf("test volume too short: session 2 in blocks %d..%d", whole.Sessions[1].FirstBlock, whole.Sessions[1].LastBlock)
	}
	if err := os.Truncate(path, cut*MinBlockSize); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(rtOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if !res.EndsInSession || len(res.Damage) != 0 || res.TruncatedTail || res.GoodEnd != cut {
		t.Fatalf("cut volume: ends in a session %v, damage %v, truncated tail %v, good end %d (cut at %d)",
			res.EndsInSession, res.Damage, res.TruncatedTail, res.GoodEnd, cut)
	}
	for _, o := range res.Objects {
		wantCut := o.ID != a.id
		if o.Cut != wantCut || o.Next != "" || (o.End == nil) != wantCut {
			t.Fatalf("cut volume: object %d: cut %v, next %q, end %v", o.ID[15], o.Cut, o.Next, o.End != nil)
		}
	}
}
