package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Record header, wire format version 1 (do not change; add a new version).
// All integers are little endian.
//
//	offset size field
//	     0    2 magic 0x64 0x72 ("dr")
//	     2    1 type (Type)
//	     3    1 flags, 0 (reserved)
//	     4    4 payload length in bytes (uint32, ≤ MaxPayload)
//	     8   16 object ID (UUID, RFC 9562 byte order)
//	    24    8 offset (uint64): Data: position of the first payload byte in
//	            the object stream; Begin: 0; End: the object's length
//	    32    4 sequence (uint32): index of the record within its object,
//	            Begin is 0, the first Data record 1, …, End last
//	    36    4 CRC32C (Castagnoli) of bytes 0..35 followed by the payload
//	    40    … payload
const (
	HeaderSize = 40
	// MaxRecordSize is the largest encoded record, header included. Four of
	// them fill a 256 KiB block exactly (with 64 bytes of block header and
	// 192 bytes to spare), and any block size that is a multiple of 64 KiB
	// holds a whole number of them.
	MaxRecordSize = 65472
	// MaxPayload is the largest payload of one record.
	MaxPayload = MaxRecordSize - HeaderSize

	magic0, magic1 = 0x64, 0x72
)

// Type says what a record holds.
type Type uint8

// Record types. Object records carry an object's ID; volume records (session
// marks, trailer) carry the session's ID in the object ID field.
const (
	TypeBegin        Type = 1  // object begin: JSON BeginInfo
	TypeData         Type = 2  // object data: bytes of the pax tar stream
	TypeEnd          Type = 3  // object end: JSON EndInfo
	TypeDataZstd     Type = 4  // object data, compressed: see zstd.go
	TypeSessionBegin Type = 16 // a write session starts on this volume: JSON SessionInfo
	TypeSessionEnd   Type = 17 // the write session ended cleanly
	TypeTrailer      Type = 18 // volume full: JSON TrailerInfo naming the continuation volume
	TypeCopyMark     Type = 19 // which copy of an object this volume holds: JSON CopyInfo, object ID field = the object
)

