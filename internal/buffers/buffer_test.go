package buffers

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"daisy/internal/records"
)

func rec(p *records.Pool, seq uint32, n int) *records.Record {
	r := p.New(n)
	r.Seal(records.TypeData, records.ID{1}, uint64(seq)*uint64(n), seq)
	return r
}

func TestChainSharesRecordsByReference(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	a, b := New("A", 1<<20), New("B", 1<<20)
	ca := a.Attach("bma-a", nil)
	fwd := a.Attach("chain", nil)
	cb := b.Attach("bma-b", nil)
	done := make(chan struct{})
	go func() { Forward(ctx, fwd, b); close(done) }()

	const n = 50
	go func() {
		for i := range n {
			if err := a.Push(ctx, rec(&pool, uint32(i), 1000)); err != nil {
				t.Error(err)
				return
			}
		}
		a.Close()
	}()
	var fromA []*records.Record
	for {
		r, ok := ca.Next(ctx)
		if !ok {
			break
		}
		fromA = append(fromA, r)
		// Hold A's records unacknowledged until B has seen them, so the
		// pointers can be compared while both are alive.
	}
	for i := range n {
		r, ok := cb.Next(ctx)
		if !ok {
			t.Fatalf("B ended after %d records", i)
		}
		if r != fromA[i] {
			t.Fatalf("record %d: B holds %p, A held %p: the chain copied instead of sharing", i, r, fromA[i])
		}
		if r.Seq() != uint32(i) {
			t.Fatalf("record %d out of order: seq %d", i, r.Seq())
		}
	}
	cb.Ack()
	ca.Ack()
	if _, ok := cb.Next(ctx); ok {
		t.Fatal("B has a record after the end")
	}
	<-done
	if err := cb.Err(); err != nil {
		t.Fatalf("clean close reached B as %v", err)
	}
	if s := a.Stats(); s.Used != 0 {
		t.Fatalf("A still counts %d bytes after every consumer acknowledged", s.Used)
	}
}

func TestBackpressureBoundsMemory(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	const capacity = 10 * 1040
	b := New("B", capacity)
	c := b.Attach("slow", nil)
	pushed := make(chan int, 100)
	go func() {
		for i := range 40 {
			if err := b.Push(ctx, rec(&pool, uint32(i), 1000)); err != nil {
				t.Error(err)
			}
			pushed <- i
		}
		b.Close()
	}()
	time.Sleep(50 * time.Millisecond)
	if got := len(pushed); got > 10 {
		t.Fatalf("producer pushed %d records of 1040 bytes into a %d-byte buffer with no consumer progress", got, capacity)
	}
	for {
		r, ok := c.Next(ctx)
		if !ok {
			break
		}
		_ = r
		if s := b.Stats(); s.Used > capacity {
			t.Fatalf("buffer holds %d bytes, capacity %d", s.Used, capacity)
		}
		c.Ack()
	}
	if s := b.Stats(); s.Peak > capacity || s.Records != 40 {
		t.Fatalf("peak %d (capacity %d), records %d (want 40)", s.Peak, capacity, s.Records)
	}
}

func TestDetachedConsumerDoesNotStallChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pool records.Pool
	a, b := New("A", 4096), New("B", 4096)
	failing := a.Attach("failed-device", nil)
	fwd := a.Attach("chain", nil)
	cb := b.Attach("mirror", nil)
	go Forward(ctx, fwd, b)
	failing.Detach() // the primary device failed before reading anything
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			if err := a.Push(ctx, rec(&pool, uint32(i), 1000)); err != nil {
				t.Errorf("push %d: %v", i, err)
				return
			}
		}
		a.Close()
	})
	got := 0
	for {
		_, ok := cb.Next(ctx)
		if !ok {
			break
		}
		got++
		cb.Ack()
	}
	wg.Wait()
	if got != 100 || ctx.Err() != nil {
		t.Fatalf("mirror got %d of 100 records (ctx %v)", got, ctx.Err())
	}
}

