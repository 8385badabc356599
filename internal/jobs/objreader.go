package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"daisy/internal/catalog"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// objectReader reads an object stream from any offset, for restores of a
// few entries of a large object: SeekTo finds the block that holds an offset
// from the catalog's extents and an interpolation search over the blocks of
// one extent (mediaagent.ExtentReader.Locate), so that reading a small file from a large
// object reads a few blocks, not the object. Every record's CRC and the
// continuity of the offsets are checked, as in a full read; the hash of the
// whole object cannot be, since the whole object is not read. When a copy
// cannot be read at an offset, the reader goes on from another copy at the
// same offset, and a copy that failed further back is tried again for a
// later range: it fails over per range, both ways. When no copy can be
// read at an offset, the read fails; a later SeekTo starts afresh.
type objectReader struct {
	ctx     context.Context
	cat     *catalog.Catalog
	obj     catalog.Object
	id      records.ID
	log     *slog.Logger
	copies  []catalog.Copy
	vols    mediaagent.Volumes
	readers []*mediaagent.ExtentReader // per copy, opened when first needed
	failAt  []int64                    // per copy, the offset where it last failed; -1 if none
	ci      int                        // index of the copy being read
	c       *mediaagent.ExtentReader   // readers[ci], positioned (nil before Seek)

	zbuf    []byte // decompressed payload
	off     int64  // object offset of the next byte Read delivers
	pending []byte // rest of the current record's payload, from off
	eof     bool
	broken  bool // the last read failed on every copy

	attempts []CopyAttempt
}

// skipAhead is how far forward SeekTo reads on instead of searching again.
const skipAhead = 2 << 20

func newObjectReader(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, copy int, salvage bool, log *slog.Logger) (*objectReader, error) {
	if obj.State != ObjectComplete {
		return nil, fmt.Errorf("object %s of %s is %s, not complete: it cannot be restored", obj.ID, obj.Source, obj.State)
	}
	id, err := records.ParseID(obj.ID)
	if err != nil {
		return nil, fmt.Errorf("catalog object id %q: %w", obj.ID, err)
	}
	cps, err := copiesToRead(ctx, cat, obj, copy, salvage)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &objectReader{ctx: ctx, cat: cat, obj: obj, id: id, log: log, copies: cps,
		vols: newCatalogVolumes(cat, nil), readers: make([]*mediaagent.ExtentReader, len(cps)), failAt: make([]int64, len(cps))}
	for i := range r.failAt {
		r.failAt[i] = -1
	}
	return r, nil
}

// reader returns the copy reader of copy index i.
func (r *objectReader) reader(i int) (*mediaagent.ExtentReader, error) {
	if r.readers[i] == nil {
		c, err := copyExtentReader(r.ctx, r.cat, r.vols, r.id, r.copies[i], r.log)
		if err != nil {
			return nil, err
		}
		r.readers[i] = c
	}
	return r.readers[i], nil
}

// BytesRead returns the bytes read from devices so far.
func (r *objectReader) BytesRead() int64 {
	var n int64
	for _, c := range r.readers {
		if c != nil {
			n += c.BytesRead()
		}
	}
	return n
}

// Reads returns the device counters of the volumes read so far.
func (r *objectReader) Reads() []mediaagent.VolumeRead {
	var out []mediaagent.VolumeRead
	for _, c := range r.readers {
		if c != nil {
			out = mediaagent.AddReads(out, c.Reads())
		}
	}
	return out
}

// Copy returns the number of the copy being read.
func (r *objectReader) Copy() int { return r.copies[r.ci].Number }

// Close releases the open volumes.
func (r *objectReader) Close() {
	for _, c := range r.readers {
		if c != nil {
			c.Close()
		}
	}
}

// SeekTo positions the reader at object offset off.
func (r *objectReader) SeekTo(off int64) error {
	if off < 0 || off > r.obj.Length {
		return fmt.Errorf("object %s: seek to offset %d outside 0..%d", r.obj.ID, off, r.obj.Length)
	}
	if r.c != nil && !r.broken && off >= r.off && off-r.off <= skipAhead && !r.eof {
		_, err := io.CopyN(io.Discard, r, off-r.off)
		return err
	}
	r.broken = false
	r.off = off
	return r.retry(func() error { return r.locate(off) })
}

