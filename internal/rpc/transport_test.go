package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"daisy/internal/pki"
	"daisy/internal/records"
	pb "daisy/internal/rpc/daisypb"
)

// sink is a media host that takes pushes and drops their records.
type sink struct {
	pb.UnimplementedMediaHostServer
	pool records.Pool
}

func (s *sink) Push(stream pb.MediaHost_PushServer) error {
	in := PushIn{Pool: &s.pool}
	reply := &pb.PushReply{}
	for {
		err := stream.RecvMsg(&in)
		if err == io.EOF {
			return stream.SendAndClose(reply)
		}
		if err != nil {
			return err
		}
		if in.Err != nil {
			return in.Err
		}
		for _, r := range in.Records {
			reply.Records++
			reply.Bytes += int64(r.Len())
			r.Release()
		}
	}
}

// pushPair starts a sink media host on 127.0.0.1 with daisy's transport
// (TLS 1.3 from pki, rpc's settings) and returns a client's connection
// to it. plain gives both ends gRPC's own TLS credentials and buffer
// sizes instead of rpc's (to compare).
func pushPair(tb testing.TB, plain bool) pb.MediaHostClient {
	tb.Helper()
	mc, cc, mh := testCreds(tb)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	stc := pki.ServerConfig(mc, pki.RoleClient)
	var sopts []grpc.ServerOption
	var dopts []grpc.DialOption
	if plain {
		ctc, err := pki.ClientConfig(cc, mh, l.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		sopts = []grpc.ServerOption{grpc.Creds(credentials.NewTLS(stc)), grpc.ReadBufferSize(32 << 10), grpc.WriteBufferSize(32 << 10)}
		dopts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(ctc)), grpc.WithReadBufferSize(32 << 10), grpc.WithWriteBufferSize(32 << 10)}
	}
	s := NewServer(stc, sopts...)
	pb.RegisterMediaHostServer(s, &sink{})
	go s.Serve(l)
	tb.Cleanup(s.Stop)
	conn, err := DialPeer(cc, mh, l.Addr().String(), dopts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return pb.NewMediaHostClient(conn)
}

var (
	testMediaHost = pki.Peer{Role: pki.RoleMediaHost, Name: "m1"}
	testClient    = pki.Peer{Role: pki.RoleClient, Name: "c1"}
)

// testCreds makes a CA and the credentials of a media host m1 and a
// client c1 on 127.0.0.1.
func testCreds(tb testing.TB) (media, client *pki.Credentials, mh pki.Peer) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "pki")
	now := time.Now()
	ca, err := pki.InitCA(dir, 30, now)
	if err != nil {
		tb.Fatal(err)
	}
	load := func(p pki.Peer) *pki.Credentials {
		if _, err := ca.Issue(pki.Host{Peer: p, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 1, now, false); err != nil {
			tb.Fatal(err)
		}
		c, err := pki.LoadCredentials(dir, p)
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	return load(testMediaHost), load(testClient), testMediaHost
}

// countingConn counts the writes to a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// The TLS records of one Write leave in one write to the connection
// (seven records of 16 KiB here); the handshake goes through, and what is
// read is what was written.
func TestCoalescingGathersTheRecordsOfAWrite(t *testing.T) {
	mc, cc, mh := testCreds(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw := &countingConn{Conn: a}
	ctc, err := pki.ClientConfig(cc, mh, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	type side struct {
		conn net.Conn
		err  error
	}
	srv := make(chan side, 1)
	go func() {
		conn, _, err := coalescing{credentials.NewTLS(pki.ServerConfig(mc, pki.RoleClient))}.ServerHandshake(b)
		srv <- side{conn, err}
	}()
	conn, info, err := coalescing{credentials.NewTLS(ctc)}.ClientHandshake(context.Background(), "127.0.0.1:1", raw)
	if err != nil {
		t.Fatal(err)
	}
	s := <-srv
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer conn.Close()
	defer s.conn.Close()
	if ti, ok := info.(credentials.TLSInfo); !ok || ti.State.Version != tls.VersionTLS13 {
		t.Fatalf("auth info %T %+v", info, info)
	}
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(i * 31)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(data))
		_, err := io.ReadFull(s.conn, buf)
		if err != nil {
			t.Error(err)
		}
		got <- buf
	}()
	before := raw.writes.Load()
	if n, err := conn.Write(data); err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	if w := raw.writes.Load() - before; w != 1 {
		t.Errorf("a write of %d bytes took %d writes of the connection, want 1", len(data), w)
	}
	if !bytes.Equal(<-got, data) {
		t.Error("the bytes read are not the bytes written")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A push over daisy's transport arrives whole: every record, every byte.
func TestPushOverTLS(t *testing.T) {
	c := pushPair(t, false)
	rs, _ := testRecords(t, 300)
	st, err := c.Push(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var bytes int64
	b := NewBatcher(100_000, func(p *Batch) error { return st.SendMsg(p) })
	for _, r := range rs {
		bytes += int64(r.Len())
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	reply, err := st.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if reply.GetRecords() != int64(len(rs)) || reply.GetBytes() != bytes {
		t.Fatalf("%d records of %d bytes arrived, sent %d of %d", reply.GetRecords(), reply.GetBytes(), len(rs), bytes)
	}
}

// BenchmarkPushOverTLS pushes full-size records in BatchBytes batches
// over loopback TLS into a sink, both ends in this process; cpu-ns/op is
// the process's CPU time (user and system, both ends) per batch. "daisy"
// is rpc's transport, "grpc-defaults" gRPC's TLS credentials and buffer
// sizes.
func BenchmarkPushOverTLS(b *testing.B) {
	b.Run("daisy", func(b *testing.B) { benchPush(b, false) })
	b.Run("grpc-defaults", func(b *testing.B) { benchPush(b, true) })
}

func benchPush(b *testing.B, plain bool) {
	c := pushPair(b, plain)
	pool := &records.Pool{}
	id := records.NewID()
	var rs []*records.Record
	for i := 0; len(rs)*records.MaxRecordSize < 2*BatchBytes; i++ {
		r := pool.New(records.MaxPayload)
		p := r.Payload()
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		r.Seal(records.TypeData, id, uint64(i)*records.MaxPayload, uint32(i+1))
		rs = append(rs, r)
	}
	st, err := c.Push(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	batcher := NewBatcher(0, func(p *Batch) error { return st.SendMsg(p) })
	perBatch := BatchBytes/records.MaxRecordSize + 1
	b.SetBytes(int64(perBatch * records.MaxRecordSize))
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		for range perBatch {
			if err := batcher.Add(rs[i%len(rs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	if err := batcher.Flush(); err != nil {
		b.Fatal(err)
	}
	if _, err := st.CloseAndRecv(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
