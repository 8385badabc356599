package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"daisy/internal/catalog"
	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// objectReader reads an object stream from any offset, for restores of a
// few entries of a large object: SeekTo finds the block that holds an offset
// from the catalog's extents and a binary search over the blocks of one
// extent (a block read per probe), so that reading a small file from a
// large object reads a few blocks, not the object. Every record's CRC and
// the continuity of the offsets are checked, as in a full read; the hash of
// the whole object cannot be, since the whole object is not read. When a
// copy cannot be read, the reader goes on from the next good copy at the
// same offset.
type objectReader struct {
	ctx    context.Context
	cat    *catalog.Catalog
	obj    catalog.Object
	id     records.ID
	log    *slog.Logger
	copies []catalog.Copy
	ci     int // index of the copy being read

	exts   []catalog.Extent
	ext    int // index of the extent being read; -1 before Seek
	med    device.Medium
	rd     *volume.Reader
	volID  string
	damage []string

	zbuf    []byte // decompressed payload
	off     int64  // object offset of the next byte Read delivers
	pending []byte // rest of the current record's payload, from off
	eof     bool

	read     int64 // device bytes read, closed media included
	attempts []CopyAttempt
}

// skipAhead is how far forward SeekTo reads on instead of searching again.
const skipAhead = 2 << 20

func newObjectReader(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, copy int, log *slog.Logger) (*objectReader, error) {
	if obj.State != ObjectComplete {
		return nil, fmt.Errorf("object %s of %s is %s, not complete: it cannot be restored", obj.ID, obj.Source, obj.State)
	}
	id, err := records.ParseID(obj.ID)
	if err != nil {
		return nil, fmt.Errorf("catalog object id %q: %w", obj.ID, err)
	}
	cps, err := copiesToRead(ctx, cat, obj, copy)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &objectReader{ctx: ctx, cat: cat, obj: obj, id: id, log: log, copies: cps, ext: -1}
	if err := r.loadExtents(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *objectReader) loadExtents() error {
	exts, err := r.cat.Extents(r.ctx, r.obj.ID, r.copies[r.ci].Number)
	if err != nil {
		return err
	}
	if len(exts) == 0 {
		return fmt.Errorf("copy %d of object %s: the catalog lists no extent", r.copies[r.ci].Number, r.obj.ID)
	}
	r.exts = exts
	return nil
}

// BytesRead returns the bytes read from devices so far.
func (r *objectReader) BytesRead() int64 {
	n := r.read
	if r.med != nil {
		n += r.med.Stats().BytesRead
	}
	return n
}

// Copy returns the number of the copy being read.
func (r *objectReader) Copy() int { return r.copies[r.ci].Number }

// Close releases the open volume.
func (r *objectReader) Close() {
	if r.med != nil {
		r.read += r.med.Stats().BytesRead
		r.med.Close()
		r.med, r.rd, r.volID = nil, nil, ""
	}
}

// SeekTo positions the reader at object offset off.
func (r *objectReader) SeekTo(off int64) error {
	if off < 0 || off > r.obj.Length {
		return fmt.Errorf("object %s: seek to offset %d outside 0..%d", r.obj.ID, off, r.obj.Length)
	}
	if r.ext >= 0 && off >= r.off && off-r.off <= skipAhead && !r.eof {
		_, err := io.CopyN(io.Discard, r, off-r.off)
		return err
	}
	return r.retry(func() error { return r.locate(off) })
}

// retry runs f on the current copy, then on each next one until f succeeds,
// repositioned at the offset where the failed copy stopped.
func (r *objectReader) retry(f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if r.ctx.Err() != nil {
			return err
		}
		r.attempts = append(r.attempts, CopyAttempt{Copy: r.Copy(), Error: err.Error()})
		r.log.Warn("copy unreadable", "object", r.obj.ID, "copy", r.Copy(), "at_offset", r.off, "err", err)
		r.Close()
		if r.ci+1 >= len(r.copies) {
			var msgs []string
			for _, a := range r.attempts {
				msgs = append(msgs, fmt.Sprintf("copy %d: %s", a.Copy, a.Error))
			}
			return fmt.Errorf("object %s of %s: no copy could be read: %s", r.obj.ID, r.obj.Source, strings.Join(msgs, "; "))
		}
		r.ci++
		if lerr := r.loadExtents(); lerr != nil {
			return lerr
		}
		at := r.off
		f = func() error { return r.locate(at) }
	}
}

