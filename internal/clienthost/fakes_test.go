package clienthost

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/agent"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// Test fleet: a CA with a server, two clients and a media host, all on
// 127.0.0.1; fakes of the server's and the media host's services; the
// agent of client-a under test.

var (
	srvPeer = pki.Peer{Role: pki.RoleServer, Name: "backup1"}
	cliA    = pki.Peer{Role: pki.RoleClient, Name: "client-a"}
	cliB    = pki.Peer{Role: pki.RoleClient, Name: "client-b"}
	mhPeer  = pki.Peer{Role: pki.RoleMediaHost, Name: "mh1"}
)

type fleet struct {
	dir              string
	server, a, b, mh *pki.Credentials
	media            *fakeMedia
	mediaAddr        string
	mediaSrv         *grpc.Server
	srv              *fakeServer
	srvAddr          string
	agent            *Agent
	agentAddr        string
	agentSrv         *grpc.Server
	asServer         pb.AgentClient // the agent, called with the server's certificate
}

func newCreds(t *testing.T) (string, map[pki.Peer]*pki.Credentials) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.InitCA(dir, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	out := map[pki.Peer]*pki.Credentials{}
	for _, p := range []pki.Peer{srvPeer, cliA, cliB, mhPeer} {
		if _, err := ca.Issue(pki.Host{Peer: p, Address: "127.0.0.1:7450", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 2, now, false); err != nil {
			t.Fatal(err)
		}
		c, err := pki.LoadCredentials(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = c
	}
	return dir, out
}

// serve serves on 127.0.0.1 with tc what register registers; the server
// is stopped when the test ends.
func serve(t *testing.T, tc *tls.Config, register func(*grpc.Server)) (string, *grpc.Server) {
	t.Helper()
	l, err := rpc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := rpc.NewServer(tc)
	register(gs)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	return l.Addr().String(), gs
}

func dial(t *testing.T, c *pki.Credentials, want pki.Peer, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := rpc.DialPeer(c, want, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// newFleet starts the fake media host and server and the agent of
// client-a (which accepts only the server).
func newFleet(t *testing.T) *fleet {
	t.Helper()
	dir, cs := newCreds(t)
	f := &fleet{dir: dir, server: cs[srvPeer], a: cs[cliA], b: cs[cliB], mh: cs[mhPeer]}
	f.media = newFakeMedia()
	f.mediaAddr, f.mediaSrv = serve(t, pki.ServerConfig(f.mh, pki.RoleClient, pki.RoleMediaHost), func(s *grpc.Server) { pb.RegisterMediaHostServer(s, f.media) })
	f.srv = newFakeServer()
	f.srvAddr, _ = serve(t, pki.ServerConfig(f.server, pki.RoleClient, pki.RoleMediaHost), func(s *grpc.Server) { pb.RegisterServerServer(s, f.srv) })
	ag, err := New(Config{Name: cliA.Name, Credentials: f.a, Server: pb.NewServerClient(dial(t, f.a, srvPeer, f.srvAddr))})
	if err != nil {
		t.Fatal(err)
	}
	f.agent = ag
	f.agentAddr, f.agentSrv = serve(t, pki.ServerConfig(f.a, pki.RoleServer), func(s *grpc.Server) { pb.RegisterAgentServer(s, ag) })
	f.asServer = pb.NewAgentClient(dial(t, f.server, cliA, f.agentAddr))
	return f
}

func (f *fleet) target() *pb.Target {
	return &pb.Target{Host: mhPeer.Name, Address: f.mediaAddr, Buffer: "ba1.b1"}
}

// ------------------------------------------------------------ media host

// pushed is what the fake media host received on one Push.
type pushed struct {
	open   *pb.PushOpen
	data   bytes.Buffer // the object stream, assembled
	asm    *records.Assembler
	end    records.EndInfo
	fail   string // the PushFail's reason
	err    error  // how the push ended: nil when the object assembled whole
	broken bool   // the stream broke (no normal end, no PushFail)
}

type fakeMedia struct {
	pb.UnimplementedMediaHostServer
	pool   records.Pool
	pushes chan *pushed
	// firstBatch is closed when a push's first batch arrived; then the
	// push waits for hold (if set) before it reads on.
	firstBatch chan struct{}
	once       sync.Once
	hold       chan struct{}

	// readStall, if set, is closed when a Read sent its first chunk; the
	// Read then sends nothing more until its call ends.
	readStall chan struct{}

	mu    sync.Mutex
	reads map[string][]*pb.ReadChunk // by ticket
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{pushes: make(chan *pushed, 8), firstBatch: make(chan struct{}), reads: map[string][]*pb.ReadChunk{}}
}

func (m *fakeMedia) Push(st pb.MediaHost_PushServer) error {
	if _, err := rpc.Require(st.Context(), pki.RoleClient); err != nil {
		return err
	}
	p := &pushed{}
	defer func() { m.pushes <- p }()
	first, err := st.Recv()
	if err != nil {
		p.err, p.broken = err, true
		return err
	}
	p.open = first.GetOpen()
	if p.open == nil {
		p.err = errors.New("the push does not start with PushOpen")
		return p.err
	}
	var n, size int64
	for {
		msg, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.err, p.broken = err, true
			return err
		}
		if f := msg.GetFail(); f != nil {
			p.fail = f.GetReason()
			p.err = errors.New("failed: " + p.fail)
			return p.err
		}
		b := msg.GetBatch()
		if b == nil {
			p.err = errors.New("a push message that is neither batch nor fail")
			return p.err
		}
		err = rpc.Unbatch(&m.pool, b.GetRecords(), func(r *records.Record) error {
			defer r.Release()
			if p.asm == nil {
				p.asm = records.NewAssembler(r.Object(), &p.data)
			}
			n++
			size += int64(r.Len())
			return p.asm.Add(r.Header(), r.Payload())
		})
		if err != nil && p.err == nil {
			p.err = err // aborted objects end here; the push goes on to its PushFail
		}
		m.once.Do(func() {
			close(m.firstBatch)
			if m.hold != nil {
				select {
				case <-m.hold:
				case <-st.Context().Done():
				}
			}
		})
	}
	if p.err != nil {
		return p.err
	}
	if p.asm == nil || !p.asm.Done() {
		p.err = errors.New("the push ended before the object's End record")
		return p.err
	}
	p.end = p.asm.End()
	return st.SendAndClose(&pb.PushReply{Records: n, Bytes: size})
}

func (m *fakeMedia) Read(req *pb.ReadRequest, st pb.MediaHost_ReadServer) error {
	if _, err := rpc.Require(st.Context(), pki.RoleClient); err != nil {
		return err
	}
	m.mu.Lock()
	chunks, ok := m.reads[req.GetTicket()]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("no ticket %q", req.GetTicket())
	}
	for i, c := range chunks {
		if err := st.Send(c); err != nil {
			return err
		}
		if i == 0 && m.readStall != nil {
			close(m.readStall)
			<-st.Context().Done()
			return st.Context().Err()
		}
	}
	return nil
}

// serveStream makes ticket read data in chunks of 100000 bytes, with the
// ranges lost given as their bytes (left out of the chunks).
func (m *fakeMedia) serveStream(ticket string, data []byte, lost ...[2]int64) {
	var chunks []*pb.ReadChunk
	emit := func(from, to int64) {
		for from < to {
			n := min(to-from, 100000)
			chunks = append(chunks, &pb.ReadChunk{Data: data[from : from+n]})
			from += n
		}
	}
	at := int64(0)
	for _, l := range lost {
		emit(at, l[0])
		chunks = append(chunks, &pb.ReadChunk{Lost: &pb.LostRange{From: l[0], To: l[1], Error: "copy 1: volume V1 block 7: crc mismatch"}})
		at = l[1]
	}
	emit(at, int64(len(data)))
	m.mu.Lock()
	m.reads[ticket] = chunks
	m.mu.Unlock()
}

func (m *fakeMedia) next(t *testing.T) *pushed {
	t.Helper()
	select {
	case p := <-m.pushes:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("the media host got no push")
		return nil
	}
}

// ---------------------------------------------------------------- server

type fakeServer struct {
	pb.UnimplementedServerServer
	mu         sync.Mutex
	hellos     int
	base       *mapBase
	baseAsks   map[string]int // object → base requests
	selections map[string][]int64
}

func newFakeServer() *fakeServer {
	return &fakeServer{baseAsks: map[string]int{}, selections: map[string][]int64{}}
}

func (s *fakeServer) Hello(ctx context.Context, _ *pb.HelloRequest) (*pb.HelloReply, error) {
	if _, err := rpc.Require(ctx, pki.RoleClient, pki.RoleMediaHost); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.hellos++
	s.mu.Unlock()
	return &pb.HelloReply{Server: srvPeer.Name, Version: "test"}, nil
}

func (s *fakeServer) baseOf(ctx context.Context, req *pb.BaseRequest) (*mapBase, error) {
	if _, err := rpc.Require(ctx, pki.RoleClient); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseAsks[req.GetObject()]++
	if s.base == nil {
		return nil, errors.New("no base")
	}
	return s.base, nil
}

func toPB(m map[string]agent.BaseEntry) *pb.BaseEntries {
	out := &pb.BaseEntries{}
	for n, e := range m {
		out.Entries = append(out.Entries, rpc.BaseEntryToPB(n, e))
	}
	return out
}

func (s *fakeServer) BaseRoots(ctx context.Context, req *pb.BaseRequest) (*pb.BaseEntries, error) {
	b, err := s.baseOf(ctx, req)
	if err != nil {
		return nil, err
	}
	m, err := b.Roots()
	return toPB(m), err
}

func (s *fakeServer) BaseDir(ctx context.Context, req *pb.BaseRequest) (*pb.BaseEntries, error) {
	b, err := s.baseOf(ctx, req)
	if err != nil {
		return nil, err
	}
	m, err := b.Dir(req.GetDir())
	return toPB(m), err
}

func (s *fakeServer) BaseUnder(req *pb.BaseRequest, st pb.Server_BaseUnderServer) error {
	b, err := s.baseOf(st.Context(), req)
	if err != nil {
		return err
	}
	var paths []string
	var serr error
	_ = b.Under(req.GetDir(), func(p string) {
		paths = append(paths, p)
		if len(paths) == 2 && serr == nil { // small messages: several of them
			serr = st.Send(&pb.BasePaths{Paths: paths})
			paths = nil
		}
	})
	if serr == nil && len(paths) > 0 {
		serr = st.Send(&pb.BasePaths{Paths: paths})
	}
	return serr
}

func (s *fakeServer) RestoreSelection(req *pb.SelectionRequest, st pb.Server_RestoreSelectionServer) error {
	if _, err := rpc.Require(st.Context(), pki.RoleClient); err != nil {
		return err
	}
	s.mu.Lock()
	offs, ok := s.selections[req.GetObject()]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no selection of object %s", req.GetObject())
	}
	for i := 0; i < len(offs); i += 3 {
		if err := st.Send(&pb.Offsets{Offsets: offs[i:min(i+3, len(offs))]}); err != nil {
			return err
		}
	}
	return nil
}

// mapBase is a base tree from a map of absolute paths.
type mapBase struct {
	roots []string
	m     map[string]agent.BaseEntry
}

func baseFrom(roots []string, entries []agent.Entry) *mapBase {
	b := &mapBase{roots: roots, m: map[string]agent.BaseEntry{}}
	for _, e := range entries {
		b.m["/"+e.Name] = agent.BaseEntry{Type: e.Type, Size: e.Size, Mode: e.Mode, UID: e.UID, GID: e.GID,
			MTime: e.ModTime, CTime: e.Ctime, Inode: e.Inode, Link: e.LinkName}
	}
	return b
}

func (b *mapBase) Dir(dir string) (map[string]agent.BaseEntry, error) {
	out := map[string]agent.BaseEntry{}
	for p, e := range b.m {
		if path.Dir(p) == dir && p != dir {
			out[path.Base(p)] = e
		}
	}
	return out, nil
}

func (b *mapBase) Under(dir string, fn func(string)) error {
	var ps []string
	for p := range b.m {
		if strings.HasPrefix(p, dir+"/") {
			ps = append(ps, p)
		}
	}
	sort.Strings(ps)
	for _, p := range ps {
		fn(p)
	}
	return nil
}

func (b *mapBase) Roots() (map[string]agent.BaseEntry, error) {
	out := map[string]agent.BaseEntry{}
	for _, r := range b.roots {
		if e, ok := b.m[r]; ok {
			out[r] = e
		}
	}
	return out, nil
}

// ------------------------------------------------------------ the driver

// backupEvents is what the server side of a Backup stream saw.
type backupEvents struct {
	object   string
	files    []*pb.File
	warnings []*pb.SourceWarning
	progress int
	ended    *pb.ObjectEnded
	err      error // the stream's error, if it failed
}

// backup runs order on the agent as the server would, to its end.
func backup(t *testing.T, ac pb.AgentClient, order *pb.BackupOrder) *backupEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return backupWith(t, ctx, ac, order, nil)
}

