package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/minio/minio-go/v7"

	"daisy/internal/device"
)

// Medium is a mounted volume of a bucket. It implements device.Medium,
// device.Locator and device.Truncater. Like every medium it is used by one
// goroutine at a time.
//
// Blocks written wait in memory (at most a part) until the part is full,
// or Sync or Close uploads them; reads see them at once.
type Medium struct {
	l        *Library
	ref      string
	name     string
	bs       int64
	man      *manifest // what is uploaded
	readOnly bool

	pos        int64
	partBlocks int64
	pend       []byte // blocks man.Blocks.. not uploaded yet
	warned     bool

	// The read window: blocks winFirst..winFirst+winN-1 of one part,
	// read ahead; lastW is the size of the last window fetched, in blocks.
	win            []byte
	winFirst, winN int64
	lastW, maxW    int64
	requests       int64
	fetched        int64
	stats          device.Stats
	closed         bool
}

var (
	_ device.Medium    = (*Medium)(nil)
	_ device.Locator   = (*Medium)(nil)
	_ device.Truncater = (*Medium)(nil)
)

func (l *Library) newMedium(ref string, man *manifest, readOnly bool) *Medium {
	bs := int64(man.BlockSize)
	return &Medium{
		l: l, ref: ref, name: l.objName(l.volKey(ref)), bs: bs, man: man, readOnly: readOnly,
		partBlocks: max(1, l.o.PartSize/bs),
		maxW:       max(1, l.o.ReadAhead/bs),
	}
}

// Name returns "s3://BUCKET/PREFIX/LABEL".
func (m *Medium) Name() string { return m.name }

// BlockSize returns the size of every block.
func (m *Medium) BlockSize() int { return int(m.bs) }

// Blocks returns the number of blocks on the volume, those not uploaded
// yet included.
func (m *Medium) Blocks() int64 { return m.man.Blocks + int64(len(m.pend))/m.bs }

// Position returns the block the next read or write uses.
func (m *Medium) Position() int64 { return m.pos }

// Stats returns the blocks and bytes read and written through the medium.
func (m *Medium) Stats() device.Stats { return m.stats }

// Fetched returns the GET requests made for blocks and the bytes they
// brought (the read-ahead makes the bytes more than the blocks read).
func (m *Medium) Fetched() (requests, bytes int64) { return m.requests, m.fetched }

// Parts returns the number of part objects the volume uses.
func (m *Medium) Parts() int { return len(m.man.Parts) }

func (m *Medium) errf(op, format string, args ...any) error {
	return &os.PathError{Op: op, Path: m.name, Err: fmt.Errorf(format, args...)}
}

// ctx is the context of the medium's requests: a medium outlives the
// context of the call that mounted it, and a job that is cancelled still
// syncs what it wrote.
func (m *Medium) ctx() context.Context { return context.Background() }

// WriteBlock appends b, exactly one block, at the end of the volume. Near
// the capacity it returns device.ErrEndOfMedium once without writing;
// later writes go into the reserve until it is used up (device.ErrFull).
// A block that fills a part uploads it; if the upload fails (after its
// retries) the block is not written and the error is returned.
func (m *Medium) WriteBlock(b []byte) error {
	switch {
	case m.closed:
		return m.errf("write", "%w", os.ErrClosed)
	case m.readOnly:
		return m.errf("write", "volume is mounted read only")
	case int64(len(b)) != m.bs:
		return m.errf("write", "block of %d bytes, the block size is %d", len(b), m.bs)
	case m.pos != m.Blocks():
		return m.errf("write", "at block %d, but the data ends at block %d: a volume is written only at its end (truncate first)", m.pos, m.Blocks())
	}
	end := (m.Blocks() + 1) * m.bs
	if c := m.l.o.Capacity; c > 0 {
		if m.warned && end > c {
			return device.ErrFull
		}
		if !m.warned && end > c-ReserveBlocks*m.bs {
			m.warned = true
			return device.ErrEndOfMedium
		}
	}
	if len(m.pend) == cap(m.pend) {
		// Grow by doubling, up to one part.
		n := min(m.partBlocks*m.bs, max(16*m.bs, 2*int64(cap(m.pend))))
		p := make([]byte, len(m.pend), n)
		copy(p, m.pend)
		m.pend = p
	}
	m.pend = append(m.pend, b...)
	if int64(len(m.pend)) >= m.partBlocks*m.bs {
		if err := m.flush(); err != nil {
			m.pend = m.pend[:len(m.pend)-int(m.bs)]
			return err
		}
	}
	m.pos++
	m.stats.BlocksWritten++
	m.stats.BytesWritten += m.bs
	return nil
}

