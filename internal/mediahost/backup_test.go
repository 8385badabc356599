package mediahost

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "daisy/internal/rpc/daisypb"
)

// startBoth plans job on m1 and m2 and sends both Go, as the server does
// once every host is Ready.
func startBoth(t *testing.T, f *fleet, job uint64, sources ...string) (m1, m2 *backupRun) {
	t.Helper()
	var err error
	if m1, err = f.startBackup(peerM1, f.plan(job, sources...)); err != nil {
		t.Fatal(err)
	}
	if m2, err = f.startBackup(peerM2, f.plan(job, sources...)); err != nil {
		t.Fatal(err)
	}
	m1.goAndCollect(t)
	m2.goAndCollect(t)
	return m1, m2
}

// A chain across hosts: an object pushed into bma0.B1 on m1 is written
// there (copy 1) and forwarded to bma1.B1 on m2 (copy 2); both copies
// restore byte for byte through Restore and Read.
func TestBackupAcrossHosts(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 1, "sa")
	o := randomObject(t, 5<<20+12345)
	reply, err := f.push(ctx, peerA, peerM1, 1, "bma0.B1", "sa", o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply.GetRecords() < 80 || reply.GetBytes() < int64(len(o.data)) {
		t.Fatalf("push reply %v for %d bytes", reply, len(o.data))
	}
	for _, b := range []*backupRun{m1, m2} {
		if fin := b.wait(t, 30*time.Second); fin.GetError() != "" {
			t.Fatalf("%s finished with %q", b.host, fin.GetError())
		}
	}
	r1, r2 := m1.results(t), m2.results(t)
	c1, c2 := copyOf(t, r1["bma0"], o), copyOf(t, r2["bma1"], o)
	for _, c := range []*pb.CopyResult{c1, c2} {
		if c.GetError() != "" || len(c.GetExtents()) == 0 || c.GetBytes() < int64(len(o.data)) {
			t.Fatalf("copy %v", c)
		}
	}
	if c1.GetCopy() != 1 || c2.GetCopy() != 2 {
		t.Fatalf("copies numbered %d and %d", c1.GetCopy(), c2.GetCopy())
	}
	if len(r1["bma0"].GetVolumes()) == 0 || len(r2["bma1"].GetVolumes()) == 0 {
		t.Fatalf("volumes written: %v, %v", r1["bma0"].GetVolumes(), r2["bma1"].GetVolumes())
	}
	for _, pool := range []string{"p1", "p2"} {
		vs, err := f.cat.Volumes(ctx, pool)
		if err != nil || len(vs) == 0 {
			t.Fatalf("pool %s: volumes %v, %v", pool, vs, err)
		}
		for _, v := range vs {
			if _, err := os.Stat(v.Path); err != nil || v.Blocks < 2 {
				t.Fatalf("volume %s: %d blocks, %v", v.Label, v.Blocks, err)
			}
		}
	}
	progress := false
	for _, ev := range m1.events {
		if p := ev.GetProgress(); p != nil && len(p.GetDevices()) == 1 && len(p.GetBuffers()) == 2 && p.GetDevices()[0].GetBytes() > 0 {
			progress = true
		}
	}
	if !progress {
		t.Fatal("m1 reported no progress of its device and buffers")
	}
	f.readCopy(t, peerM1, peerA, o, c1)
	f.readCopy(t, peerM2, peerA, o, c2)
	noHostGoroutines(t)
}

// wantCode fails unless err is a status of code whose message holds
// every one of want.
func wantCode(t *testing.T, err error, code codes.Code, want ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}

// Client A may not push into the buffer of client B's source, neither
// naming B's source nor its own.
func TestPushRefusesAnotherClientsSource(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 2, "sa", "sb")
	o := randomObject(t, 1000)
	_, err := f.push(ctx, peerA, peerM1, 2, "bma0.B2", "sb", o, nil, nil)
	wantCode(t, err, codes.PermissionDenied, "client/client-a", "client client-b")
	_, err = f.push(ctx, peerA, peerM1, 2, "bma0.B2", "sa", o, nil, nil)
	wantCode(t, err, codes.PermissionDenied, "holds source sb")
	// A media host may not feed a backup-group buffer either.
	_, err = f.push(ctx, peerM2, peerM1, 2, "bma0.B1", "", o, nil, nil)
	wantCode(t, err, codes.PermissionDenied, "media-host/m2", "backup-group buffer")
	// Nor a client the mirror's buffer.
	_, err = f.push(ctx, peerA, peerM2, 2, "bma1.B1", "sa", o, nil, nil)
	wantCode(t, err, codes.PermissionDenied, "fed by media host m1")
	// The rightful pushes go through.
	if _, err := f.push(ctx, peerA, peerM1, 2, "bma0.B1", "sa", o, nil, nil); err != nil {
		t.Fatal(err)
	}
	ob := randomObject(t, 1000)
	if _, err := f.push(ctx, peerB, peerM1, 2, "bma0.B2", "sb", ob, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*backupRun{m1, m2} {
		if fin := b.wait(t, 30*time.Second); fin.GetError() != "" {
			t.Fatalf("%s finished with %q", b.host, fin.GetError())
		}
	}
	noHostGoroutines(t)
}

