package mediahost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// The test fleet: a fake server over a real catalog, media hosts m1 and
// m2 (each a Host on its own port), clients client-a and client-b. The
// backup group's media agent bma0 (pool p1) is on m1 with buffers B1
// (source sa, of client-a) and B2 (source sb, of client-b); mirror level
// 1's bma1 (pool p2) is on m2 with B1 following bma0.B1: sa's chain
// crosses hosts.
var (
	peerSrv = pki.Peer{Role: pki.RoleServer, Name: "srv"}
	peerM1  = pki.Peer{Role: pki.RoleMediaHost, Name: "m1"}
	peerM2  = pki.Peer{Role: pki.RoleMediaHost, Name: "m2"}
	peerA   = pki.Peer{Role: pki.RoleClient, Name: "client-a"}
	peerB   = pki.Peer{Role: pki.RoleClient, Name: "client-b"}
)

const fleetYAML = `server: {host: srv, address: %[1]s}
clients:
  - {name: client-a, address: 127.0.0.2:7452}
  - {name: client-b, address: 127.0.0.3:7452}
media_hosts:
  - {name: m1, address: %[2]s}
  - {name: m2, address: %[3]s}
catalog: {sqlite: %[4]s/catalog.db}
defaults: {buffer_size: %[5]s, block_size: 64KiB}
sources:
  - {name: sa, client: client-a, paths: [/data/a]}
  - {name: sb, client: client-b, paths: [/data/b]}
pools:
  - {name: p1, type: vtape, directory: %[4]s/p1}
  - {name: p2, type: vtape, directory: %[4]s/p2}
devices:
  - {name: tape0, type: vtape, host: m1}
  - {name: tape1, type: vtape, host: m2}
backup_group:
  - name: bma0
    device: tape0
    pool: p1
    buffers: [{name: B1, source: sa}, {name: B2, source: sb}]
mirror_groups:
  - media_agents:
      - name: bma1
        device: tape1
        pool: p2
        buffers: [{name: B1, follows: bma0.B1}]
`

// fakeServer is the server's volume RPCs over a real catalog.
type fakeServer struct {
	pb.UnimplementedServerServer
	cat    *catalog.Catalog
	hellos atomic.Int64 // from media hosts
}

func (s *fakeServer) Hello(ctx context.Context, _ *pb.HelloRequest) (*pb.HelloReply, error) {
	if p, err := rpc.Require(ctx, pki.RoleMediaHost); err == nil && p.Name != "" {
		s.hellos.Add(1)
	}
	return &pb.HelloReply{Server: "srv", Version: "test"}, nil
}

func (s *fakeServer) PoolVolumes(ctx context.Context, r *pb.PoolRequest) (*pb.VolumeList, error) {
	vs, err := s.cat.Volumes(ctx, r.GetPool())
	if err != nil {
		return nil, err
	}
	l := &pb.VolumeList{}
	for _, v := range vs {
		l.Volumes = append(l.Volumes, rpc.VolumeToPB(v))
	}
	return l, nil
}

func (s *fakeServer) GetVolume(ctx context.Context, r *pb.VolumeRequest) (*pb.Volume, error) {
	v, err := s.cat.Volume(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	return rpc.VolumeToPB(v), nil
}

func (s *fakeServer) CreateVolume(ctx context.Context, v *pb.Volume) (*pb.Empty, error) {
	return &pb.Empty{}, s.cat.CreateVolume(ctx, rpc.VolumeFromPB(v))
}

func (s *fakeServer) UpdateVolume(ctx context.Context, v *pb.Volume) (*pb.Empty, error) {
	return &pb.Empty{}, s.cat.UpdateVolume(ctx, rpc.VolumeFromPB(v))
}

func (s *fakeServer) RelabelVolume(ctx context.Context, r *pb.RelabelRequest) (*pb.Empty, error) {
	return &pb.Empty{}, s.cat.RelabelVolume(ctx, r.GetId(), rpc.VolumeFromPB(r.GetVolume()))
}

func (s *fakeServer) GoodExtentsOnVolume(ctx context.Context, r *pb.VolumeRequest) (*pb.Count, error) {
	n, err := s.cat.GoodExtentsOnVolume(ctx, r.GetId())
	return &pb.Count{N: int64(n)}, err
}

// logBuf collects the hosts' logs.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fleet struct {
	t       *testing.T
	dir     string
	pkiDir  string
	cfgFile string
	cfgData []byte
	cfg     *config.Config
	cat     *catalog.Catalog
	server  *fakeServer
	logs    *logBuf
	hosts   map[string]*Host
	servers map[string]*grpc.Server
	addrs   map[string]string
	connMu  sync.Mutex
	conns   map[string]*grpc.ClientConn // "as>to": a peer dialling a daemon
}

