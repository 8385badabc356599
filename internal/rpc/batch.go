package rpc

import (
	"fmt"

	"daisy/internal/records"
)

// Batcher packs records into batches of about limit bytes for a push.
// Add copies a record's bytes into the batch, so the caller may release
// the record at once; send is called with each full batch and passes it to
// the stream's SendMsg, which takes the batch's buffer (see Batch).
type Batcher struct {
	buf   *[]byte
	limit int
	pool  *batchPool
	send  func(*Batch) error
	n     int64 // records added
}

// NewBatcher returns a Batcher of batches of about limit bytes (BatchBytes
// when limit ≤ 0).
func NewBatcher(limit int, send func(*Batch) error) *Batcher {
	if limit <= 0 {
		limit = BatchBytes
	}
	b := &Batcher{limit: limit, send: send, pool: &batchPool{size: limit + records.MaxRecordSize}}
	b.buf = b.pool.Get(0)
	return b
}

// Add adds r's encoded bytes to the batch and sends it when it holds limit
// bytes or more.
func (b *Batcher) Add(r *records.Record) error {
	*b.buf = append(*b.buf, r.Bytes()...)
	b.n++
	if len(*b.buf) >= b.limit {
		return b.Flush()
	}
	return nil
}

// Records returns the number of records added.
func (b *Batcher) Records() int64 { return b.n }

// Flush sends what the batch holds, if anything.
func (b *Batcher) Flush() error {
	if len(*b.buf) == 0 {
		return nil
	}
	batch := &Batch{buf: b.buf, pool: b.pool}
	b.buf = b.pool.Get(0)
	return b.send(batch)
}

// Unbatch decodes the records of a batch in order, checking each (magic,
// flags, length, CRC32C: records.Decode), and calls fn with a record of
// pool holding a copy of each; fn takes its reference. A batch that does
// not end at a record's end, or a record that fails its check, is an
// error naming the record's position in the batch; the records before it
// were given to fn. (A media host's Push decodes batches in the codec,
// into PushIn; this is for batches in a decoded message.)
func Unbatch(pool *records.Pool, data []byte, fn func(*records.Record) error) error {
	for i, off := 0, 0; off < len(data); i++ {
		h, _, err := records.Decode(data[off:])
		if err != nil {
			return fmt.Errorf("record %d of the batch (byte %d of %d): %w", i, off, len(data), err)
		}
		n := h.Size()
		if err := fn(pool.FromBytes(data[off : off+n])); err != nil {
			return err
		}
		off += n
	}
	return nil
}
