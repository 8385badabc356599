package testtree

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// PeakHeap runs fn and returns how far the heap's objects grew above
// what they were before, at most: sampled every millisecond while the
// garbage collector runs at GOGC=10, so that the figure is close to what
// fn kept live (garbage adds at most a tenth). Tests compare it for N and
// 4N entries to show that memory does not grow with N.
func PeakHeap(fn func()) uint64 {
	old := debug.SetGCPercent(10)
	defer debug.SetGCPercent(old)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	peak := base
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v := read()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	fn()
	v := read()
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	return max(peak, v) - base
}
