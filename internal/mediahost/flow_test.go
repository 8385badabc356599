package mediahost

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/pools"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// slowLib is a device library whose media take delay for each block
// written; written counts the bytes they wrote.
type slowLib struct {
	device.Library
	delay   time.Duration
	written *atomic.Int64
}

func (l *slowLib) Unwrap() device.Library { return l.Library }

func (l *slowLib) Create(ctx context.Context, label string, bs int) (device.Medium, device.VolumeRef, error) {
	m, ref, err := l.Library.Create(ctx, label, bs)
	if err != nil {
		return nil, ref, err
	}
	return l.wrap(m), ref, nil
}

func (l *slowLib) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, bs int) (device.Medium, error) {
	m, err := l.Library.Open(ctx, ref, mode, bs)
	if err != nil {
		return nil, err
	}
	return l.wrap(m), nil
}

func (l *slowLib) Erase(ctx context.Context, ref device.VolumeRef, bs int) (device.Medium, error) {
	m, err := l.Library.Erase(ctx, ref, bs)
	if err != nil {
		return nil, err
	}
	return l.wrap(m), nil
}

// wrap keeps the medium's Truncater, so that a failed session is cut.
func (l *slowLib) wrap(m device.Medium) device.Medium {
	s := &slowMedium{Medium: m, l: l}
	if t, ok := m.(device.Truncater); ok {
		return struct {
			*slowMedium
			device.Truncater
		}{s, t}
	}
	return s
}

type slowMedium struct {
	device.Medium
	l *slowLib
}

func (m *slowMedium) WriteBlock(b []byte) error {
	time.Sleep(m.l.delay)
	err := m.Medium.WriteBlock(b)
	if err == nil {
		m.l.written.Add(int64(len(b)))
	}
	return err
}

// slowDevice makes the writes of device name take delay per block until
// the test ends; it returns the counter of bytes written.
func slowDevice(t *testing.T, name string, delay time.Duration) *atomic.Int64 {
	written := &atomic.Int64{}
	undo := devices.SetTestWrap(func(p config.Pool, d config.Device, lib device.Library) device.Library {
		if d.Name != name {
			return lib
		}
		return &slowLib{Library: lib, delay: delay, written: written}
	})
	t.Cleanup(undo)
	return written
}

// Flow control end to end: with a slow drive, the bytes a client's push
// got accepted (Send returned) and the drive has not written stay within
// the buffer's capacity plus the stream's flow-control window, gRPC's
// write quota of a stream (64 KiB), two batches (one in the host's hands,
// one in Send; a batch is its limit plus at most one record) and two
// blocks (the one being written and the one being filled).
func TestPushIsHeldByASlowDevice(t *testing.T) {
	written := slowDevice(t, "tape0", 4*time.Millisecond)
	f := newFleet(t, "2MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 8, "sb")
	const batch = 256 << 10
	const capacity = 2 << 20
	bound := int64(capacity + rpc.StreamWindow + 64<<10 + 2*(batch+records.MaxRecordSize) + 2*64<<10)
	var sent, peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), sent.Load()-written.Load()))
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	o := randomObject(t, 16<<20)
	_, err := f.push(ctx, peerB, peerM1, 8, "bma0.B2", "sb", o, nil, func(n int64) {
		sent.Add(n)
		peak.Store(max(peak.Load(), sent.Load()-written.Load()))
	})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > bound {
		t.Fatalf("the push got %d bytes ahead of the drive, more than the bound of %d", p, bound)
	}
	if p := peak.Load(); p < capacity/2 {
		t.Fatalf("the push got only %d bytes ahead of a slow drive: the buffer never filled, so nothing was held back", p)
	}
	t.Logf("at most %d bytes (bound %d) between the push and the drive", peak.Load(), bound)
	if fin := m1.wait(t, 60*time.Second); fin.GetError() != "" {
		t.Fatalf("m1 finished with %q", fin.GetError())
	}
	m2.wait(t, 10*time.Second)
	if c := copyOf(t, m1.results(t)["bma0"], o); c.GetError() != "" {
		t.Fatalf("copy %v", c)
	}
	noHostGoroutines(t)
}

