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
	"daisy/internal/records"
	"daisy/internal/volume"
)

// copyReader reads the records of one object from one of its copies,
// extent after extent, block by block. Damaged blocks are skipped by the
// volume reader and collected (takeDamage); a volume that cannot be opened
// counts as damage of its extents, and reading goes on with the next
// extent on another volume. Whether a damaged block held records the
// caller needs is the caller's to tell, from the sequence numbers and
// offsets of the records that follow it.
type copyReader struct {
	ctx  context.Context
	cat  *catalog.Catalog
	id   records.ID
	cp   catalog.Copy
	exts []catalog.Extent
	ext  int // index of the extent being read; -1 before the first

	med    device.Medium
	rd     *volume.Reader
	volID  string
	damage []string
	read   int64        // device bytes read by media already closed
	log    *slog.Logger // nil: says nothing
}

func newCopyReader(ctx context.Context, cat *catalog.Catalog, id records.ID, cp catalog.Copy) (*copyReader, error) {
	exts, err := cat.Extents(ctx, id.String(), cp.Number)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, fmt.Errorf("copy %d of object %s: the catalog lists no extent", cp.Number, id)
	}
	return &copyReader{ctx: ctx, cat: cat, id: id, cp: cp, exts: exts, ext: -1}, nil
}

// bytesRead returns the bytes read from devices so far.
func (c *copyReader) bytesRead() int64 {
	n := c.read
	if c.med != nil {
		n += c.med.Stats().BytesRead
	}
	return n
}

// close releases the open volume.
func (c *copyReader) close() {
	if c.med != nil {
		c.read += c.med.Stats().BytesRead
		c.med.Close()
		c.med, c.rd, c.volID = nil, nil, ""
	}
}

// open makes volume id the one read.
func (c *copyReader) open(id string) error {
	if id == c.volID {
		return nil
	}
	c.close()
	m, rd, err := openVolume(c.ctx, c.cat, id)
	if err != nil {
		return err
	}
	lbl := rd.Label().Label
	rd.SetOnDamage(func(d volume.Damage) {
		c.damage = append(c.damage, fmt.Sprintf("volume %s block %d: %v", lbl, d.Block, d.Err))
	})
	c.med, c.rd, c.volID = m, rd, id
	if c.log != nil {
		c.log.Debug("opened volume", "volume", lbl, "object", c.id.String(), "copy", c.cp.Number)
	}
	return nil
}

// takeDamage returns the damage seen since the last call, nil if none.
func (c *copyReader) takeDamage() error {
	if len(c.damage) == 0 {
		return nil
	}
	err := errors.New(strings.Join(c.damage, "; "))
	c.damage = nil
	return err
}

// startExtent positions the reader at the first block of extent k.
func (c *copyReader) startExtent(k int) error {
	e := c.exts[k]
	c.ext = k
	if err := c.open(e.VolumeID); err != nil {
		return err
	}
	c.rd.SetLimit(e.LastBlock)
	return c.rd.SeekBlock(e.FirstBlock)
}

// extentOf returns the index of the extent that holds offset off.
func (c *copyReader) extentOf(off int64) int {
	for k, e := range c.exts {
		if off >= e.FirstOffset && (off < e.EndOffset || k == len(c.exts)-1) {
			return k
		}
	}
	return -1
}

// next returns the next record of the object (Begin, data or End) in the
// copy's extents, or io.EOF after the last extent. An extent whose volume
// cannot be opened is noted as damage and passed over.
func (c *copyReader) next() (volume.Record, error) {
	for {
		if err := c.ctx.Err(); err != nil {
			return volume.Record{}, err
		}
		if c.rd == nil {
			if c.ext+1 >= len(c.exts) {
				return volume.Record{}, io.EOF
			}
			if err := c.startExtent(c.ext + 1); err != nil {
				c.damage = append(c.damage, err.Error())
				c.close()
				continue
			}
		}
		rec, err := c.rd.Next()
		if err == io.EOF {
			if c.ext+1 >= len(c.exts) {
				return rec, io.EOF
			}
			if err := c.startExtent(c.ext + 1); err != nil {
				c.damage = append(c.damage, err.Error())
				c.close()
			}
			continue
		}
		if err != nil {
			return rec, err
		}
		if h := rec.Header; h.Object != c.id || !h.Type.IsObject() {
			continue
		}
		return rec, nil
	}
}

// locate positions the reader at the block that holds offset off: the
// extent from the catalog, the block by an interpolation search over the
// extent's blocks (a block read per probe). A damaged probe block is
// passed over: reading on from the block found meets the damage again if
// it held data that is needed.
func (c *copyReader) locate(off int64) error {
	i := c.extentOf(off)
	if i < 0 {
		return fmt.Errorf("copy %d: no extent holds offset %d", c.cp.Number, off)
	}
	e := c.exts[i]
	if err := c.open(e.VolumeID); err != nil {
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
		first, err := c.firstOffset(mid)
		// A damaged probe: the next intact block after it answers, or
		// the search goes on below it.
		probe := mid
		for errors.Is(err, errDamagedProbe) && probe < hi {
			probe++
			first, err = c.firstOffset(probe)
		}
		if errors.Is(err, errDamagedProbe) {
			hi, bisect = mid-1, false
			continue
		}
		if err != nil {
			return err
		}
		width := hi - lo
		if first <= off {
			lo = probe
			if first > loOff {
				loOff = first
			}
		} else {
			hi, hiEnd = probe-1, first
		}
		bisect = !bisect && 2*(hi-lo) > width
	}
	c.ext = i
	c.rd.SetLimit(e.LastBlock)
	return c.rd.SeekBlock(lo)
}

// errDamagedProbe marks a block locate could not use.
var errDamagedProbe = errors.New("damaged block")

// firstOffset returns the offset of the first data record of the object
// in block n, or -1 when the block holds none (its Begin record only); an
// error wrapping errDamagedProbe when the block is damaged.
func (c *copyReader) firstOffset(n int64) (int64, error) {
	c.rd.SetLimit(n)
	if err := c.rd.SeekBlock(n); err != nil {
		return 0, err
	}
	for {
		rec, err := c.rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := c.takeDamage(); err != nil {
			return 0, fmt.Errorf("%w: %w", errDamagedProbe, err)
		}
		if rec.Header.Object == c.id && rec.Header.Type.IsData() {
			return int64(rec.Header.Offset), nil
		}
	}
	if err := c.takeDamage(); err != nil {
		return 0, fmt.Errorf("%w: %w", errDamagedProbe, err)
	}
	return -1, nil
}

// seekNear positions the reader before the record that holds offset off:
// by locate, or, when a probe meets damage, at the start of the extent
// that holds it (reading on from there finds the damage again, with the
// records after it).
func (c *copyReader) seekNear(off int64) error {
	if err := c.locate(off); err == nil {
		return nil
	}
	c.damage = nil
	k := c.extentOf(off)
	if k < 0 {
		k = 0
	}
	return c.startExtent(k)
}
