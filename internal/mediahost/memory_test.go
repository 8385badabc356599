package mediahost

import (
	"math"
	"runtime/debug"
	"testing"
)

// The buffers of running jobs, plus the headroom, are the process's soft
// memory limit; with no job running there is none.
func TestReserveMemory(t *testing.T) {
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("a limit of %d before any job", got)
	}
	reserveMemory(256 << 20)
	reserveMemory(64 << 20)
	if got := debug.SetMemoryLimit(-1); got != 320<<20+MemoryHeadroom {
		t.Errorf("two jobs: limit %d, want %d", got, 320<<20+MemoryHeadroom)
	}
	reserveMemory(-256 << 20)
	if got := debug.SetMemoryLimit(-1); got != 64<<20+MemoryHeadroom {
		t.Errorf("one job left: limit %d", got)
	}
	reserveMemory(-64 << 20)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("no job: limit %d", got)
	}
}
