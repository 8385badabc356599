package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/catalog"
	"daisy/internal/clienthost"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/mediahost"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/testtree"
)

// figure2Fleet is figure 2 of the patent (examples/figure2.yaml) on a
// fleet: the backup group's media agents on media host m1, both mirror
// levels' on m2 (so that every chain of more than one copy crosses
// hosts), and the five sources on three clients.
const figure2Fleet = `server: {host: srv, address: %[1]s}
clients:
  - {name: c1, address: %[2]s}
  - {name: c2, address: %[3]s}
  - {name: c3, address: %[4]s}
media_hosts:
  - {name: m1, address: %[5]s}
  - {name: m2, address: %[6]s}
catalog: {sqlite: %[7]s/state/catalog.db}
defaults: {buffer_size: 1MiB, block_size: 64KiB, pool: copy1}
sources:
  - {name: D1, client: c1, paths: [%[7]s/data/D1]}
  - {name: D2, client: c1, paths: [%[7]s/data/D2]}
  - {name: D3, client: c2, paths: [%[7]s/data/D3]}
  - {name: D4, client: c2, paths: [%[7]s/data/D4]}
  - {name: D5, client: c3, paths: [%[7]s/data/D5]}
pools:
  - {name: copy1, type: vtape, directory: %[7]s/state/volumes/copy1}
  - {name: copy2, type: vtape, directory: %[7]s/state/volumes/copy2}
  - {name: copy3, type: vtape, directory: %[7]s/state/volumes/copy3}
devices:
  - {name: R1, type: vtape, host: m1}
  - {name: R2, type: vtape, host: m1}
  - {name: R3, type: vtape, host: m2}
  - {name: R5, type: vtape, host: m2}
  - {name: R6, type: vtape, host: m2}
  - {name: R8, type: vtape, host: m2}
backup_group:
  - name: BMA124
    device: R1
    pool: copy1
    buffers: [{name: B1, source: D3}, {name: B2, source: D2}, {name: B3, source: D4}]
  - name: BMA126
    device: R2
    pool: copy1
    buffers: [{name: B1, source: D5}, {name: B3, source: D1}]
mirror_groups:
  - media_agents:
      - name: BMA138
        device: R5
        pool: copy2
        buffers: [{name: B2, follows: BMA124.B2}, {name: B3, follows: BMA124.B3}]
      - name: BMA140
        device: R8
        pool: copy2
        buffers: [{name: B1, follows: BMA126.B3}]
  - media_agents:
      - name: BMA144
        device: R3
        pool: copy3
        buffers: [{name: B2, follows: BMA138.B2}]
      - name: BMA146
        device: R6
        pool: copy3
        buffers: [{name: B1, follows: BMA140.B1}]
`

// copiesOf is how many copies figure 2 writes of each source.
var copiesOf = map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}

// syncBuf collects the daemons' logs.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testFleet is a server, three agents and two media hosts in this
// process, each on its own port of 127.0.0.1 with its own certificate.
type testFleet struct {
	t      *testing.T
	dir    string
	pkiDir string
	cfg    *config.Config
	cat    *catalog.Catalog
	srv    *Server
	addrs  map[string]string
	logs   *syncBuf
	log    *slog.Logger
	gs     map[string]*grpc.Server
}

var fleetPeers = []pki.Peer{
	{Role: pki.RoleServer, Name: "srv"},
	{Role: pki.RoleClient, Name: "c1"}, {Role: pki.RoleClient, Name: "c2"}, {Role: pki.RoleClient, Name: "c3"},
	{Role: pki.RoleMediaHost, Name: "m1"}, {Role: pki.RoleMediaHost, Name: "m2"},
}

