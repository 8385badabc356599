package s3

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"daisy/internal/device"
	"daisy/internal/device/devicetest"
	"daisy/internal/device/s3/s3test"
	"daisy/internal/volume"
)

// The device conformance suite on a real S3 server: every library is a
// prefix of its own in one bucket, with parts of two blocks, so that the
// suite's volumes span parts.
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	var n atomic.Int64
	lib := func(t *testing.T, capacity int64) device.Library {
		l, err := New(Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: "us-east-1",
			Prefix:   fmt.Sprintf("conformance/%d", n.Add(1)),
			PartSize: 2 * volume.MinBlockSize, Capacity: capacity, RetryWait: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	devicetest.Run(t, devicetest.Config{
		New:   func(t *testing.T) device.Library { return lib(t, 1<<30) },
		Small: func(t *testing.T, blocks int) device.Library { return lib(t, int64(blocks)*volume.MinBlockSize) },
	})
}
