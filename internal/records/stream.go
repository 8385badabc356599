package records

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// BeginInfo is the payload of a Begin record (UTF-8 JSON). Unknown fields
// are ignored by readers, so later versions can add fields.
type BeginInfo struct {
	Source  string    `json:"source"`
	Client  string    `json:"client"`
	Level   string    `json:"level"`          // full, incremental, differential
	Base    string    `json:"base,omitempty"` // ID of the object this one is based on
	Time    time.Time `json:"time"`           // when the backup started
	Job     int64     `json:"job,omitempty"`
	Content string    `json:"content"` // "pax": the data is a POSIX pax tar stream
	// Compression is "" or "zstd": data records may be compressed
	// (TypeDataZstd); offsets, length and hash are of the uncompressed
	// stream.
	Compression string            `json:"compression,omitempty"`
	Options     map[string]string `json:"options,omitempty"`
}

// EndInfo is the payload of an End record (UTF-8 JSON).
type EndInfo struct {
	Length  uint64 `json:"length"`  // bytes of the object stream
	Records uint32 `json:"records"` // data records
	Hash    string `json:"hash"`    // "sha256:" + hex of the object stream
	// Stored is the data payload bytes after compression (compressed
	// objects only).
	Stored  uint64 `json:"stored,omitempty"`
	Aborted string `json:"aborted,omitempty"`
}

// CopyInfo is the payload of a CopyMark record (UTF-8 JSON). A media agent
// writes one before the first record of an object on each volume, so that
// a volume read without the catalog says which copy of the object it
// holds.
type CopyInfo struct {
	Copy       int    `json:"copy"`
	Role       string `json:"role"`  // backup, mirror or copy
	Level      int    `json:"level"` // mirror level or copy stage; 0 in the backup group
	MediaAgent string `json:"media_agent,omitempty"`
}

// HashName prefixes content hashes.
const HashName = "sha256:"

// ErrAborted marks an object whose producer gave up: its End record says
// why, and it must not be restored as complete.
var ErrAborted = errors.New("records: object aborted by its producer")

// DataChunk is the size of the data records a StreamWriter cuts: less than
// MaxPayload by enough that a copy mark (about 100 bytes) fits beside one
// full data record in a block of the smallest size, 64 KiB, and beside four
// in a 256 KiB block. With full-size records every 64 KiB block would hold
// one record and the next one the mark for it: twice the blocks.
const DataChunk = MaxPayload - 256

// StreamWriter cuts an object stream into records: Begin when created, Data
// records of DataChunk bytes as bytes are written, End on Close. Each
// record is sealed (CRC) and handed to emit, which takes its reference.
// Errors are sticky: after emit fails, every call returns that error.
type StreamWriter struct {
	id   ID
	pool *Pool
	emit func(*Record) error
	cur  *Record
	fill int
	seq  uint32
	off  uint64
	h    hash.Hash
	err  error
	zstd bool
	zbuf []byte
	// Stored counts the data payload bytes emitted (compressed size).
	stored uint64
}

// NewStreamWriter emits the Begin record of object id and returns the writer
// of its data. begin.Compression "zstd" compresses the data records.
func NewStreamWriter(id ID, begin BeginInfo, pool *Pool, emit func(*Record) error) (*StreamWriter, error) {
	w := &StreamWriter{id: id, pool: pool, emit: emit, h: sha256.New()}
	switch begin.Compression {
	case "":
	case CompressionZstd:
		w.zstd = true
	default:
		return nil, fmt.Errorf("records: unknown compression %q", begin.Compression)
	}
	if err := w.control(TypeBegin, 0, begin); err != nil {
		return nil, err
	}
	return w, nil
}

// ID returns the object's ID.
func (w *StreamWriter) ID() ID { return w.id }

// Stored returns the data payload bytes emitted so far: the stream's
// length after compression.
func (w *StreamWriter) Stored() uint64 { return w.stored }