// backupWith runs order; after is called with each event after Go, and
// stops the run when it returns false.
func backupWith(t *testing.T, ctx context.Context, ac pb.AgentClient, order *pb.BackupOrder, after func(*pb.BackupEvent) bool) *backupEvents {
	t.Helper()
	ev := &backupEvents{}
	st, err := ac.Backup(ctx)
	if err != nil {
		ev.err = err
		return ev
	}
	// A Send that fails with io.EOF means the agent ended the stream; its
	// status, from Recv, says why.
	sendErr := func(err error) error {
		if errors.Is(err, io.EOF) {
			if _, rerr := st.Recv(); rerr != nil {
				return rerr
			}
		}
		return err
	}
	if err := st.Send(&pb.BackupControl{Control: &pb.BackupControl_Order{Order: order}}); err != nil {
		ev.err = sendErr(err)
		return ev
	}
	first, err := st.Recv()
	if err != nil {
		ev.err = err
		return ev
	}
	if first.GetStarted() == nil {
		t.Fatalf("first event %v, want ObjectStarted", first)
	}
	ev.object = first.GetStarted().GetObject()
	if _, err := records.ParseID(ev.object); err != nil {
		t.Fatalf("object %q: %v", ev.object, err)
	}
	if err := st.Send(&pb.BackupControl{Control: &pb.BackupControl_Go{Go: &pb.Go{}}}); err != nil {
		ev.err = sendErr(err)
		return ev
	}
	for {
		e, err := st.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ev.err = err
			}
			return ev
		}
		switch x := e.GetEvent().(type) {
		case *pb.BackupEvent_Files:
			ev.files = append(ev.files, x.Files.GetFiles()...)
		case *pb.BackupEvent_Warning:
			ev.warnings = append(ev.warnings, x.Warning)
		case *pb.BackupEvent_Progress:
			ev.progress++
		case *pb.BackupEvent_Ended:
			ev.ended = x.Ended
		default:
			t.Fatalf("unexpected event %v", e)
		}
		if after != nil && !after(e) {
			return ev
		}
	}
}

// noLeak waits until no goroutine runs the package's code (tests apart).
func noLeak(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, line := range strings.Split(g, "\n") {
				line = strings.TrimSpace(line)
				if strings.Contains(line, "/internal/clienthost/") && !strings.Contains(line, "_test.go") && strings.HasPrefix(line, "/") {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the agent are left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
