package records

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// The pipelined hash of an object's stream is its SHA-256, whatever the
// sizes of the writes and of the stream (in line, across the hand-off to
// chunks, many chunks in flight), and an abandoned one leaves no goroutine.
func TestPipeHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	data := make([]byte, pipeStart+pipeChunks*pipeChunk*3+12345)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	for _, n := range []int{0, 1, pipeStart - 1, pipeStart, pipeStart + 1, pipeStart + pipeChunk, len(data)} {
		for _, w := range []int{1 << 20, 65176, 4096, 7} {
			if w == 7 && n > pipeStart+pipeChunk {
				continue
			}
			p := newPipeHash()
			for off := 0; off < n; off += w {
				p.Write(data[off:min(off+w, n)])
			}
			want := sha256.Sum256(data[:n])
			if got := p.Sum(); !bytes.Equal(got, want[:]) || !bytes.Equal(p.Sum(), want[:]) {
				t.Fatalf("%d bytes in writes of %d: %x, want %x", n, w, got, want)
			}
		}
	}

	before := runtime.NumGoroutine()
	for range 20 {
		p := newPipeHash()
		p.Write(data) // abandoned without Sum
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left after 20 abandoned hashes (%d before)", n, before)
	}
}
