package rpc

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"daisy/internal/records"
	pb "daisy/internal/rpc/daisypb"
)

// The codec is gRPC's protobuf codec with one addition: the record
// batches of a push (PushMessage{batch: RecordBatch{records}}) cross
// without the two copies protobuf-go makes of a bytes field. gRPC's codec
// joins the frames of a message into one buffer and protobuf-go copies
// the field out of it; Unbatch then copied each record into the pool. For
// a media host that takes in every byte of a backup that was three copies
// of everything (a fifth of its CPU in the fleet benchmark). Here:
//
//   - Sending, a *Batch is marshalled as the field's few header bytes
//     followed by the Batcher's buffer itself, which gRPC hands back to
//     the Batcher's pool once it is written.
//   - Receiving into a *PushIn, each record is read from gRPC's frames
//     straight into a record of the pool and checked (magic, flags,
//     length, CRC32C), one copy in all. Any other encoding of the same
//     message (fields in another order, unknown fields: legal protobuf
//     that daisy does not write) is decoded by protobuf-go and Unbatch.
//
// Every other message goes to gRPC's codec unchanged. protobuf-go has no
// way to alias or stream a bytes field, which is why this is written here.
type codec struct{ base encoding.CodecV2 }

func init() {
	encoding.RegisterCodecV2(codec{base: encoding.GetCodecV2(gproto.Name)})
}

func (c codec) Name() string { return gproto.Name }

// Field numbers of PushMessage.batch and RecordBatch.records.
const (
	pushBatchField   = 2
	batchRecordField = 1
)

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*Batch)
	if !ok {
		return c.base.Marshal(v)
	}
	if b.buf == nil {
		return nil, ErrBatchSent
	}
	n := len(*b.buf)
	var inner []byte
	if n > 0 {
		inner = protowire.AppendTag(inner, batchRecordField, protowire.BytesType)
		inner = protowire.AppendVarint(inner, uint64(n))
	}
	hdr := protowire.AppendTag(make([]byte, 0, 24), pushBatchField, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(len(inner)+n))
	hdr = append(hdr, inner...)
	data := mem.BufferSlice{mem.SliceBuffer(hdr)}
	if n > 0 {
		data = append(data, mem.NewBuffer(b.buf, b.pool))
	} else {
		b.pool.Put(b.buf)
	}
	b.buf = nil
	return data, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	in, ok := v.(*PushIn)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	in.Message, in.Records, in.Err = nil, in.Records[:0], nil
	if skip, n, ok := batchHeader(data); ok {
		in.decode(data, skip, n)
		return nil
	}
	m := new(pb.PushMessage)
	if err := c.base.Unmarshal(data, m); err != nil {
		return err
	}
	b := m.GetBatch()
	if b == nil {
		in.Message = m
		return nil
	}
	in.Err = Unbatch(in.Pool, b.GetRecords(), func(r *records.Record) error {
		in.Records = append(in.Records, r)
		return nil
	})
	return nil
}

// batchHeader reports whether data is a PushMessage holding only a
// RecordBatch holding only its records, in daisy's encoding, and if so
// how many bytes precede the records and how many records bytes follow.
func batchHeader(data mem.BufferSlice) (skip, n int, ok bool) {
	var head [24]byte
	k := 0
	for _, b := range data {
		k += copy(head[k:], b.ReadOnlyData())
		if k == len(head) {
			break
		}
	}
	p := head[:k]
	num, typ, l := protowire.ConsumeTag(p)
	if l < 0 || num != pushBatchField || typ != protowire.BytesType {
		return 0, 0, false
	}
	p, skip = p[l:], l
	size, l := protowire.ConsumeVarint(p)
	if l < 0 {
		return 0, 0, false
	}
	p, skip = p[l:], skip+l
	outer := skip // the PushMessage's bytes before the RecordBatch's
	total := data.Len()
	if size == 0 {
		return skip, 0, skip == total
	}
	num, typ, l = protowire.ConsumeTag(p)
	if l < 0 || num != batchRecordField || typ != protowire.BytesType {
		return 0, 0, false
	}
	p, skip = p[l:], skip+l
	rn, l := protowire.ConsumeVarint(p)
	if l < 0 {
		return 0, 0, false
	}
	skip += l
	// The batch's size must be its header's and the records' bytes, and
	// the message must end with them: anything else takes the long way.
	if uint64(total-skip) != rn || size != uint64(total-outer) {
		return 0, 0, false
	}
	return skip, int(rn), true
}