// retry runs f on the current copy; when it fails, f is run (repositioned
// at the offset where it failed) on each copy that has not failed at that
// offset yet, in turn, until one succeeds.
func (r *objectReader) retry(f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if r.ctx.Err() != nil {
			return err
		}
		r.attempts = append(r.attempts, CopyAttempt{Copy: r.Copy(), Error: err.Error(), At: r.off})
		r.log.Warn("copy unreadable", "object", r.obj.ID, "copy", r.Copy(), "at_offset", r.off, "err", err)
		r.failAt[r.ci] = r.off
		if r.c != nil {
			r.c.Close()
			r.c = nil
		}
		next := -1
		for k := 1; k <= len(r.copies); k++ {
			if j := (r.ci + k) % len(r.copies); r.failAt[j] != r.off {
				next = j
				break
			}
		}
		if next < 0 {
			r.broken = true
			var msgs []string
			for _, a := range r.attempts {
				if a.At == r.off {
					msgs = append(msgs, fmt.Sprintf("copy %d: %s", a.Copy, a.Error))
				}
			}
			return fmt.Errorf("object %s of %s at offset %d: no copy could be read: %s", r.obj.ID, r.obj.Source, r.off, strings.Join(msgs, "; "))
		}
		r.ci = next
		at := r.off
		f = func() error { return r.locate(at) }
	}
}

// locate positions the current copy at offset off.
func (r *objectReader) locate(off int64) error {
	c, err := r.reader(r.ci)
	if err != nil {
		return err
	}
	r.c = c
	c.TakeDamage()
	if err := c.Locate(off); err != nil {
		return err
	}
	r.off, r.pending, r.eof = off, nil, false
	return nil
}

// Read delivers object bytes from the current offset.
func (r *objectReader) Read(p []byte) (int, error) {
	if r.c == nil && !r.broken {
		if err := r.SeekTo(r.off); err != nil {
			return 0, err
		}
	}
	for len(r.pending) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if r.broken {
			return 0, fmt.Errorf("object %s at offset %d: no copy could be read", r.obj.ID, r.off)
		}
		if err := r.retry(r.next); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.off += int64(n)
	return n, nil
}

// next reads records until one delivers data at r.off (or the End). Damage
// before a record that starts after r.off is a failure of the copy; damage
// of blocks that did not hold the data at r.off is not.
func (r *objectReader) next() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.c == nil {
		return r.locate(r.off)
	}
	for {
		rec, err := r.c.Next()
		if err == io.EOF {
			if derr := r.c.TakeDamageErr(); derr != nil {
				return derr
			}
			return fmt.Errorf("copy %d: its extents end at offset %d before the object's end record", r.Copy(), r.off)
		}
		if err != nil {
			return err
		}
		h := rec.Header
		switch h.Type {
		case records.TypeEnd:
			if int64(h.Offset) != r.off && r.off != r.obj.Length {
				if derr := r.c.TakeDamageErr(); derr != nil {
					return derr
				}
				return fmt.Errorf("%w: object %s: end record at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, h.Offset, r.off)
			}
			r.c.TakeDamageErr()
			r.eof = true
			return nil
		case records.TypeData, records.TypeDataZstd:
		default:
			continue
		}
		n, err := records.DataLen(h, rec.Payload)
		if err != nil {
			return err
		}
		start, end := int64(h.Offset), int64(h.Offset)+int64(n)
		switch {
		case end <= r.off:
			r.c.TakeDamageErr() // before the position: not ours
			continue
		case start > r.off:
			if derr := r.c.TakeDamageErr(); derr != nil {
				return derr
			}
			return fmt.Errorf("%w: object %s: data at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, start, r.off)
		}
		r.c.TakeDamageErr()
		data, err := records.Data(h, rec.Payload, r.zbuf)
		if err != nil {
			return err
		}
		if h.Type == records.TypeDataZstd {
			r.zbuf = data
		}
		r.pending = data[r.off-start:]
		return nil
	}
}