// A push to a job or a buffer that does not exist is NotFound; a second
// push into a buffer is refused.
func TestPushRefusesUnknownAndSecond(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	o := randomObject(t, 1000)
	_, err := f.push(ctx, peerA, peerM1, 3, "bma0.B1", "sa", o, nil, nil)
	wantCode(t, err, codes.NotFound, "no backup job 3")
	m1, m2 := startBoth(t, f, 3, "sa")
	_, err = f.push(ctx, peerA, peerM1, 3, "bma0.B9", "sa", o, nil, nil)
	wantCode(t, err, codes.NotFound, `no buffer "bma0.B9"`)
	// sb is not in the job: its buffer takes no push.
	_, err = f.push(ctx, peerB, peerM1, 3, "bma0.B2", "sb", o, nil, nil)
	wantCode(t, err, codes.NotFound, `no buffer "bma0.B2"`)
	if _, err := f.push(ctx, peerA, peerM1, 3, "bma0.B1", "sa", o, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.push(ctx, peerA, peerM1, 3, "bma0.B1", "sa", o, nil, nil)
	if status.Code(err) != codes.AlreadyExists && status.Code(err) != codes.NotFound {
		t.Fatalf("second push: %v", err)
	}
	for _, b := range []*backupRun{m1, m2} {
		b.wait(t, 30*time.Second)
	}
	noHostGoroutines(t)
}

// A second push into a buffer while the first one runs is refused with
// AlreadyExists.
func TestPushRefusesSecondWhileRunning(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m1, m2 := startBoth(t, f, 4, "sa")
	st, err := f.mediaHost(peerA, peerM1).Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.PushMessage{Message: &pb.PushMessage_Open{Open: &pb.PushOpen{Job: 4, Buffer: "bma0.B1", Source: "sa"}}}); err != nil {
		t.Fatal(err)
	}
	// Wait until the host has read the first push's open and claimed the
	// buffer for it.
	h := f.hosts["m1"]
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		claimed := h.jobs[4] != nil && h.jobs[4].inputs["bma0.B1"].claimed
		h.mu.Unlock()
		if claimed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first push never claimed its buffer")
		}
	}
	o := randomObject(t, 1000)
	_, err = f.push(ctx, peerA, peerM1, 4, "bma0.B1", "sa", o, nil, nil)
	wantCode(t, err, codes.AlreadyExists, "bma0.B1", "has its push already")
	// The first push's sender gives up: the copies of sa fail, the job ends.
	if err := st.Send(&pb.PushMessage{Message: &pb.PushMessage_Fail{Fail: &pb.PushFail{Reason: "agent gave up"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	m1.wait(t, 30*time.Second)
	m2.wait(t, 30*time.Second)
	noHostGoroutines(t)
}

// Only the server may run a backup on a media host.
func TestBackupRefusesMediaHost(t *testing.T) {
	f := newFleet(t, "4MiB")
	st, err := f.mediaHost(peerM2, peerM1).Backup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Send(&pb.MediaControl{Control: &pb.MediaControl_Plan{Plan: f.plan(5, "sa")}})
	_, err = st.Recv()
	wantCode(t, err, codes.PermissionDenied, "media-host/m2", "only a server")
	_, err = f.mediaHost(peerA, peerM1).Read(context.Background(), &pb.ReadRequest{Ticket: "x"})
	if err == nil {
		var rd pb.MediaHost_ReadClient
		rd, _ = f.mediaHost(peerA, peerM1).Read(context.Background(), &pb.ReadRequest{Ticket: "x"})
		_, err = rd.Recv()
	}
	wantCode(t, err, codes.NotFound, "no read ticket")
}

// A corrupt record in a pushed batch fails that buffer and its copy (the
// error names the corruption); the copies of the other buffer, on both
// hosts, still succeed.
func TestPushCorruptRecordFailsOnlyItsBuffer(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 6, "sa", "sb")
	oa, ob := randomObject(t, 3<<20), randomObject(t, 3<<20)
	errs := make(chan error, 1)
	go func() {
		_, err := f.push(ctx, peerA, peerM1, 6, "bma0.B1", "sa", oa, nil, nil)
		errs <- err
	}()
	_, err := f.push(ctx, peerB, peerM1, 6, "bma0.B2", "sb", ob, func(i int, b []byte) []byte {
		if i == 3 {
			b[len(b)/2] ^= 0x40 // a payload byte of a record in the middle
		}
		return b
	}, nil)
	wantCode(t, err, codes.DataLoss, "push from client/client-b into buffer bma0.B2", "corrupt record")
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	fin := m1.wait(t, 30*time.Second)
	if fin.GetError() != "" {
		t.Fatalf("m1 finished with %q: a corrupt push fails copies, not the media agent", fin.GetError())
	}
	if fin := m2.wait(t, 30*time.Second); fin.GetError() != "" {
		t.Fatalf("m2 finished with %q", fin.GetError())
	}
	r1, r2 := m1.results(t), m2.results(t)
	if c := copyOf(t, r1["bma0"], ob); !strings.Contains(c.GetError(), "corrupt record") || !strings.Contains(c.GetError(), "bma0.B2") {
		t.Fatalf("copy of sb: %v", c)
	}
	for _, c := range []*pb.CopyResult{copyOf(t, r1["bma0"], oa), copyOf(t, r2["bma1"], oa)} {
		if c.GetError() != "" || len(c.GetExtents()) == 0 {
			t.Fatalf("copy of sa: %v", c)
		}
	}
	f.readCopy(t, peerM2, peerA, oa, copyOf(t, r2["bma1"], oa))
	noHostGoroutines(t)
}

// The downstream host vanishing mid-job (its server stopped) leaves the
// upstream host's copies to complete; the forwarder's failure is logged
// and nothing hangs.
func TestDownstreamHostVanishes(t *testing.T) {
	f := newFleet(t, "1MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 7, "sa")
	o := randomObject(t, 8<<20)
	start := time.Now()
	_, err := f.push(ctx, peerA, peerM1, 7, "bma0.B1", "sa", o, func(i int, b []byte) []byte {
		if i == 6 {
			f.servers["m2"].Stop()
		}
		return b
	}, nil)
	if err != nil {
		t.Fatalf("the push into m1 failed with m2: %v", err)
	}
	if fin := m1.wait(t, 20*time.Second); fin.GetError() != "" {
		t.Fatalf("m1 finished with %q", fin.GetError())
	}
	c := copyOf(t, m1.results(t)["bma0"], o)
	if c.GetError() != "" || len(c.GetExtents()) == 0 {
		t.Fatalf("m1's copy: %v", c)
	}
	select {
	case <-m2.done:
	case <-time.After(10 * time.Second):
		t.Fatal("m2's backup stream did not end")
	}
	if m2.err == nil {
		t.Fatal("m2's backup stream ended well though its server stopped")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the job took %s", d)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "downstream media host failed") || !strings.Contains(logs, "downstream_host=m2") {
		t.Fatalf("m1 did not log m2 as failed:\n%s", logs)
	}
	f.readCopy(t, peerM1, peerA, o, c)
	noHostGoroutines(t)
}

// FailBuffer fails a buffer whose agent will never push (it failed
// before): the job ends without it, the other source's copies are good.
func TestFailBufferEndsAJobWithoutItsPush(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 14, "sa", "sb")
	if err := m1.stream.Send(&pb.MediaControl{Control: &pb.MediaControl_FailBuffer{FailBuffer: &pb.FailBuffer{Buffer: "bma0.B2", Reason: "the agent of sb is gone"}}}); err != nil {
		t.Fatal(err)
	}
	o := randomObject(t, 1<<20)
	if _, err := f.push(ctx, peerA, peerM1, 14, "bma0.B1", "sa", o, nil, nil); err != nil {
		t.Fatal(err)
	}
	if fin := m1.wait(t, 30*time.Second); fin.GetError() != "" {
		t.Fatalf("m1 finished with %q", fin.GetError())
	}
	m2.wait(t, 30*time.Second)
	r := m1.results(t)["bma0"]
	if c := copyOf(t, r, o); c.GetError() != "" || len(r.GetCopies()) != 1 {
		t.Fatalf("copies of bma0: %v", r.GetCopies())
	}
	// A push that comes anyway is refused.
	_, err := f.push(ctx, peerB, peerM1, 14, "bma0.B2", "sb", randomObject(t, 1000), nil, nil)
	if err == nil {
		t.Fatal("a push into a failed buffer was taken")
	}
	if !strings.Contains(f.logs.String(), "buffer failed by the server") {
		t.Fatal("the failed buffer was not logged")
	}
	noHostGoroutines(t)
}