// decode reads the n bytes of records after skip bytes of data into
// records of in.Pool, checking each; the first that fails ends it with
// in.Err naming its position.
func (in *PushIn) decode(data mem.BufferSlice, skip, n int) {
	r := data.Reader()
	defer r.Close()
	if _, err := r.Discard(skip); err != nil {
		in.Err = fmt.Errorf("batch header: %w", err)
		return
	}
	var hdr [records.HeaderSize]byte
	for i, off := 0, 0; off < n; i++ {
		fail := func(err error) {
			in.Err = fmt.Errorf("record %d of the batch (byte %d of %d): %w", i, off, n, err)
		}
		if n-off < records.HeaderSize {
			fail(fmt.Errorf("%w: %d bytes, a header needs %d", records.ErrCorrupt, n-off, records.HeaderSize))
			return
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			fail(err)
			return
		}
		h, err := records.ParseHeader(hdr[:])
		if err != nil {
			fail(err)
			return
		}
		size := h.Size()
		if size > n-off {
			fail(fmt.Errorf("%w: record of %d bytes cut at %d", records.ErrCorrupt, size, n-off))
			return
		}
		rec := in.Pool.New(int(h.Length))
		b := rec.Bytes()
		copy(b, hdr[:])
		if _, err := io.ReadFull(r, b[records.HeaderSize:]); err != nil {
			rec.Release()
			fail(err)
			return
		}
		if _, _, err := records.Decode(b); err != nil {
			rec.Release()
			fail(err)
			return
		}
		in.Records = append(in.Records, rec)
		off += size
	}
}

// PushIn is a PushMessage as a media host's Push receives it (with
// stream.RecvMsg): a batch's records decoded into records of Pool, any
// other message in Message.
type PushIn struct {
	// Pool is where the records of a batch are made; set by the caller.
	Pool *records.Pool
	// Message is the message when it is not a batch (PushOpen,
	// PushFail, or none of them).
	Message *pb.PushMessage
	// Records are the records of a batch, checked, in order; the caller
	// owns one reference to each.
	Records []*records.Record
	// Err is the batch's first record that fails its check, naming its
	// position; the records before it are in Records.
	Err error
}

// Batch is a PushMessage holding one RecordBatch, as the Batcher hands it
// to send: give it to the stream's SendMsg, which takes its buffer (the
// codec marshals it without a copy and gRPC returns the buffer to the
// Batcher's pool once written). A Batch is sent once.
type Batch struct {
	buf  *[]byte
	pool mem.BufferPool
}

// Len returns the bytes of records the batch holds.
func (b *Batch) Len() int {
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

// Bytes returns the records of the batch (until it is sent).
func (b *Batch) Bytes() []byte {
	if b.buf == nil {
		return nil
	}
	return *b.buf
}

// ErrBatchSent is the error of marshalling a Batch a second time.
var ErrBatchSent = errors.New("rpc: batch sent twice")

// batchPool recycles the buffers of batches: gRPC puts them back once
// written.
type batchPool struct {
	p    sync.Pool
	size int
}

func (p *batchPool) Get(n int) *[]byte {
	if n <= p.size {
		if v, ok := p.p.Get().(*[]byte); ok {
			*v = (*v)[:n]
			return v
		}
		b := make([]byte, n, p.size)
		return &b
	}
	b := make([]byte, n)
	return &b
}

func (p *batchPool) Put(b *[]byte) {
	if cap(*b) >= p.size {
		*b = (*b)[:0]
		p.p.Put(b)
	}
}
