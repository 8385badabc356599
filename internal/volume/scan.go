package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"daisy/internal/device"
	"daisy/internal/records"
)

// EndUnknown is the To of a ByteRange whose end is unknown: the object's
// records stop at damage and nothing after it says how long the object was.
const EndUnknown uint64 = math.MaxUint64

// ByteRange is a range [From, To) of an object's data bytes whose records
// were lost. To is EndUnknown when the end is unknown. From == To means
// records without data were lost (the object's Begin record).
type ByteRange struct {
	From, To uint64
	// Blocks are the damaged blocks between the object's last good record
	// before the loss and its next good record (or the end of its
	// session): the lost records were in them.
	Blocks []int64
}

// FormatBlocks lists block numbers (ascending) for a message, a run of
// three or more consecutive blocks (a hole) as first..last: "2, 4..7, 9".
func FormatBlocks(blocks []int64) string {
	var s []string
	for i := 0; i < len(blocks); {
		j := i
		for j+1 < len(blocks) && blocks[j+1] == blocks[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			s = append(s, fmt.Sprintf("%d..%d", blocks[i], blocks[j]))
		case j > i:
			s = append(s, fmt.Sprint(blocks[i]), fmt.Sprint(blocks[j]))
		default:
			s = append(s, fmt.Sprint(blocks[i]))
		}
		i = j + 1
	}
	return strings.Join(s, ", ")
}

// ObjectExtent is a run of consecutive blocks holding records of one
// object, and the range of the object's data those records cover.
type ObjectExtent struct {
	FirstBlock, LastBlock int64
	// FirstOffset is the object offset of the extent's first record (0 for
	// Begin), EndOffset the offset after its last data byte.
	FirstOffset, EndOffset uint64
	Records                int
}

// ScannedObject is what a scan found of one object on a volume.
type ScannedObject struct {
	ID records.ID
	// Begin is nil if the begin record was not on this volume (the object
	// spanned from a previous one) or was lost to damage.
	Begin *records.BeginInfo
	// End is nil if the end record is not on this volume (the object
	// continues on the next one, its session was cut short, or the record
	// was lost to damage).
	End               *records.EndInfo
	FirstSeq, LastSeq uint32
	// Extents are the maximal runs of consecutive blocks holding the
	// object's records, in volume order.
	Extents []ObjectExtent
	// Bytes counts the data bytes found.
	Bytes uint64
	// Missing lists the data lost to damaged blocks, found from the gaps
	// in sequence numbers and offsets around them.
	Missing []ByteRange
	// Copy is which copy of the object the volume holds, from the media
	// agent's CopyMark record (nil if it was not found). A volume holding
	// two copies of one object lists it twice, once per copy.
	Copy *records.CopyInfo
	// Next is, for an object without its End record here, the label of the
	// volume it continues on: from the Trailer of its session. Empty when
	// no trailer names one.
	Next string `json:",omitempty"`
	// Cut is set for an object without its End record whose session has
	// neither a SessionEnd nor a Trailer: the object stops where the
	// volume was cut (or its write was interrupted), it does not continue
	// on another volume.
	Cut bool `json:",omitempty"`
}

// Session is one write session found on a volume. A session whose
// SessionBegin record was lost has a zero Info, except Info.Session when a
// SessionEnd or Trailer record named it; its FirstBlock is the first block
// where its records were found. End and Trailer are both nil for a session
// that did not end cleanly (the writer stopped, or its last records were
// lost).
type Session struct {
	Info                  SessionInfo
	FirstBlock, LastBlock int64
	End                   *SessionEndInfo
	Trailer               *TrailerInfo
}