// newFleet starts the fake server and both media hosts; bufferSize is
// the buffers' size.
func newFleet(t *testing.T, bufferSize string) *fleet {
	t.Helper()
	ctx := context.Background()
	f := &fleet{t: t, dir: t.TempDir(), logs: &logBuf{}, hosts: map[string]*Host{}, servers: map[string]*grpc.Server{},
		addrs: map[string]string{}, conns: map[string]*grpc.ClientConn{}}
	f.pkiDir = filepath.Join(f.dir, "pki")
	ca, err := pki.InitCA(f.pkiDir, 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []pki.Peer{peerSrv, peerM1, peerM2, peerA, peerB} {
		if _, err := ca.Issue(pki.Host{Peer: p, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 2, time.Now(), false); err != nil {
			t.Fatal(err)
		}
	}
	ls := map[string]net.Listener{}
	for _, n := range []string{"srv", "m1", "m2"} {
		l, err := rpc.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[n] = l
		f.addrs[n] = l.Addr().String()
	}
	f.cfgFile = filepath.Join(f.dir, "daisy.yaml")
	f.cfgData = []byte(fmt.Sprintf(fleetYAML, f.addrs["srv"], f.addrs["m1"], f.addrs["m2"], f.dir, bufferSize))
	if err := os.WriteFile(f.cfgFile, f.cfgData, 0o644); err != nil {
		t.Fatal(err)
	}
	if f.cfg, err = config.Parse(f.cfgFile, f.cfgData); err != nil {
		t.Fatal(err)
	}
	if f.cat, err = catalog.Open(ctx, filepath.Join(f.dir, "catalog.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cat.Close() })
	for _, p := range f.cfg.Pools {
		if err := f.cat.EnsurePool(ctx, catalog.Pool{Name: p.Name, Type: p.Type, Directory: p.Directory}); err != nil {
			t.Fatal(err)
		}
	}
	srvCreds := f.creds(peerSrv)
	gs := rpc.NewServer(pki.ServerConfig(srvCreds, pki.RoleMediaHost, pki.RoleClient))
	f.server = &fakeServer{cat: f.cat}
	pb.RegisterServerServer(gs, f.server)
	go gs.Serve(ls["srv"])
	t.Cleanup(gs.Stop)
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, p := range []pki.Peer{peerM1, peerM2} {
		c := f.creds(p)
		h := New(p.Name, c, pb.NewServerClient(f.dial(p, peerSrv)), log)
		s := rpc.NewServer(pki.ServerConfig(c, pki.RoleServer, pki.RoleClient, pki.RoleMediaHost))
		pb.RegisterMediaHostServer(s, h)
		go s.Serve(ls[p.Name])
		t.Cleanup(s.Stop)
		f.hosts[p.Name], f.servers[p.Name] = h, s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the hosts:\n%s", f.logs)
		}
	})
	return f
}

func (f *fleet) creds(p pki.Peer) *pki.Credentials {
	c, err := pki.LoadCredentials(f.pkiDir, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// dial returns a connection of peer as to the daemon to (kept for the
// test).
func (f *fleet) dial(as, to pki.Peer) *grpc.ClientConn {
	k := as.String() + ">" + to.String()
	f.connMu.Lock()
	defer f.connMu.Unlock()
	if c := f.conns[k]; c != nil {
		return c
	}
	c, err := rpc.DialPeer(f.creds(as), to, f.addrs[to.Name])
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	f.conns[k] = c
	return c
}

func (f *fleet) mediaHost(as, host pki.Peer) pb.MediaHostClient {
	return pb.NewMediaHostClient(f.dial(as, host))
}

func (f *fleet) plan(job uint64, sources ...string) *pb.BackupPlan {
	return &pb.BackupPlan{Job: job, Config: f.cfgData, ConfigFile: f.cfgFile, Sources: sources, SessionHost: "srv"}
}

// backupRun is one host's Backup stream as the server drives it.
type backupRun struct {
	host   string
	stream pb.MediaHost_BackupClient
	cancel context.CancelFunc
	mu     sync.Mutex
	events []*pb.MediaEvent
	err    error
	done   chan struct{}
}

// startBackup sends plan to host and waits for its Ready.
func (f *fleet) startBackup(host pki.Peer, plan *pb.BackupPlan) (*backupRun, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := f.mediaHost(peerSrv, host).Backup(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := st.Send(&pb.MediaControl{Control: &pb.MediaControl_Plan{Plan: plan}}); err != nil {
		cancel()
		return nil, err
	}
	ev, err := st.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if ev.GetReady() == nil {
		cancel()
		return nil, fmt.Errorf("%s answered %v, not Ready", host, ev)
	}
	b := &backupRun{host: host.Name, stream: st, cancel: cancel, done: make(chan struct{})}
	f.t.Cleanup(cancel)
	return b, nil
}

// goAndCollect sends Go and collects the events until Finished.
func (b *backupRun) goAndCollect(t *testing.T) {
	t.Helper()
	if err := b.stream.Send(&pb.MediaControl{Control: &pb.MediaControl_Go{Go: &pb.Go{}}}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.done)
		for {
			ev, err := b.stream.Recv()
			b.mu.Lock()
			if err != nil {
				b.err = err
				b.mu.Unlock()
				return
			}
			b.events = append(b.events, ev)
			b.mu.Unlock()
			if ev.GetFinished() != nil {
				return
			}
		}
	}()
}

// wait waits for Finished (at most d).
func (b *backupRun) wait(t *testing.T, d time.Duration) *pb.Finished {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		t.Fatalf("media host %s did not finish within %s", b.host, d)
	}
	if b.err != nil {
		t.Fatalf("media host %s: backup stream: %v", b.host, b.err)
	}
	return b.events[len(b.events)-1].GetFinished()
}

// results returns the AgentResults by media agent, checking that every
// copy's extents were reported before its result.
func (b *backupRun) results(t *testing.T) map[string]*pb.AgentResult {
	t.Helper()
	out := map[string]*pb.AgentResult{}
	reported := map[string]int{}
	for _, ev := range b.events {
		if x := ev.GetExtent(); x != nil {
			reported[fmt.Sprintf("%s/%d", x.GetObject(), x.GetCopy())]++
		}
		if r := ev.GetResult(); r != nil {
			for _, c := range r.GetCopies() {
				if len(c.GetExtents()) > 0 && reported[fmt.Sprintf("%s/%d", c.GetObject(), c.GetCopy())] == 0 {
					t.Errorf("%s: copy %d of %s has extents but none was reported before its result", b.host, c.GetCopy(), c.GetObject())
				}
			}
			out[r.GetMediaAgent()] = r
		}
	}
	return out
}

// object is the data of one object pushed.
type object struct {
	id   records.ID
	data []byte
	end  records.EndInfo
}

func randomObject(t *testing.T, size int) *object {
	t.Helper()
	o := &object{id: records.NewID(), data: make([]byte, size)}
	if _, err := rand.Read(o.data); err != nil {
		t.Fatal(err)
	}
	return o
}

// pushHook, if set, may change a batch before it is sent (its index).
type pushHook func(i int, batch []byte) []byte

// push sends the records of o as an agent does, as peer as, into buffer
// of job on host; sent counts the record bytes Send took.
func (f *fleet) push(ctx context.Context, as, host pki.Peer, job uint64, buffer, source string, o *object, hook pushHook, sent func(int64)) (*pb.PushReply, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second) // a push that hangs fails the test
	defer cancel()
	st, err := f.mediaHost(as, host).Push(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&pb.PushMessage{Message: &pb.PushMessage_Open{Open: &pb.PushOpen{Job: job, Buffer: buffer, Source: source}}}); err != nil {
		return nil, closeErr(st, err)
	}
	n := 0
	b := rpc.NewBatcher(256<<10, func(batch *rpc.Batch) error {
		// As the agent sends it, or (with a hook) changed and encoded
		// by protobuf-go.
		var m any = batch
		size := batch.Len()
		if hook != nil {
			p := hook(n, bytes.Clone(batch.Bytes()))
			m, size = &pb.PushMessage{Message: &pb.PushMessage_Batch{Batch: &pb.RecordBatch{Records: p}}}, len(p)
		}
		n++
		err := st.SendMsg(m)
		if err == nil && sent != nil {
			sent(int64(size))
		}
		return err
	})
	var pool records.Pool
	sw, err := records.NewStreamWriter(o.id, records.BeginInfo{Source: source, Level: "full", Time: time.Now(), Job: int64(job), Content: "pax"}, &pool, func(r *records.Record) error {
		defer r.Release()
		return b.Add(r)
	})
	if err != nil {
		return nil, closeErr(st, err)
	}
	if _, err := sw.Write(o.data); err != nil {
		return nil, closeErr(st, err)
	}
	if o.end, err = sw.Close(); err != nil {
		return nil, closeErr(st, err)
	}
	if err := b.Flush(); err != nil {
		return nil, closeErr(st, err)
	}
	return st.CloseAndRecv()
}

// closeErr is the status of a push whose Send failed.
func closeErr(st pb.MediaHost_PushClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := st.CloseAndRecv(); rerr != nil {
			return rerr
		}
	}
	return err
}

// readCopy restores copy cr of o from host through Restore and Read as
// client as, and checks the data and its hash.
func (f *fleet) readCopy(t *testing.T, host, as pki.Peer, o *object, cr *pb.CopyResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := f.mediaHost(peerSrv, host).Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := f.readPlan(t, o, as.Name, cr)
	if err := rs.Send(&pb.ReadControl{Control: &pb.ReadControl_Plan{Plan: plan}}); err != nil {
		t.Fatal(err)
	}
	ev, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	tk := ev.GetTicket().GetTicket()
	if tk == "" {
		t.Fatalf("restore answered %v, not a ticket", ev)
	}
	rd, err := f.mediaHost(as, host).Read(ctx, &pb.ReadRequest{Ticket: tk})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for {
		c, err := rd.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read copy %d of %s: %v", cr.GetCopy(), o.id, err)
		}
		if c.GetLost() != nil {
			t.Fatalf("read copy %d: lost %v", cr.GetCopy(), c.GetLost())
		}
		if len(c.GetData()) > ReadChunkBytes {
			t.Fatalf("a chunk of %d bytes, more than %d", len(c.GetData()), ReadChunkBytes)
		}
		got.Write(c.GetData())
	}
	if !bytes.Equal(got.Bytes(), o.data) {
		t.Fatalf("copy %d of %s read %d bytes that differ from the %d pushed", cr.GetCopy(), o.id, got.Len(), len(o.data))
	}
	sum := sha256.Sum256(got.Bytes())
	if h := records.HashName + hex.EncodeToString(sum[:]); h != o.end.Hash {
		t.Fatalf("hash %s, the end record says %s", h, o.end.Hash)
	}
	ev, err = rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	d := ev.GetDone()
	if d == nil || d.GetError() != "" || d.GetBytes() != int64(len(o.data)) || d.GetVolumeBytes() == 0 {
		t.Fatalf("read done %v", ev)
	}
}