// flush uploads the blocks waiting as a new part, then the manifest that
// names it. A failure leaves them waiting (the part object, if it was
// uploaded, is not named by the manifest and is replaced by the next try).
func (m *Medium) flush() error {
	if len(m.pend) == 0 {
		return nil
	}
	n := int64(len(m.pend)) / m.bs
	name := partName(m.man.NextPart, m.man.Blocks)
	key := m.l.volKey(m.ref) + name
	err := m.l.retry(m.ctx(), "upload "+m.l.objName(key), func(ctx context.Context) error {
		_, err := m.l.c.PutObject(ctx, m.l.o.Bucket, key, bytes.NewReader(m.pend), int64(len(m.pend)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		return err
	})
	if err != nil {
		return err
	}
	next := *m.man
	next.Parts = append(append([]part(nil), m.man.Parts...), part{Name: name, First: m.man.Blocks, Blocks: n})
	next.Blocks += n
	next.NextPart++
	if err := m.l.putManifest(m.ctx(), m.ref, &next); err != nil {
		return err
	}
	m.man = &next
	m.pend = m.pend[:0]
	return nil
}

// Sync uploads the blocks written since the last part.
func (m *Medium) Sync() error {
	if m.closed {
		return m.errf("sync", "%w", os.ErrClosed)
	}
	return m.flush()
}

// ReadBlock reads the block at the current position into b[:BlockSize]
// and advances; io.EOF at the end of the volume. The blocks of a part
// object that is missing or shorter than the manifest says read as zeros,
// which a volume reader reports as damage.
func (m *Medium) ReadBlock(b []byte) error {
	switch {
	case m.closed:
		return m.errf("read", "%w", os.ErrClosed)
	case int64(len(b)) < m.bs:
		return m.errf("read", "buffer of %d bytes for a block of %d", len(b), m.bs)
	case m.pos >= m.Blocks():
		return io.EOF
	}
	b = b[:m.bs]
	switch {
	case m.pos >= m.man.Blocks:
		off := (m.pos - m.man.Blocks) * m.bs
		copy(b, m.pend[off:off+m.bs])
	case m.pos >= m.winFirst && m.pos < m.winFirst+m.winN:
		off := (m.pos - m.winFirst) * m.bs
		copy(b, m.win[off:off+m.bs])
	default:
		if err := m.fetch(m.pos); err != nil {
			return err
		}
		copy(b, m.win[:m.bs])
	}
	m.pos++
	m.stats.BlocksRead++
	m.stats.BytesRead += m.bs
	return nil
}

// fetch reads the window starting at block n: twice the last window when
// n follows it (a sequential read), else one block, at most maxW blocks
// and never past the end of n's part.
func (m *Medium) fetch(n int64) error {
	i := sort.Search(len(m.man.Parts), func(i int) bool { return m.man.Parts[i].First+m.man.Parts[i].Blocks > n })
	p := m.man.Parts[i]
	w := int64(1)
	if n == m.winFirst+m.winN && m.winN > 0 {
		w = min(2*m.lastW, m.maxW)
	}
	w = min(w, p.First+p.Blocks-n)
	size := w * m.bs
	if int64(cap(m.win)) < size {
		m.win = make([]byte, size)
	}
	m.win = m.win[:size]
	m.winFirst, m.winN = n, 0
	key := m.l.volKey(m.ref) + p.Name
	var got int
	err := m.l.retry(m.ctx(), fmt.Sprintf("read blocks %d..%d of %s", n, n+w-1, m.name), func(ctx context.Context) error {
		got = 0
		m.requests++
		o, err := m.l.getRange(ctx, key, (n-p.First)*m.bs, size)
		if err != nil {
			return err
		}
		defer o.Close()
		got, err = io.ReadFull(o, m.win)
		switch r := minio.ToErrorResponse(err); {
		case err == nil:
			return nil
		case r.Code == "NoSuchKey", r.Code == "InvalidRange":
			got = 0
			return nil // a lost part: zeros
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			// A short answer: a part object shorter than the manifest
			// says (its blocks read as zeros), or a connection that
			// broke (tried again).
			st, serr := m.l.c.StatObject(ctx, m.l.o.Bucket, key, minio.StatObjectOptions{})
			if serr == nil && st.Size < (n-p.First)*m.bs+size {
				got = int(max(0, min(int64(got), st.Size-(n-p.First)*m.bs)))
				return nil
			}
		}
		return err
	})
	m.fetched += int64(got)
	if err != nil {
		return err
	}
	clear(m.win[got:])
	m.winN, m.lastW = w, w
	return nil
}

// Locate positions at block n, 0 ≤ n ≤ Blocks().
func (m *Medium) Locate(n int64) error {
	if m.closed {
		return m.errf("seek", "%w", os.ErrClosed)
	}
	if n < 0 || n > m.Blocks() {
		return m.errf("seek", "block %d is beyond the end of the data (%d blocks)", n, m.Blocks())
	}
	m.pos = n
	return nil
}

// Truncate cuts the volume after block n-1, so that block n is the next
// one written, and positions there. Blocks not uploaded yet are dropped;
// a cut into uploaded blocks rewrites the manifest (a part cut in two
// keeps its object, of which the manifest names the first blocks) and
// then deletes the parts wholly cut off.
func (m *Medium) Truncate(n int64) error {
	switch {
	case m.closed:
		return m.errf("truncate", "%w", os.ErrClosed)
	case m.readOnly:
		return m.errf("truncate", "volume is mounted read only")
	case n < 0 || n > m.Blocks():
		return m.errf("truncate", "block %d is beyond the end of the data (%d blocks)", n, m.Blocks())
	}
	if n >= m.man.Blocks {
		m.pend = m.pend[:(n-m.man.Blocks)*m.bs]
	} else {
		next := *m.man
		next.Parts = append([]part(nil), m.man.Parts...)
		dropped := next.truncate(n)
		if err := m.l.putManifest(m.ctx(), m.ref, &next); err != nil {
			return err
		}
		m.man = &next
		m.pend = m.pend[:0]
		for _, p := range dropped {
			if err := m.l.remove(m.ctx(), m.l.volKey(m.ref)+p.Name); err != nil {
				return err
			}
		}
		if m.winFirst+m.winN > n {
			m.winN = 0
		}
	}
	m.pos = n
	if c := m.l.o.Capacity; c == 0 || (n+1)*m.bs <= c-ReserveBlocks*m.bs {
		m.warned = false
	}
	return nil
}

// Close uploads the blocks still waiting (a medium in memory would lose
// them otherwise) and releases the medium.
func (m *Medium) Close() error {
	if m.closed {
		return m.errf("close", "%w", os.ErrClosed)
	}
	var err error
	if !m.readOnly {
		err = m.flush()
	}
	m.closed = true
	m.pend, m.win = nil, nil
	return err
}