// ScanResult is what a scan found on a volume.
type ScanResult struct {
	Label Label
	// Blocks counts the valid blocks, label included.
	Blocks   int64
	Sessions []Session
	// Objects are in order of first appearance.
	Objects []*ScannedObject
	// Damage lists the damaged blocks (wrapping ErrBadBlock, or
	// ErrLabelDamaged for block 0 when the volume was recovered from its
	// data blocks, or
	// io.ErrUnexpectedEOF for a partial last block), and records out of
	// place in valid blocks (wrapping records.ErrCorrupt): a record
	// repeated or out of sequence, a payload that does not parse, an
	// unknown record type. In volume order.
	Damage []Damage
	// TruncatedTail is set when damaged or partial blocks follow the last
	// valid block: the tail of an interrupted write, to be cut before
	// appending.
	TruncatedTail bool
	// GoodEnd is the number of the block after the last valid block: where
	// an append must start (the medium is cut there first).
	GoodEnd int64
	// EndsInSession is set when the last session has neither a SessionEnd
	// nor a Trailer record: the volume ends inside it, truncated (a file
	// cut at a block boundary, so no block is damaged) or with its write
	// interrupted. Every volume written to the end of its sessions ends
	// with one of them.
	EndsInSession bool
}

// Object returns the scanned object with the given ID, or nil.
func (s *ScanResult) Object(id records.ID) *ScannedObject {
	for _, o := range s.Objects {
		if o.ID == id {
			return o
		}
	}
	return nil
}

type objState struct {
	o         *ScannedObject
	nextSeq   uint64 // sequence number expected next (2^32 after the last one)
	nextOff   uint64 // object offset expected next (end of the last data)
	lastBlock int64  // block of the last good record
	session   int    // index of the session of the last good record
	ended     bool
}

type scanner struct {
	res       *ScanResult
	objs      map[records.ID]*objState
	cur       int     // index of the open session, or -1
	since     int64   // damage after this block counts for the open session
	damaged   []int64 // damaged blocks, ascending
	lastValid int64
	copies    map[records.ID]*records.CopyInfo // from CopyMark records
}

// Scan reads the whole volume on m once, from its label to the end of the
// data, and reports its sessions, its objects and where they are, and any
// damage. It fails only when the label cannot be read or the medium fails;
// then the error comes with what was found before.
func Scan(m device.Medium) (*ScanResult, error) {
	return ScanContext(context.Background(), m)
}

// ScanContext is Scan that stops, before reading another block, once ctx
// is done: it returns ctx's error with what was found so far.
func ScanContext(ctx context.Context, m device.Medium) (*ScanResult, error) {
	r, err := NewReader(m)
	if err != nil {
		return nil, err
	}
	r.SetContext(ctx)
	s := &scanner{
		res:    &ScanResult{Label: r.Label(), Blocks: 1},
		objs:   map[records.ID]*objState{},
		cur:    -1,
		copies: map[records.ID]*records.CopyInfo{},
	}
	if err := r.LabelDamage(); err != nil {
		// Recovered from the data blocks: reported as damage of block 0.
		s.res.Blocks = 0
		s.res.Damage = append(s.res.Damage, Damage{Block: 0, Err: err})
	}
	r.SetOnDamage(func(d Damage) {
		for b := d.Block; b <= d.LastBlock(); b++ { // a hole is a run
			s.damaged = append(s.damaged, b)
		}
		s.res.Damage = append(s.res.Damage, d)
	})
	r.onBlock = func(n int64, _ BlockHeader) {
		s.res.Blocks++
		s.lastValid = n
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.finish()
			return s.res, err
		}
		s.record(rec)
	}
	s.finish()
	return s.res, nil
}

// finishCopies gives an object found before its CopyMark (possible only
// when blocks were damaged) the copy the volume's last mark for it named.
func (s *scanner) finishCopies() {
	for _, o := range s.res.Objects {
		if o.Copy == nil {
			o.Copy = s.copies[o.ID]
		}
	}
}

// anomaly reports a record out of place in a valid block.
func (s *scanner) anomaly(rec Record, format string, args ...any) {
	err := fmt.Errorf("%w: %s record of %s (seq %d, offset %d): %s", records.ErrCorrupt, rec.Header.Type, rec.Header.Object, rec.Header.Seq, rec.Header.Offset, fmt.Sprintf(format, args...))
	s.res.Damage = append(s.res.Damage, Damage{Block: rec.Block, Err: err})
}

