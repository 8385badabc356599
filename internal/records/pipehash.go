package records

import (
	"crypto/sha256"
	"hash"
)

// A pipelined hash computes the SHA-256 of an object's stream on other
// goroutines while the caller goes on reading and checking records. On a
// restore the hash is the largest cost of the reading side (SHA-256 runs
// at about 1.5 GB/s here; a block read from the page cache and its CRC32C
// at several), and in line it held back the extraction it feeds. Data is
// copied into chunks; each full chunk is hashed by a goroutine of its own
// that first waits for the one before, so the hash sees the bytes in
// order, and at most pipeChunks chunks exist (Write waits for one to be
// hashed). Nothing outlives the object: the goroutines of an abandoned
// hash end when their chunks are hashed. The first pipeStart bytes are
// hashed in line, so small objects cost no goroutine.
const (
	pipeChunk  = 256 << 10
	pipeChunks = 4
	pipeStart  = 1 << 20
)

type pipeHash struct {
	h      hash.Hash
	n      int64         // bytes written
	cur    []byte        // chunk being filled
	prev   chan struct{} // closed when the last chunk handed off is hashed
	free   chan []byte   // chunks hashed, to be filled again
	chunks int           // chunks allocated
	sum    []byte        // the hash, once Sum was called
}

func newPipeHash() *pipeHash { return &pipeHash{h: sha256.New()} }

// Write adds b to the hash.
func (p *pipeHash) Write(b []byte) {
	if p.n < pipeStart && p.prev == nil && p.cur == nil {
		k := min(int64(len(b)), pipeStart-p.n)
		p.h.Write(b[:k])
		p.n += k
		b = b[k:]
	}
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = p.chunk()
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+k]
		p.n += int64(k)
		b = b[k:]
		if len(p.cur) == cap(p.cur) {
			p.handOff()
		}
	}
}

// chunk returns an empty chunk: one hashed already, or a new one while
// fewer than pipeChunks exist, or else the next one hashed.
func (p *pipeHash) chunk() []byte {
	if p.free == nil {
		p.free = make(chan []byte, pipeChunks)
	}
	select {
	case c := <-p.free:
		return c
	default:
	}
	if p.chunks < pipeChunks {
		p.chunks++
		return make([]byte, 0, pipeChunk)
	}
	return <-p.free
}

// handOff hashes the current chunk on a goroutine, after the chunk before.
func (p *pipeHash) handOff() {
	c, prev, done := p.cur, p.prev, make(chan struct{})
	p.cur, p.prev = nil, done
	h, free := p.h, p.free
	go func() {
		if prev != nil {
			<-prev
		}
		h.Write(c)
		free <- c[:0]
		close(done)
	}()
}

// Sum returns the SHA-256 of everything written, once every chunk is
// hashed. Nothing may be written after it.
func (p *pipeHash) Sum() []byte {
	if p.sum == nil {
		if len(p.cur) > 0 {
			p.handOff()
		}
		if p.prev != nil {
			<-p.prev
		}
		p.sum = p.h.Sum(nil)
	}
	return p.sum
}