func (w *StreamWriter) control(t Type, off uint64, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(p) > MaxPayload {
		return fmt.Errorf("records: %s payload of %d bytes is too large", t, len(p))
	}
	r := w.pool.New(len(p))
	copy(r.Payload(), p)
	r.Seal(t, w.id, off, w.seq)
	w.seq++
	if err := w.emit(r); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Write adds bytes to the object stream.
func (w *StreamWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.h.Write(p)
	n := 0
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.pool.New(MaxPayload)
			w.fill = 0
		}
		c := copy(w.cur.Payload()[w.fill:DataChunk], p)
		w.fill += c
		n += c
		p = p[c:]
		if w.fill == DataChunk {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom fills records directly from r, without an intermediate buffer.
func (w *StreamWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.err != nil {
			return total, w.err
		}
		if w.cur == nil {
			w.cur = w.pool.New(MaxPayload)
			w.fill = 0
		}
		n, err := r.Read(w.cur.Payload()[w.fill:DataChunk])
		if n > 0 {
			w.h.Write(w.cur.Payload()[w.fill : w.fill+n])
			w.fill += n
			total += int64(n)
			if w.fill == DataChunk {
				if ferr := w.flush(); ferr != nil {
					return total, ferr
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *StreamWriter) flush() error {
	r := w.cur
	w.cur = nil
	if w.fill == 0 {
		r.Release()
		return nil
	}
	typ := TypeData
	r.b = r.b[:HeaderSize+w.fill]
	if w.zstd {
		w.zbuf = encoder().EncodeAll(r.b[HeaderSize:], w.zbuf[:0])
		if 4+len(w.zbuf) < w.fill {
			// The compressed record takes memory of its size, not a
			// full record's: buffers count what records take.
			r = w.pool.Shrink(r, 4+len(w.zbuf))
			binary.LittleEndian.PutUint32(r.b[HeaderSize:], uint32(w.fill))
			copy(r.b[HeaderSize+4:], w.zbuf)
			typ = TypeDataZstd
		}
	}
	w.stored += uint64(len(r.b) - HeaderSize)
	r.Seal(typ, w.id, w.off, w.seq)
	w.off += uint64(w.fill)
	w.seq++
	w.fill = 0
	if err := w.emit(r); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close flushes the last data record and emits the End record.
func (w *StreamWriter) Close() (EndInfo, error) {
	if w.err != nil {
		return EndInfo{}, w.err
	}
	if w.cur != nil {
		if err := w.flush(); err != nil {
			return EndInfo{}, err
		}
	}
	end := EndInfo{Length: w.off, Records: w.seq - 1, Hash: HashName + hex.EncodeToString(w.h.Sum(nil))}
	if w.zstd {
		end.Stored = w.stored
	}
	if err := w.control(TypeEnd, w.off, end); err != nil {
		return EndInfo{}, err
	}
	w.err = errors.New("records: stream writer closed")
	return end, nil
}

// Abort ends the object with an End record that marks it aborted, so every
// copy and every reader knows it is incomplete. It is best effort.
func (w *StreamWriter) Abort(reason string) error {
	if w.err != nil {
		return w.err
	}
	if w.cur != nil {
		w.cur.Release()
		w.cur = nil
	}
	err := w.control(TypeEnd, w.off, EndInfo{Length: w.off, Records: w.seq - 1, Aborted: reason})
	w.err = errors.New("records: stream writer aborted")
	return err
}

// Assembler checks the records of one object, in order, and writes the data
// to an io.Writer: sequence numbers without gaps, offsets continuous, the
// length, record count and hash of the End record. The records' own CRCs are
// checked by Decode before they reach it.
type Assembler struct {
	id    ID
	w     io.Writer
	h     *pipeHash // pipehash.go
	begun bool
	done  bool
	begin BeginInfo
	end   EndInfo
	seq   uint32
	off   uint64
	data  uint32
	zbuf  []byte
	lost  uint64 // bytes skipped over by Skip
}

// NewAssembler returns an assembler of object id writing its data to w.
func NewAssembler(id ID, w io.Writer) *Assembler {
	return &Assembler{id: id, w: w, h: newPipeHash()}
}

// Begin returns the object's begin info (after its Begin record was added).
func (a *Assembler) Begin() BeginInfo { return a.begin }

// End returns the object's end info (after Done).
func (a *Assembler) End() EndInfo { return a.end }

// Offset returns the number of data bytes assembled so far.
func (a *Assembler) Offset() uint64 { return a.off }

// Add takes the next record of the object. Records of other objects are an
// error; the caller filters them.
func (a *Assembler) Add(h Header, payload []byte) error {
	if h.Object != a.id {
		return fmt.Errorf("records: record of object %s in the stream of %s", h.Object, a.id)
	}
	if a.done {
		return fmt.Errorf("records: object %s: %s record after its end", a.id, h.Type)
	}
	if !a.begun && h.Type != TypeBegin {
		return fmt.Errorf("%w: object %s starts with a %s record (seq %d), not begin", ErrCorrupt, a.id, h.Type, h.Seq)
	}
	if h.Seq != a.seq {
		return fmt.Errorf("%w: object %s: record %d missing (found %d at offset %d)", ErrCorrupt, a.id, a.seq, h.Seq, h.Offset)
	}
	switch h.Type {
	case TypeBegin:
		if err := json.Unmarshal(payload, &a.begin); err != nil {
			return fmt.Errorf("%w: object %s: begin record: %v", ErrCorrupt, a.id, err)
		}
		a.begun = true
	case TypeData, TypeDataZstd:
		if h.Offset != a.off {
			return fmt.Errorf("%w: object %s: data at offset %d, expected %d", ErrCorrupt, a.id, h.Offset, a.off)
		}
		if h.Type == TypeDataZstd && a.begin.Compression != CompressionZstd && (a.lost == 0 || a.begin.Content != "") {
			return fmt.Errorf("%w: object %s: compressed data record at offset %d, the begin record names no compression", ErrCorrupt, a.id, h.Offset)
		}
		payload, err := Data(h, payload, a.zbuf)
		if err != nil {
			return fmt.Errorf("object %s: %w", a.id, err)
		}
		if h.Type == TypeDataZstd {
			a.zbuf = payload
		}
		a.h.Write(payload)
		if _, err := a.w.Write(payload); err != nil {
			return err
		}
		a.off += uint64(len(payload))
		a.data++
	case TypeEnd:
		if err := json.Unmarshal(payload, &a.end); err != nil {
			return fmt.Errorf("%w: object %s: end record: %v", ErrCorrupt, a.id, err)
		}
		a.done = true
		if a.end.Aborted != "" {
			return fmt.Errorf("%w: object %s: %s", ErrAborted, a.id, a.end.Aborted)
		}
		if a.lost > 0 {
			if a.end.Length != a.off {
				return fmt.Errorf("%w: object %s: end says %d bytes, the stream had %d", ErrCorrupt, a.id, a.end.Length, a.off)
			}
			break
		}
		if a.end.Length != a.off || a.end.Records != a.data {
			return fmt.Errorf("%w: object %s: end says %d bytes in %d records, stream had %d in %d", ErrCorrupt, a.id, a.end.Length, a.end.Records, a.off, a.data)
		}
		if sum := HashName + hex.EncodeToString(a.h.Sum()); sum != a.end.Hash {
			return fmt.Errorf("%w: object %s: content hash %s, end record says %s", ErrCorrupt, a.id, sum, a.end.Hash)
		}
	default:
		return fmt.Errorf("records: object %s: unexpected %s record", a.id, h.Type)
	}
	a.seq++
	return nil
}

// Skip goes on after a range of the object that could not be read: the
// next record added must be h's (data or End, sequence number and offset
// after the assembler's). The bytes between are not written; from then on
// the record count and the hash of the End record can no longer be
// checked, only the length. It returns the number of bytes skipped.
func (a *Assembler) Skip(h Header) (uint64, error) {
	if a.done {
		return 0, fmt.Errorf("records: object %s: skip after its end", a.id)
	}
	if h.Object != a.id || !(h.Type.IsData() || h.Type == TypeEnd) || h.Seq <= a.seq || h.Offset < a.off {
		return 0, fmt.Errorf("%w: object %s: cannot go on at %s record %d at offset %d from record %d at offset %d", ErrCorrupt, a.id, h.Type, h.Seq, h.Offset, a.seq, a.off)
	}
	n := h.Offset - a.off
	a.lost += n
	a.seq, a.off, a.begun = h.Seq, h.Offset, true
	return n, nil
}

// Lost returns the bytes skipped over by Skip: when it is not 0, the
// object's hash was not checked.
func (a *Assembler) Lost() uint64 { return a.lost }

// NextSeq returns the sequence number of the record the assembler expects
// next; a reader resuming from another copy skips records before it.
func (a *Assembler) NextSeq() uint32 { return a.seq }

// Done reports whether the End record was added and everything checked.
func (a *Assembler) Done() bool { return a.done }