// between returns the damaged blocks after a and before b.
func (s *scanner) between(a, b int64) []int64 {
	i := sort.Search(len(s.damaged), func(i int) bool { return s.damaged[i] > a })
	j := sort.Search(len(s.damaged), func(i int) bool { return s.damaged[i] >= b })
	if i >= j {
		return nil
	}
	return append([]int64(nil), s.damaged[i:j]...)
}

func (s *scanner) openSession(info SessionInfo, block int64) {
	s.res.Sessions = append(s.res.Sessions, Session{Info: info, FirstBlock: block, LastBlock: block})
	s.cur = len(s.res.Sessions) - 1
}

func (s *scanner) closeSession(block int64) {
	s.cur = -1
	s.since = block
}

func (s *scanner) record(rec Record) {
	h := rec.Header
	switch {
	case h.Type == records.TypeSessionBegin:
		if s.cur >= 0 {
			s.closeSession(s.res.Sessions[s.cur].LastBlock)
		}
		info := SessionInfo{Session: h.Object}
		if err := json.Unmarshal(rec.Payload, &info); err != nil {
			s.anomaly(rec, "session info: %v", err)
		}
		s.openSession(info, rec.Block)
		s.since = rec.Block
		return
	case h.Type == records.TypeSessionEnd || h.Type == records.TypeTrailer:
		if s.cur >= 0 {
			if id := s.res.Sessions[s.cur].Info.Session; id != h.Object && id != (records.ID{}) {
				// This session's begin and the previous one's end were lost.
				s.closeSession(s.res.Sessions[s.cur].LastBlock)
			}
		}
		if s.cur < 0 {
			s.openSession(SessionInfo{}, rec.Block)
		}
		ses := &s.res.Sessions[s.cur]
		ses.LastBlock = rec.Block
		ses.Info.Session = h.Object
		if h.Type == records.TypeSessionEnd {
			var end SessionEndInfo
			if err := json.Unmarshal(rec.Payload, &end); err != nil {
				s.anomaly(rec, "session end: %v", err)
			}
			ses.End = &end
		} else {
			var tr TrailerInfo
			if err := json.Unmarshal(rec.Payload, &tr); err != nil {
				s.anomaly(rec, "trailer: %v", err)
			}
			ses.Trailer = &tr
		}
		s.closeSession(rec.Block)
		return
	case h.Type == records.TypeCopyMark:
		var ci records.CopyInfo
		if err := json.Unmarshal(rec.Payload, &ci); err != nil || ci.Copy < 1 {
			s.anomaly(rec, "copy mark: %v (copy %d)", err, ci.Copy)
			return
		}
		if prev := s.copies[h.Object]; prev != nil && prev.Copy != ci.Copy {
			// Another copy of an object already on this volume (a copy job
			// appended to it): its records start a new entry.
			delete(s.objs, h.Object)
		}
		s.copies[h.Object] = &ci
		if st := s.objs[h.Object]; st != nil && st.o.Copy == nil {
			st.o.Copy = &ci
		}
		return
	case !h.Type.IsObject():
		s.anomaly(rec, "unknown record type")
		return
	}
	if s.cur < 0 {
		s.openSession(SessionInfo{}, rec.Block)
	}
	s.res.Sessions[s.cur].LastBlock = rec.Block
	s.objectRecord(rec)
}