func (t Type) String() string {
	switch t {
	case TypeBegin:
		return "begin"
	case TypeData:
		return "data"
	case TypeEnd:
		return "end"
	case TypeDataZstd:
		return "data-zstd"
	case TypeSessionBegin:
		return "session-begin"
	case TypeSessionEnd:
		return "session-end"
	case TypeTrailer:
		return "trailer"
	case TypeCopyMark:
		return "copy-mark"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// IsObject reports whether records of this type belong to an object stream.
func (t Type) IsObject() bool { return t == TypeBegin || t.IsData() || t == TypeEnd }

// IsData reports whether records of this type carry object data.
func (t Type) IsData() bool { return t == TypeData || t == TypeDataZstd }

// ID identifies an object (or a write session): a UUIDv7, so IDs sort by
// creation time.
type ID = uuid.UUID

// NewID returns a new time-ordered ID.
func NewID() ID {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does.
		panic(fmt.Sprintf("records: new object ID: %v", err))
	}
	return id
}

// ParseID parses the text form of an ID.
func ParseID(s string) (ID, error) { return uuid.Parse(s) }

// ErrCorrupt marks a record that fails its magic, length or CRC check.
var ErrCorrupt = errors.New("records: corrupt record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C of b (the checksum used by records and blocks).
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// UpdateChecksum extends crc with b.
func UpdateChecksum(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// Header is a decoded record header.
type Header struct {
	Type   Type
	Flags  uint8
	Length uint32
	Object ID
	Offset uint64
	Seq    uint32
	CRC    uint32
}

// Size is the encoded size of the record the header belongs to.
func (h Header) Size() int { return HeaderSize + int(h.Length) }

func putHeader(b []byte, h Header) {
	b[0], b[1] = magic0, magic1
	b[2] = byte(h.Type)
	b[3] = h.Flags
	binary.LittleEndian.PutUint32(b[4:], h.Length)
	copy(b[8:24], h.Object[:])
	binary.LittleEndian.PutUint64(b[24:], h.Offset)
	binary.LittleEndian.PutUint32(b[32:], h.Seq)
}

// ParseHeader decodes a header without checking the CRC. It fails on a bad
// magic or a length beyond MaxPayload.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, a header needs %d", ErrCorrupt, len(b), HeaderSize)
	}
	if b[0] != magic0 || b[1] != magic1 {
		return Header{}, fmt.Errorf("%w: bad magic %#02x%02x", ErrCorrupt, b[0], b[1])
	}
	var h Header
	h.Type = Type(b[2])
	h.Flags = b[3]
	h.Length = binary.LittleEndian.Uint32(b[4:])
	copy(h.Object[:], b[8:24])
	h.Offset = binary.LittleEndian.Uint64(b[24:])
	h.Seq = binary.LittleEndian.Uint32(b[32:])
	h.CRC = binary.LittleEndian.Uint32(b[36:])
	if h.Length > MaxPayload {
		return h, fmt.Errorf("%w: payload length %d exceeds %d", ErrCorrupt, h.Length, MaxPayload)
	}
	if h.Flags != 0 {
		return h, fmt.Errorf("%w: flags %#02x, version 1 writes 0", ErrCorrupt, h.Flags)
	}
	return h, nil
}

// Decode decodes the record at the start of b and checks it: magic, flags
// (0 in version 1), length and CRC. It returns the header and the payload
// (aliasing b); the record's encoded size is h.Size().
func Decode(b []byte) (Header, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	n := h.Size()
	if n > len(b) {
		return h, nil, fmt.Errorf("%w: record of %d bytes cut at %d", ErrCorrupt, n, len(b))
	}
	crc := UpdateChecksum(Checksum(b[:36]), b[HeaderSize:n])
	if crc != h.CRC {
		return h, nil, fmt.Errorf("%w: CRC32C %08x, header says %08x (object %s offset %d)", ErrCorrupt, crc, h.CRC, h.Object, h.Offset)
	}
	return h, b[HeaderSize:n], nil
}

// Record is one encoded record in memory. It is reference counted: whoever
// holds a reference calls Release when done, and the memory returns to its
// pool when the count reaches zero. A Record's bytes never change after
// Seal.
//
// A record's memory is sized to what it holds: a full-size buffer for
// records of more than half of MaxRecordSize (recycled through the pool),
// an exact one for smaller records (compressed data, control records), so
// that a buffer of small records holds many of them without each taking a
// full record's memory. Footprint says how much a record takes.
type Record struct {
	b    []byte
	refs atomic.Int32
	pool *Pool
}

// recordOverhead is the memory of a Record besides its bytes: the struct
// and the allocator's rounding of a small allocation (at most an eighth,
// the spacing of Go's size classes up to 32 KiB).
const recordOverhead = 48

// smallRecord is the largest encoded size allocated exactly; larger records
// take a pooled buffer of MaxRecordSize, so at most half of that is unused.
const smallRecord = MaxRecordSize / 2

// Footprint returns the memory the record takes: its allocated bytes and
// overhead, which buffers count against their capacity (not the encoded
// length: a 1 KiB compressed record in a full-size buffer takes 64 KiB).
func (r *Record) Footprint() int64 {
	c := cap(r.b)
	if c <= smallRecord {
		c += c / 8 // size-class rounding of the allocator
	}
	return int64(c + recordOverhead)
}

// Bytes returns the encoded record (header and payload).
func (r *Record) Bytes() []byte { return r.b }

// Len returns the encoded size.
func (r *Record) Len() int { return len(r.b) }

// Header decodes the record's header.
func (r *Record) Header() Header {
	h, _ := ParseHeader(r.b) // a sealed record always parses
	return h
}

// Type returns the record's type.
func (r *Record) Type() Type { return Type(r.b[2]) }

// Object returns the record's object ID.
func (r *Record) Object() ID {
	var id ID
	copy(id[:], r.b[8:24])
	return id
}

// Offset returns the record's offset field.
func (r *Record) Offset() uint64 { return binary.LittleEndian.Uint64(r.b[24:]) }

// Seq returns the record's sequence number.
func (r *Record) Seq() uint32 { return binary.LittleEndian.Uint32(r.b[32:]) }

// Payload returns the record's payload.
func (r *Record) Payload() []byte { return r.b[HeaderSize:] }

// Retain adds n references.
func (r *Record) Retain(n int) { r.refs.Add(int32(n)) }

// Release drops one reference; the last one returns the memory to the pool.
func (r *Record) Release() {
	switch n := r.refs.Add(-1); {
	case n == 0:
		if r.pool != nil {
			r.pool.put(r)
		}
	case n < 0:
		panic("records: Release of a released record")
	}
}

// Pool recycles record memory. The zero value is ready to use.
type Pool struct {
	p sync.Pool
}

// New returns a record with one reference, whose payload has room for n
// bytes (n ≤ MaxPayload) and is filled by the caller through Payload before
// Seal. A record of at most smallRecord bytes gets memory of its own size;
// a larger one a recycled full-size buffer.
func (p *Pool) New(n int) *Record {
	if HeaderSize+n <= smallRecord {
		r := &Record{b: make([]byte, HeaderSize+n)}
		r.refs.Store(1)
		return r
	}
	var r *Record
	if p != nil {
		if v := p.p.Get(); v != nil {
			r = v.(*Record)
		}
	}
	if r == nil {
		r = &Record{b: make([]byte, 0, MaxRecordSize), pool: p}
	}
	r.b = r.b[:HeaderSize+n]
	r.refs.Store(1)
	return r
}

func (p *Pool) put(r *Record) { p.p.Put(r) }

// Shrink returns a record holding the first HeaderSize+n bytes of r in
// memory of their size, releasing r, when that is small enough to be
// allocated exactly; otherwise r cut to that length. It is for a record
// whose payload came out shorter than the room asked of New (compressed).
func (p *Pool) Shrink(r *Record, n int) *Record {
	if HeaderSize+n > smallRecord || cap(r.b) <= smallRecord {
		r.b = r.b[:HeaderSize+n]
		return r
	}
	s := p.New(n)
	copy(s.b, r.b[:HeaderSize+n])
	r.Release()
	return s
}

// Seal writes the header of a record whose payload has been filled: it sets
// the payload length from the record's size and computes the CRC.
func (r *Record) Seal(t Type, object ID, offset uint64, seq uint32) {
	putHeader(r.b, Header{Type: t, Length: uint32(len(r.b) - HeaderSize), Object: object, Offset: offset, Seq: seq})
	crc := UpdateChecksum(Checksum(r.b[:36]), r.b[HeaderSize:])
	binary.LittleEndian.PutUint32(r.b[36:], crc)
}

// FromBytes copies an encoded record (already checked with Decode) into a
// record of the pool.
func (p *Pool) FromBytes(b []byte) *Record {
	r := p.New(len(b) - HeaderSize)
	copy(r.b, b)
	return r
}

// Encode appends the encoded record to dst (used for small control records).
func Encode(dst []byte, t Type, object ID, offset uint64, seq uint32, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, payload...)
	b := dst[start:]
	putHeader(b, Header{Type: t, Length: uint32(len(payload)), Object: object, Offset: offset, Seq: seq})
	binary.LittleEndian.PutUint32(b[36:], UpdateChecksum(Checksum(b[:36]), b[HeaderSize:]))
	return dst
}
