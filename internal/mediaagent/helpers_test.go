package mediaagent

import (
	"context"
	"os"

	"daisy/internal/buffers"
	"daisy/internal/records"
)

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }

// feedB is feed for benchmarks: the same bytes every time, no test handle.
func feedB(ctx context.Context, pool *records.Pool, buf *buffers.Buffer, size int) {
	go func() {
		w, err := records.NewStreamWriter(records.NewID(), records.BeginInfo{}, pool, func(r *records.Record) error { return buf.Push(ctx, r) })
		if err != nil {
			buf.Fail(err)
			return
		}
		chunk := make([]byte, 1<<20)
		for left := size; left > 0; left -= len(chunk) {
			w.Write(chunk)
		}
		w.Close()
		buf.Close()
	}()
}