func (s *scanner) objectRecord(rec Record) {
	h := rec.Header
	st := s.objs[h.Object]
	// The data range the record covers.
	from, to := h.Offset, h.Offset
	switch h.Type {
	case records.TypeBegin:
		from, to = 0, 0
	case records.TypeData, records.TypeDataZstd:
		n, err := records.DataLen(h, rec.Payload)
		if err != nil {
			s.anomaly(rec, "%v", err)
			return
		}
		to = h.Offset + uint64(n)
		if to < from {
			s.anomaly(rec, "offset overflows")
			return
		}
	}
	if st == nil {
		st = &objState{o: &ScannedObject{ID: h.Object, FirstSeq: h.Seq, Copy: s.copies[h.Object]}}
		s.objs[h.Object] = st
		s.res.Objects = append(s.res.Objects, st.o)
		if h.Seq > 0 {
			// The object's earlier records are on a previous volume, or
			// were lost to damage since its session began.
			if lost := s.between(s.since, rec.Block); len(lost) > 0 {
				st.o.Missing = append(st.o.Missing, ByteRange{From: 0, To: from, Blocks: lost})
			}
		}
	} else {
		switch {
		case st.ended:
			s.anomaly(rec, "after the object's end record")
			return
		case uint64(h.Seq) < st.nextSeq:
			s.anomaly(rec, "repeated or out of order: record %d expected", st.nextSeq)
			return
		case h.Type == records.TypeBegin:
			s.anomaly(rec, "begin record in the middle of the object")
			return
		case uint64(h.Seq) > st.nextSeq:
			// Records st.nextSeq .. h.Seq-1 are missing.
			lost := ByteRange{From: st.nextOff, To: from, Blocks: s.between(st.lastBlock, rec.Block)}
			if from < st.nextOff {
				s.anomaly(rec, "offset before the end of the data already read (%d)", st.nextOff)
				lost.To = lost.From
			}
			st.o.Missing = append(st.o.Missing, lost)
		case from != st.nextOff:
			s.anomaly(rec, "offset %d expected", st.nextOff)
		}
	}
	o := st.o
	switch h.Type {
	case records.TypeBegin:
		var b records.BeginInfo
		if err := json.Unmarshal(rec.Payload, &b); err != nil {
			s.anomaly(rec, "begin info: %v", err)
		} else {
			o.Begin = &b
		}
	case records.TypeData, records.TypeDataZstd:
		o.Bytes += to - from
	case records.TypeEnd:
		var e records.EndInfo
		if err := json.Unmarshal(rec.Payload, &e); err != nil {
			s.anomaly(rec, "end info: %v", err)
		} else {
			o.End = &e
		}
		st.ended = true
	}
	o.LastSeq = h.Seq
	st.nextSeq = uint64(h.Seq) + 1
	st.nextOff = to
	st.lastBlock = rec.Block
	st.session = s.cur
	if n := len(o.Extents); n > 0 && o.Extents[n-1].LastBlock >= rec.Block-1 {
		e := &o.Extents[n-1]
		e.LastBlock = rec.Block
		e.EndOffset = to
		e.Records++
	} else {
		o.Extents = append(o.Extents, ObjectExtent{FirstBlock: rec.Block, LastBlock: rec.Block, FirstOffset: from, EndOffset: to, Records: 1})
	}
}

// finish closes the open session and reports the data lost at the end of
// objects that did not end.
func (s *scanner) finish() {
	s.finishCopies()
	s.cur = -1
	res := s.res
	res.GoodEnd = s.lastValid + 1
	for _, d := range res.Damage {
		if d.Block >= res.GoodEnd { // records out of place are in valid blocks, before GoodEnd
			res.TruncatedTail = true
		}
	}
	if n := len(res.Sessions); n > 0 {
		last := res.Sessions[n-1]
		res.EndsInSession = last.End == nil && last.Trailer == nil
	}
	for _, o := range res.Objects {
		st := s.objs[o.ID]
		if st.ended {
			continue
		}
		ses := res.Sessions[st.session]
		if ses.Trailer != nil {
			o.Next = ses.Trailer.Next
		}
		o.Cut = ses.End == nil && ses.Trailer == nil
		// Damage after the object's last record, up to the end of its
		// session, may have held its next records.
		bound := int64(math.MaxInt64)
		switch {
		case ses.End != nil || ses.Trailer != nil:
			bound = ses.LastBlock
		case st.session+1 < len(res.Sessions):
			bound = res.Sessions[st.session+1].FirstBlock
		}
		if lost := s.between(st.lastBlock, bound); len(lost) > 0 {
			o.Missing = append(o.Missing, ByteRange{From: st.nextOff, To: EndUnknown, Blocks: lost})
		}
	}
}
