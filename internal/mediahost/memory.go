package mediahost

import (
	"math"
	"runtime/debug"
	"sync"
)

// MemoryHeadroom is what a media host's process may use beyond the
// buffers of its running jobs before the Go runtime collects garbage
// harder: the runtime, gRPC's fixed flow-control windows and message
// buffers (internal/rpc), block buffers, a few batches being decoded.
//
// Without a limit the runtime lets the heap grow to twice what is live
// (GOGC=100): a host whose buffers are full (its drives slower than its
// sources) and which decodes a batch into records every megabyte held
// about twice its buffers (461 MiB for 256 MiB of buffers in
// scripts/bench-fleet.sh).
const MemoryHeadroom = 96 << 20

var memory struct {
	sync.Mutex
	reserved int64
}

// reserveMemory adds n bytes (negative: gives them back) to the buffers
// of running jobs and sets the process's soft memory limit
// (debug.SetMemoryLimit) to them plus MemoryHeadroom; with no job
// running there is no limit.
func reserveMemory(n int64) {
	memory.Lock()
	defer memory.Unlock()
	memory.reserved += n
	if memory.reserved <= 0 {
		memory.reserved = 0
		debug.SetMemoryLimit(math.MaxInt64)
		return
	}
	debug.SetMemoryLimit(memory.reserved + MemoryHeadroom)
}