// locate finds the block that holds offset off in the current copy and
// positions the volume reader there.
func (r *objectReader) locate(off int64) error {
	i := -1
	for k, e := range r.exts {
		if off >= e.FirstOffset && (off < e.EndOffset || k == len(r.exts)-1) {
			i = k
			break
		}
	}
	if i < 0 {
		return fmt.Errorf("copy %d: no extent holds offset %d", r.Copy(), off)
	}
	e := r.exts[i]
	if err := r.open(e.VolumeID); err != nil {
		return err
	}
	// The block is in [lo, hi]: the object's data at loOff starts in
	// block lo, that at hiEnd after block hi. Offsets grow about linearly
	// with blocks within an extent, so a probe where the line between the
	// two says usually lands next to the block; a probe that did not halve
	// the range is followed by a bisection, which bounds the probes at
	// twice a binary search's.
	lo, hi := e.FirstBlock, e.LastBlock
	loOff, hiEnd := e.FirstOffset, e.EndOffset
	bisect := false
	for lo < hi {
		var mid int64
		if bisect || hiEnd <= loOff {
			mid = lo + (hi-lo+1)/2
		} else {
			mid = lo + int64(float64(off-loOff)/float64(hiEnd-loOff)*float64(hi+1-lo))
			mid = min(max(mid, lo+1), hi)
		}
		first, err := r.firstOffset(mid)
		if err != nil {
			return err
		}
		width := hi - lo
		if first <= off {
			lo = mid
			if first > loOff {
				loOff = first
			}
		} else {
			hi, hiEnd = mid-1, first
		}
		bisect = !bisect && 2*(hi-lo) > width
	}
	r.rd.SetLimit(e.LastBlock)
	if err := r.rd.SeekBlock(lo); err != nil {
		return err
	}
	r.ext, r.off, r.pending, r.eof = i, off, nil, false
	return nil
}

// firstOffset returns the offset of the first data record of the object
// in block n, or -1 when the block holds none (its Begin record only).
func (r *objectReader) firstOffset(n int64) (int64, error) {
	r.rd.SetLimit(n)
	if err := r.rd.SeekBlock(n); err != nil {
		return 0, err
	}
	for {
		rec, err := r.rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := r.damaged(); err != nil {
			return 0, err
		}
		if rec.Header.Object == r.id && rec.Header.Type.IsData() {
			return int64(rec.Header.Offset), nil
		}
	}
	if err := r.damaged(); err != nil {
		return 0, err
	}
	return -1, nil
}

func (r *objectReader) damaged() error {
	if len(r.damage) == 0 {
		return nil
	}
	err := errors.New(strings.Join(r.damage, "; "))
	r.damage = nil
	return err
}

// open makes volume id the one read.
func (r *objectReader) open(id string) error {
	if id == r.volID {
		return nil
	}
	r.Close()
	m, rd, err := openVolume(r.ctx, r.cat, id)
	if err != nil {
		return err
	}
	lbl := rd.Label().Label
	rd.SetOnDamage(func(d volume.Damage) { r.damage = append(r.damage, fmt.Sprintf("volume %s: %v", lbl, d.Err)) })
	r.med, r.rd, r.volID = m, rd, id
	return nil
}

// openVolume opens a volume of the catalog for reading and checks that the
// file holds that volume.
func openVolume(ctx context.Context, cat *catalog.Catalog, id string) (device.Medium, *volume.Reader, error) {
	v, err := cat.Volume(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("volume %s: %w", id, err)
	}
	m, err := vtape.Open(v.Path, vtape.Options{BlockSize: v.BlockSize})
	if err != nil {
		return nil, nil, fmt.Errorf("volume %s: %w", v.Label, err)
	}
	rd, err := volume.NewReader(m)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("volume %s: %w", v.Label, err)
	}
	if rd.Label().VolumeID.String() != v.ID {
		m.Close()
		return nil, nil, fmt.Errorf("volume file %s holds volume %s, not %s", v.Path, rd.Label().Label, v.Label)
	}
	return m, rd, nil
}

// Read delivers object bytes from the current offset.
func (r *objectReader) Read(p []byte) (int, error) {
	if r.ext < 0 {
		if err := r.SeekTo(0); err != nil {
			return 0, err
		}
	}
	for len(r.pending) == 0 {
		if r.eof {
			return 0, io.EOF
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

// next reads records until one delivers data at r.off (or the End).
func (r *objectReader) next() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.rd == nil {
		return r.locate(r.off)
	}
	for {
		rec, err := r.rd.Next()
		if err == io.EOF {
			if err := r.damaged(); err != nil {
				return err
			}
			// The end of this extent: on to the next one.
			if r.ext+1 >= len(r.exts) {
				return fmt.Errorf("copy %d: its extents end at offset %d before the object's end record", r.Copy(), r.off)
			}
			e := r.exts[r.ext+1]
			if err := r.open(e.VolumeID); err != nil {
				return err
			}
			r.rd.SetLimit(e.LastBlock)
			if err := r.rd.SeekBlock(e.FirstBlock); err != nil {
				return err
			}
			r.ext++
			continue
		}
		if err != nil {
			return err
		}
		if err := r.damaged(); err != nil {
			return err
		}
		h := rec.Header
		if h.Object != r.id {
			continue
		}
		switch h.Type {
		case records.TypeEnd:
			if int64(h.Offset) != r.off && r.off != r.obj.Length {
				return fmt.Errorf("%w: object %s: end record at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, h.Offset, r.off)
			}
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
			continue // before the position
		case start > r.off:
			return fmt.Errorf("%w: object %s: data at offset %d, expected %d", records.ErrCorrupt, r.obj.ID, start, r.off)
		}
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