func newTestFleet(t *testing.T) *testFleet {
	t.Helper()
	ctx := context.Background()
	f := &testFleet{t: t, dir: t.TempDir(), addrs: map[string]string{}, logs: &syncBuf{}, gs: map[string]*grpc.Server{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs)
		}
	})
	f.pkiDir = filepath.Join(f.dir, "state", "pki")
	ca, err := pki.InitCA(f.pkiDir, 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ls := map[string]net.Listener{}
	for _, p := range fleetPeers {
		if _, err := ca.Issue(pki.Host{Peer: p, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 2, time.Now(), false); err != nil {
			t.Fatal(err)
		}
		l, err := rpc.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[p.Name] = l
		f.addrs[p.Name] = l.Addr().String()
	}
	for i, s := range []string{"D1", "D2", "D3", "D4", "D5"} {
		if err := testtree.Make(filepath.Join(f.dir, "data", s), testtree.Spec{Seed: uint64(i + 1), SmallFiles: 40, LargeFiles: 1, LargeSize: 300 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte(fmt.Sprintf(figure2Fleet, f.addrs["srv"], f.addrs["c1"], f.addrs["c2"], f.addrs["c3"], f.addrs["m1"], f.addrs["m2"], f.dir))
	file := filepath.Join(f.dir, "daisy.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if f.cfg, err = config.Parse(file, data); err != nil {
		t.Fatal(err)
	}
	if f.cat, err = catalog.Open(ctx, f.cfg.Catalog.SQLite); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cat.Close() })
	srvCreds := f.creds(fleetPeers[0])
	if f.srv, err = New(f.cfg, data, f.cat, srvCreds, f.log); err != nil {
		t.Fatal(err)
	}
	f.serve("srv", rpc.NewServer(pki.ServerConfig(srvCreds, pki.RoleClient, pki.RoleMediaHost)), ls["srv"], func(gs *grpc.Server) { pb.RegisterServerServer(gs, f.srv) })
	for _, p := range fleetPeers[1:] {
		c := f.creds(p)
		conn, err := rpc.DialPeer(c, fleetPeers[0], f.addrs["srv"])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		sc := pb.NewServerClient(conn)
		switch p.Role {
		case pki.RoleMediaHost:
			h := mediahost.New(p.Name, c, sc, f.log)
			f.serve(p.Name, rpc.NewServer(pki.ServerConfig(c, pki.RoleServer, pki.RoleClient, pki.RoleMediaHost)), ls[p.Name], func(gs *grpc.Server) { pb.RegisterMediaHostServer(gs, h) })
		case pki.RoleClient:
			a, err := clienthost.New(clienthost.Config{Name: p.Name, Credentials: c, Server: sc, Logger: f.log})
			if err != nil {
				t.Fatal(err)
			}
			f.serve(p.Name, rpc.NewServer(pki.ServerConfig(c, pki.RoleServer)), ls[p.Name], func(gs *grpc.Server) { pb.RegisterAgentServer(gs, a) })
		}
	}
	return f
}

func (f *testFleet) serve(name string, gs *grpc.Server, l net.Listener, register func(*grpc.Server)) {
	register(gs)
	go gs.Serve(l)
	f.gs[name] = gs
	f.t.Cleanup(gs.Stop)
}

func (f *testFleet) creds(p pki.Peer) *pki.Credentials {
	f.t.Helper()
	c, err := pki.LoadCredentials(f.pkiDir, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// client returns the Server service as peer p calls it.
func (f *testFleet) client(p pki.Peer) pb.ServerClient {
	f.t.Helper()
	conn, err := rpc.DialPeer(f.creds(p), fleetPeers[0], f.addrs["srv"])
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return pb.NewServerClient(conn)
}

func (f *testFleet) backup(level string) *jobs.BackupResult {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := f.srv.Backup(ctx, jobs.BackupOptions{Level: level})
	if err != nil {
		f.t.Fatalf("backup: %v", err)
	}
	return res
}

// restoreAll restores every source from every copy of its latest object
// onto its client and compares the trees.
func (f *testFleet) restoreAll(res *jobs.BackupResult, tag string) {
	f.t.Helper()
	ctx := context.Background()
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			target := filepath.Join(f.dir, "restore", tag, o.Source, fmt.Sprint(c.Number))
			if err := os.MkdirAll(target, 0o755); err != nil {
				f.t.Fatal(err)
			}
			rr, err := f.srv.Restore(ctx, RestoreOptions{Object: o.Object, Copy: c.Number, Target: target})
			if err != nil {
				f.t.Fatalf("restore %s copy %d: %v (%+v)", o.Source, c.Number, err, rr)
			}
			if rr.Client != f.cfg.Sources[sourceIndex(f.cfg, o.Source)].Client || rr.State != catalog.JobSuccess {
				f.t.Errorf("restore %s copy %d: %+v", o.Source, c.Number, rr)
			}
			orig := filepath.Join(f.dir, "data", o.Source)
			diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
			if err != nil {
				f.t.Fatal(err)
			}
			if len(diffs) > 0 {
				f.t.Errorf("restore %s copy %d (%s) differs: %s", o.Source, c.Number, tag, strings.Join(diffs, "; "))
			}
		}
	}
}

func sourceIndex(cfg *config.Config, name string) int {
	for i, s := range cfg.Sources {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// Figure 2 over the fleet: one pass writes every copy, the copies of
// the backup group on m1 and the mirrors on m2, and every source
// restores from every copy back onto its own client, identical; an
// incremental then uses the base over the Base RPCs and restores as a
// chain.
func TestFleetFigure2(t *testing.T) {
	f := newTestFleet(t)
	res := f.backup(jobs.LevelFull)
	if res.State != catalog.JobSuccess {
		t.Fatalf("backup: %s: %+v", res.State, res.Objects)
	}
	if len(res.Objects) != 5 {
		t.Fatalf("%d objects, want 5", len(res.Objects))
	}
	for _, o := range res.Objects {
		if len(o.Copies) != copiesOf[o.Source] {
			t.Errorf("%s: %d copies, want %d", o.Source, len(o.Copies), copiesOf[o.Source])
		}
		for _, c := range o.Copies {
			if c.State != catalog.CopyGood || c.Extents == 0 {
				t.Errorf("%s copy %d: %+v", o.Source, c.Number, c)
			}
		}
	}
	f.restoreAll(res, "full")

	// An incremental: a changed file and a new one in D1.
	d1 := filepath.Join(f.dir, "data", "D1")
	if err := os.WriteFile(filepath.Join(d1, "new.txt"), []byte("new after the full"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(d1, "new.txt"), time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	inc := f.backup(jobs.LevelIncremental)
	if inc.State != catalog.JobSuccess {
		t.Fatalf("incremental: %s: %+v", inc.State, inc.Objects)
	}
	for _, o := range inc.Objects {
		if o.Level != jobs.LevelIncremental || o.Base == "" {
			t.Errorf("%s: level %s base %q", o.Source, o.Level, o.Base)
		}
		if o.Unchanged == 0 {
			t.Errorf("%s: the incremental left nothing out as unchanged: %+v", o.Source, o)
		}
	}
	f.restoreAll(inc, "incremental")
}