// readPlan is the ReadPlan of one copy, its volumes from the catalog.
func (f *fleet) readPlan(t *testing.T, o *object, client string, cr *pb.CopyResult) *pb.ReadPlan {
	t.Helper()
	rc := &pb.ReadCopy{Number: cr.GetCopy(), Extents: cr.GetExtents()}
	seen := map[string]bool{}
	for _, e := range cr.GetExtents() {
		if seen[e.GetVolume()] {
			continue
		}
		seen[e.GetVolume()] = true
		v, err := f.cat.Volume(context.Background(), e.GetVolume())
		if err != nil {
			t.Fatal(err)
		}
		rc.Volumes = append(rc.Volumes, &pb.ReadVolume{Id: v.ID, Label: v.Label, Pool: v.Pool, Path: v.Path, BlockSize: int32(v.BlockSize), CreatedUnixNano: rpc.Nanos(v.Created)})
	}
	return &pb.ReadPlan{Job: 1, Object: o.id.String(), Source: "sa", Length: uint64(len(o.data)), Client: client,
		Config: f.cfgData, ConfigFile: f.cfgFile, Copies: []*pb.ReadCopy{rc}}
}

// copyOf finds the result of object o in r.
func copyOf(t *testing.T, r *pb.AgentResult, o *object) *pb.CopyResult {
	t.Helper()
	if r == nil {
		t.Fatal("no agent result")
	}
	for _, c := range r.GetCopies() {
		if c.GetObject() == o.id.String() {
			return c
		}
	}
	t.Fatalf("media agent %s has no copy of %s: %v", r.GetMediaAgent(), o.id, r)
	return nil
}

// hostGoroutines lists the goroutines running code of the media host
// (this package's product code, media agents, buffers), the test's own
// left out.
func hostGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "_test.go") {
			continue
		}
		if strings.Contains(g, "daisy/internal/mediahost.") || strings.Contains(g, "daisy/internal/mediaagent.") || strings.Contains(g, "daisy/internal/buffers.") {
			out = append(out, g)
		}
	}
	return out
}

// noHostGoroutines fails when goroutines of the host are still running
// after a few seconds.
func noHostGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := hostGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the media host are left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