func TestFailPropagatesDownTheChain(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	a, b := New("A", 1<<20), New("B", 1<<20)
	fwd := a.Attach("chain", nil)
	cb := b.Attach("mirror", nil)
	go Forward(ctx, fwd, b)
	if err := a.Push(ctx, rec(&pool, 0, 10)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("client disconnected")
	a.Fail(boom)
	if _, ok := cb.Next(ctx); !ok {
		t.Fatal("record before the failure was lost")
	}
	cb.Ack()
	if _, ok := cb.Next(ctx); ok {
		t.Fatal("stream went on after the failure")
	}
	if err := cb.Err(); !errors.Is(err, boom) {
		t.Fatalf("B ended with %v, want %v", err, boom)
	}
}

func TestPushWithoutConsumers(t *testing.T) {
	var pool records.Pool
	b := New("B", 1<<20)
	c := b.Attach("only", nil)
	c.Detach()
	if err := b.Push(context.Background(), rec(&pool, 0, 10)); !errors.Is(err, ErrNoConsumers) {
		t.Fatalf("push to a buffer whose consumers all detached: %v, want ErrNoConsumers", err)
	}
}

func TestPushBlockedUntilContextDone(t *testing.T) {
	var pool records.Pool
	b := New("B", 100)
	b.Attach("stuck", nil)
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Push(ctx, rec(&pool, 0, 90)); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := b.Push(ctx, rec(&pool, 1, 90)); !errors.Is(err, context.Canceled) {
		t.Fatalf("push into a full buffer returned %v after cancel, want context.Canceled", err)
	}
}

func BenchmarkChain3(b *testing.B) {
	ctx := context.Background()
	var pool records.Pool
	bufs := []*Buffer{New("1", 64<<20), New("2", 64<<20), New("3", 64<<20)}
	var consumers []*Cursor
	for i, buf := range bufs {
		consumers = append(consumers, buf.Attach("bma", nil))
		if i+1 < len(bufs) {
			go Forward(ctx, buf.Attach("chain", nil), bufs[i+1])
		}
	}
	var wg sync.WaitGroup
	for _, c := range consumers {
		wg.Go(func() {
			for {
				if _, ok := c.Next(ctx); !ok {
					return
				}
				c.Ack()
			}
		})
	}
	b.SetBytes(records.MaxRecordSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := pool.New(records.MaxPayload)
		r.Seal(records.TypeData, records.ID{1}, uint64(i), uint32(i))
		if err := bufs[0].Push(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	bufs[0].Close()
	wg.Wait()
}

// Issue 8, item 9: a buffer full of compressed records holds about its
// capacity in memory. Each record counted by its encoded length (about
// 1 KiB here) while it took a full record's 64 KiB let a 1 MiB buffer
// hold 64 MiB.
func TestBufferOfCompressedRecordsHoldsItsCapacity(t *testing.T) {
	ctx := context.Background()
	const capacity = 1 << 20
	b := New("B", capacity)
	c := b.Attach("bma", nil) // never reads: the buffer fills
	var pool records.Pool
	var text []byte // log lines: zstd shrinks a record's chunk about 60-fold
	for line := 0; len(text) < 8<<20; line++ {
		text = fmt.Appendf(text, "2026-12-01T%02d:%02d:%02dZ host1 app: GET /api/v1/items request served\n", line/3600%24, line/60%60, line%60)
	}
	// The encoder's own state is allocated once, before measuring.
	warm, _ := records.NewStreamWriter(records.NewID(), records.BeginInfo{Compression: records.CompressionZstd}, &pool,
		func(r *records.Record) error { r.Release(); return nil })
	if _, err := warm.Write(text[:1<<20]); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, now runtime.MemStats
	runtime.ReadMemStats(&before)
	errFull := errors.New("full")
	bound := uint64(capacity) * 3 / 2
	var grew uint64
	n := 0
	w, err := records.NewStreamWriter(records.NewID(), records.BeginInfo{Compression: records.CompressionZstd}, &pool,
		func(r *records.Record) error {
			if r.Type() == records.TypeDataZstd {
				n++
			}
			if b.Stats().Used+records.MaxRecordSize+64 > capacity {
				r.Release()
				return errFull // one more might not fit: Push would block
			}
			if n%256 == 0 {
				// Live heap only: garbage of the encoder (more of it under
				// the race detector) is not what the buffer holds.
				runtime.GC()
				runtime.ReadMemStats(&now)
				if grew = now.HeapAlloc - min(now.HeapAlloc, before.HeapAlloc); grew > bound {
					r.Release()
					return fmt.Errorf("heap grew by %d MiB after %d records", grew>>20, n)
				}
			}
			return b.Push(ctx, r)
		})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; err == nil; off = (off + 1<<20) % (len(text) - 1<<20) {
		_, err = w.Write(text[off : off+1<<20])
	}
	if !errors.Is(err, errFull) {
		t.Fatalf("buffer of %d MiB: %v; bound %d MiB", capacity>>20, err, bound>>20)
	}
	runtime.GC()
	runtime.ReadMemStats(&now)
	grew = now.HeapAlloc - min(now.HeapAlloc, before.HeapAlloc)
	t.Logf("%d compressed records, %d bytes counted, heap grew by %d KiB", n, b.Stats().Used, grew>>10)
	if grew > bound {
		t.Fatalf("a full buffer of %d MiB took %d MiB of heap (bound %d MiB)", capacity>>20, grew>>20, bound>>20)
	}
	if n < 500 {
		t.Fatalf("only %d compressed records filled the buffer: the test's data did not compress", n)
	}
	c.Detach()
}