// Cancel stops a running job: its media agent stops and its session is
// cut from the volume, the push into it is broken off, the host
// downstream fails its copy and ends too, the pools are unlocked and no
// goroutine is left.
func TestCancelStopsTheJob(t *testing.T) {
	written := slowDevice(t, "tape0", 10*time.Millisecond)
	f := newFleet(t, "1MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 9, "sa")
	o := randomObject(t, 16<<20)
	pushed := make(chan error, 1)
	go func() {
		_, err := f.push(ctx, peerA, peerM1, 9, "bma0.B1", "sa", o, nil, nil)
		pushed <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); written.Load() < 4<<16; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drive wrote nothing")
		}
	}
	if err := m1.stream.Send(&pb.MediaControl{Control: &pb.MediaControl_Cancel{Cancel: &pb.Cancel{Reason: "operator said so"}}}); err != nil {
		t.Fatal(err)
	}
	fin := m1.wait(t, 10*time.Second)
	if !strings.Contains(fin.GetError(), "cancelled by the server: operator said so") {
		t.Fatalf("m1 finished with %q", fin.GetError())
	}
	if c := copyOf(t, m1.results(t)["bma0"], o); c.GetError() == "" {
		t.Fatalf("the cancelled copy did not fail: %v", c)
	}
	select {
	case err := <-pushed:
		if status.Code(err) != codes.Aborted {
			t.Fatalf("push: %v, want Aborted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the push was not broken off")
	}
	m2.wait(t, 10*time.Second)
	if c := copyOf(t, m2.results(t)["bma1"], o); c.GetError() == "" {
		t.Fatalf("the mirror's copy of a cancelled stream did not fail: %v", c)
	}
	noHostGoroutines(t)
	// The session was cut from the volume, and the pool is free.
	vs, err := f.cat.Volumes(ctx, "p1")
	if err != nil || len(vs) != 1 {
		t.Fatalf("volumes of p1: %v, %v", vs, err)
	}
	st, err := os.Stat(vs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Blocks != 1 || st.Size() >= written.Load() {
		t.Fatalf("volume %s: %d blocks in the catalog, %d bytes in its file after %d written: the failed session was not cut", vs[0].Label, vs[0].Blocks, st.Size(), written.Load())
	}
	p1, _ := f.cfg.Pool("p1")
	l, err := pools.LockDir(p1)
	if err != nil {
		t.Fatalf("pool p1 still locked: %v", err)
	}
	pools.Unlock(l)
}

// The end of the server's stream (the server gone) stops the job as a
// Cancel does; the pools are free for the next job, and a Cancel before
// Go ends that one at once.
func TestServerGoneStopsTheJob(t *testing.T) {
	written := slowDevice(t, "tape0", 10*time.Millisecond)
	f := newFleet(t, "1MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 10, "sa")
	o := randomObject(t, 16<<20)
	pushed := make(chan error, 1)
	go func() {
		_, err := f.push(ctx, peerA, peerM1, 10, "bma0.B1", "sa", o, nil, nil)
		pushed <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); written.Load() < 4<<16; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drive wrote nothing")
		}
	}
	m1.cancel()
	select {
	case err := <-pushed:
		if err == nil {
			t.Fatal("the push into a job whose server is gone succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the push was not broken off")
	}
	m2.wait(t, 10*time.Second)
	noHostGoroutines(t)

	b, err := f.startBackup(peerM1, f.plan(11, "sa"))
	if err != nil {
		t.Fatalf("the next job: %v", err)
	}
	if err := b.stream.Send(&pb.MediaControl{Control: &pb.MediaControl_Cancel{Cancel: &pb.Cancel{Reason: "no"}}}); err != nil {
		t.Fatal(err)
	}
	ev, err := b.stream.Recv()
	if err != nil || !strings.Contains(ev.GetFinished().GetError(), "stopped before it began") {
		t.Fatalf("a job cancelled before Go: %v, %v", ev, err)
	}
	noHostGoroutines(t)
}

// A pool that another process holds refuses the plan before Ready, naming
// the pool and its holder.
func TestBackupRefusesBusyPool(t *testing.T) {
	f := newFleet(t, "1MiB")
	p1, _ := f.cfg.Pool("p1")
	if err := os.MkdirAll(p1.Directory, 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := pools.LockDir(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer pools.Unlock(l)
	_, err = f.startBackup(peerM1, f.plan(12, "sa"))
	wantCode(t, err, codes.FailedPrecondition, "media host m1", "pool p1", "held by pid")
	noHostGoroutines(t)
}
