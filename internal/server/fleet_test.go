package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/catalog"
	"daisy/internal/clienthost"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/mediaagent"
	"daisy/internal/mediahost"
	"daisy/internal/pki"
	"daisy/internal/records"
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
	return newTestFleetWith(t, nil)
}

// newTestFleetWith is newTestFleet with the Agent service of a client
// replaced by agents[name] (a fake that misbehaves), if set.
func newTestFleetWith(t *testing.T, agents map[string]pb.AgentServer) *testFleet {
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
			var a pb.AgentServer = agents[p.Name]
			if a == nil {
				if a, err = clienthost.New(clienthost.Config{Name: p.Name, Credentials: c, Server: sc, Logger: f.log}); err != nil {
					t.Fatal(err)
				}
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
			// What the CLI prints of it: the backup restored, the copy
			// read, the bytes the media hosts read.
			obj, err := f.cat.Object(ctx, o.Object)
			if err != nil {
				f.t.Fatal(err)
			}
			if rr.Level != obj.Level || !rr.Started.Equal(obj.Started) || rr.Copy != c.Number || rr.BytesRead < rr.Bytes || rr.Bytes == 0 {
				f.t.Errorf("restore %s copy %d: level %q started %s copy %d, %d bytes restored, %d read; want %s, %s, copy %d", o.Source, c.Number,
					rr.Level, rr.Started, rr.Copy, rr.Bytes, rr.BytesRead, obj.Level, obj.Started, c.Number)
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

	// Single files over the fleet: new.txt (in the incremental) and a file
	// of the full, from D1's copy 2 (on m2), and nothing else but the
	// directories above them.
	var old string
	if err := filepath.WalkDir(d1, func(p string, e os.DirEntry, err error) error {
		if err == nil && old == "" && e.Type().IsRegular() && e.Name() != "new.txt" {
			old = p
		}
		return err
	}); err != nil || old == "" {
		t.Fatalf("no file in D1 to restore (%v)", err)
	}
	target := filepath.Join(f.dir, "restore", "paths")
	rr, err := f.srv.Restore(context.Background(), RestoreOptions{Source: "D1", Copy: 2, Target: target,
		Paths: []string{filepath.Join(d1, "new.txt"), old}})
	if err != nil || rr.State != catalog.JobSuccess {
		t.Fatalf("restore of two paths: %v (%+v)", err, rr)
	}
	var got []string
	if err := filepath.WalkDir(target, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			got = append(got, strings.TrimPrefix(p, target))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{filepath.Join(d1, "new.txt"), old}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("restore of two paths wrote %q, want %q", got, want)
	}
	for _, p := range want {
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(target, p))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s restored differs (%v)", p, err)
		}
	}
	// Both objects of the chain are read (over the network each is read
	// whole; the agent extracts the selected entries).
	if len(rr.Parts) != 2 || rr.Parts[0].Whole || rr.Parts[1].Whole || rr.BytesRead == 0 {
		t.Errorf("restore of two paths: %d bytes of volumes read, parts %+v", rr.BytesRead, rr.Parts)
	}
	if _, err := f.srv.Restore(context.Background(), RestoreOptions{Source: "D1", Target: target, Paths: []string{"/no/such/path"}}); !errors.Is(err, jobs.ErrUsage) || !strings.Contains(err.Error(), "matches nothing") {
		t.Errorf("a path that matches nothing: %v", err)
	}
}

// probePlane begins the objects of a job and calls probe while they
// run, then fails them: what the server's RPCs serve during a job.
type probePlane struct {
	s     *Server
	probe func(ctx context.Context, b *jobs.RemoteBackup, ids map[string]string)
}

func (p probePlane) RunBackup(ctx context.Context, b *jobs.RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
	forget := p.s.registerBackup(uint64(b.Job()), b)
	defer forget()
	ids := map[string]string{}
	for _, o := range b.Orders() {
		id := records.NewID()
		if err := b.Begin(ctx, o.Source.Name, id); err != nil {
			return nil, err
		}
		ids[o.Source.Name] = id.String()
	}
	p.probe(ctx, b, ids)
	for _, o := range b.Orders() {
		b.End(o.Source.Name, records.EndInfo{}, 0, 0, 0, errors.New("probed only"))
	}
	return nil, nil
}

// Client A's certificate gets neither the base of B's object nor the
// selection of B's restore; a media host gets only the volumes of the
// pools its devices write; each refusal says who asked for what.
func TestFleetRefusals(t *testing.T) {
	f := newTestFleet(t)
	if res := f.backup(jobs.LevelFull); res.State != catalog.JobSuccess {
		t.Fatalf("backup: %s", res.State)
	}
	c1 := f.client(pki.Peer{Role: pki.RoleClient, Name: "c1"})
	c2 := f.client(pki.Peer{Role: pki.RoleClient, Name: "c2"})
	m1 := f.client(pki.Peer{Role: pki.RoleMediaHost, Name: "m1"})
	m2 := f.client(pki.Peer{Role: pki.RoleMediaHost, Name: "m2"})
	denied := func(what string, err error, want ...string) {
		t.Helper()
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v, want PermissionDenied", what, err)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not say %q", what, err, w)
			}
		}
	}
	probed := false
	pp := probePlane{s: f.srv, probe: func(ctx context.Context, b *jobs.RemoteBackup, ids map[string]string) {
		probed = true
		job := uint64(b.Job())
		req := &pb.BaseRequest{Job: job, Object: ids["D1"]}
		if r, err := c1.BaseRoots(ctx, req); err != nil || len(r.GetEntries()) != 1 {
			t.Errorf("c1's base of its own D1: %v %v", r, err)
		}
		if r, err := c1.BaseDir(ctx, &pb.BaseRequest{Job: job, Object: ids["D1"], Dir: filepath.Join(f.dir, "data", "D1")}); err != nil || len(r.GetEntries()) == 0 {
			t.Errorf("c1's base directory of D1: %v %v", r, err)
		}
		_, err := c2.BaseRoots(ctx, req)
		denied("c2 asks for the base of c1's D1", err, "client/c2", "c1")
		_, err = c2.BaseDir(ctx, &pb.BaseRequest{Job: job, Object: ids["D1"], Dir: "/"})
		denied("c2 asks for a base directory of c1's D1", err, "client/c2")
		st, err := c2.BaseUnder(ctx, &pb.BaseRequest{Job: job, Object: ids["D1"], Dir: "/"})
		if err == nil {
			_, err = st.Recv()
		}
		denied("c2 asks for the base paths of c1's D1", err, "client/c2")
		_, err = c1.BaseRoots(ctx, &pb.BaseRequest{Job: job + 100, Object: ids["D1"]})
		denied("c1 asks in a job that does not run", err, "not a backup running here")
		_, err = c1.BaseRoots(ctx, &pb.BaseRequest{Job: job, Object: records.NewID().String()})
		denied("c1 asks for an object the job did not order", err, "did not order")
		_, err = m1.BaseRoots(ctx, req)
		denied("a media host asks for a base", err, "media-host/m1")
	}}
	res, err := jobs.Backup(context.Background(), f.cfg, f.cat, jobs.BackupOptions{Level: jobs.LevelIncremental, Sources: []string{"D1", "D3"}, Plane: pp})
	if err != nil || !probed {
		t.Fatalf("probe job: %v (probed %v)", err, probed)
	}
	if res.State != catalog.JobFailed {
		t.Errorf("probe job: %s", res.State)
	}

	// A restore of c1's D1 ordered by the server: c2 may not read its
	// selection.
	ctx := context.Background()
	obj, err := f.cat.LatestObject(ctx, "D1")
	if err != nil {
		t.Fatal(err)
	}
	forget := f.srv.registerRestore(77, &restoreJob{client: "c1", chain: []catalog.Object{obj}, index: map[string]int{obj.ID: 0}})
	sel := func(c pb.ServerClient, job uint64, object string) (int, error) {
		st, err := c.RestoreSelection(ctx, &pb.SelectionRequest{Job: job, Object: object})
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			m, err := st.Recv()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			n += len(m.GetOffsets())
		}
	}
	if n, err := sel(c1, 77, obj.ID); err != nil || int64(n) != obj.Files {
		t.Errorf("c1's own selection: %d offsets (want %d), %v", n, obj.Files, err)
	}
	_, err = sel(c2, 77, obj.ID)
	denied("c2 asks for the selection of c1's restore", err, "client/c2", "c1")
	_, err = sel(c1, 78, obj.ID)
	denied("c1 asks for a restore that does not run", err, "not a restore running here")
	_, err = sel(c1, 77, records.NewID().String())
	denied("c1 asks for an object not in the chain", err, "not in the chain")
	forget()
	_, err = sel(c1, 77, obj.ID)
	denied("c1 asks after the restore ended", err)

	// Volumes: copy1 is written by m1's devices only.
	if l, err := m1.PoolVolumes(ctx, &pb.PoolRequest{Pool: "copy1"}); err != nil || len(l.GetVolumes()) == 0 {
		t.Errorf("m1's volumes of copy1: %v %v", l, err)
	}
	_, err = m2.PoolVolumes(ctx, &pb.PoolRequest{Pool: "copy1"})
	denied("m2 asks for the volumes of copy1", err, "media-host/m2", "copy1")
	vs, err := f.cat.Volumes(ctx, "copy1")
	if err != nil || len(vs) == 0 {
		t.Fatal(vs, err)
	}
	_, err = m2.GetVolume(ctx, &pb.VolumeRequest{Id: vs[0].ID})
	denied("m2 asks for a volume of copy1", err, "copy1")
	_, err = m2.UpdateVolume(ctx, rpc.VolumeToPB(vs[0]))
	denied("m2 updates a volume of copy1", err, "copy1")
	_, err = m2.GoodExtentsOnVolume(ctx, &pb.VolumeRequest{Id: vs[0].ID})
	denied("m2 counts extents on a volume of copy1", err, "copy1")
	_, err = m2.CreateVolume(ctx, &pb.Volume{Id: records.NewID().String(), Label: "x", Pool: "copy1"})
	denied("m2 creates a volume in copy1", err, "copy1")
	_, err = c1.PoolVolumes(ctx, &pb.PoolRequest{Pool: "copy1"})
	denied("a client asks for volumes", err, "client/c1")
	if _, err := m1.GetVolume(ctx, &pb.VolumeRequest{Id: "no-such-volume"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown volume: %v, want NotFound", err)
	}
	if n, err := m1.GoodExtentsOnVolume(ctx, &pb.VolumeRequest{Id: vs[0].ID}); err != nil || n.GetN() == 0 {
		t.Errorf("m1's good extents on %s: %v %v", vs[0].Label, n, err)
	}

	// Hello: the registry.
	if _, err := c1.Hello(ctx, &pb.HelloRequest{Version: "v-test", FormatVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Hello(ctx, &pb.HelloRequest{Version: "v-test"}); err != nil {
		t.Fatal(err)
	}
	hosts := f.srv.Hosts()
	if len(hosts) != 2 || hosts[0].Name != "c1" || hosts[0].Version != "v-test" || hosts[1].Name != "m2" || hosts[1].LastSeen.IsZero() {
		t.Errorf("registry: %+v", hosts)
	}
}

// An agent that is down fails only its own objects, and the error names
// its client; a media host that is down fails the job before anything
// moves, and the error names it.
func TestFleetHostDown(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.gs["c3"].Stop()
	res, err := f.srv.Backup(ctx, jobs.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 5 {
		t.Fatalf("objects: %+v", res.Objects)
	}
	for _, o := range res.Objects {
		switch o.Source {
		case "D5":
			if o.State != catalog.ObjectFailed || !strings.Contains(o.Error, "client c3") {
				t.Errorf("D5 with c3 down: %+v", o)
			}
		default:
			if o.State != catalog.ObjectComplete {
				t.Errorf("%s: %+v", o.Source, o)
			}
		}
	}
	if res.State != catalog.JobFailed {
		t.Errorf("job: %s", res.State)
	}

	f.gs["m2"].Stop()
	_, err = f.srv.Backup(ctx, jobs.BackupOptions{Sources: []string{"D1", "D3"}})
	if err == nil || !strings.Contains(err.Error(), "media host m2") {
		t.Fatalf("backup with m2 down: %v", err)
	}
	jl, err := f.cat.Jobs(ctx, 0)
	if err != nil || len(jl) != 2 {
		t.Fatalf("jobs: %+v %v", jl, err)
	}
	for _, j := range jl {
		if j.State != catalog.JobFailed {
			t.Errorf("job %d: %s", j.ID, j.State)
		}
	}
	for _, s := range []string{"D1", "D3"} {
		objs, err := f.cat.Objects(ctx, catalog.ObjectFilter{Source: s})
		if err != nil || len(objs) != 2 || objs[1].State != catalog.ObjectFailed {
			t.Errorf("%s: %+v %v", s, objs, err)
		}
	}
}

// The server's own end (SIGTERM: its context cancelled) mid-job ends the
// job interrupted, as in process: nothing is left writing, the media
// hosts let go of their pools, and the next job runs.
func TestFleetInterrupted(t *testing.T) {
	f := newTestFleet(t)
	if err := testtree.Make(filepath.Join(f.dir, "data", "D1", "big"), testtree.Spec{Seed: 9, LargeFiles: 1, LargeSize: 96 << 20}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled when m1 reports D1's first extent on its medium.
	p := &plane{onEvent: func(host string, ev *pb.MediaEvent) {
		if host == "m1" && ev.GetExtent() != nil {
			cancel()
		}
	}}
	res, err := f.srv.backupWith(ctx, jobs.BackupOptions{Sources: []string{"D1", "D3"}}, p)
	if !errors.Is(err, context.Canceled) || res == nil || res.State != catalog.JobInterrupted {
		t.Fatalf("backup cancelled mid-job: %v, %+v", err, res)
	}
	bg := context.Background()
	objs, err := f.cat.Objects(bg, catalog.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.State == catalog.ObjectWriting {
			t.Errorf("object %s of %s left writing", o.ID, o.Source)
		}
		cps, err := f.cat.Copies(bg, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			if c.State == catalog.CopyWriting || (o.Source == "D1" && c.State == catalog.CopyGood) {
				t.Errorf("%s copy %d: %s", o.Source, c.Number, c.State)
			}
		}
	}
	again := f.backup(jobs.LevelFull)
	if again.State != catalog.JobSuccess {
		t.Fatalf("the next job: %s %+v", again.State, again.Objects)
	}
}

// A media host that vanishes mid-job (when m1 reports D1's first extent
// on its medium) fails only its copies, each with an error that names
// it; the copies on the other host commit good, the objects are complete
// and the job partial; what is good restores.
func TestFleetMediaHostLostMidJob(t *testing.T) {
	f := newTestFleet(t)
	if err := testtree.Make(filepath.Join(f.dir, "data", "D1", "big"), testtree.Spec{Seed: 9, LargeFiles: 1, LargeSize: 128 << 20}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stopped := make(chan struct{})
	p := &plane{onEvent: func(host string, ev *pb.MediaEvent) {
		if host == "m1" && ev.GetExtent() != nil {
			once.Do(func() {
				go func() {
					f.gs["m2"].Stop()
					close(stopped)
				}()
			})
		}
	}}
	res, err := f.srv.backupWith(context.Background(), jobs.BackupOptions{Sources: []string{"D1", "D3"}}, p)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	<-stopped
	if res.State != catalog.JobPartial {
		t.Errorf("job: %s, want partial", res.State)
	}
	for _, o := range res.Objects {
		if o.State != catalog.ObjectComplete {
			t.Errorf("%s: %s %s", o.Source, o.State, o.Error)
		}
		for _, c := range o.Copies {
			onM2 := c.Number > 1
			switch {
			case onM2 && (c.State != catalog.CopyFailed || !strings.Contains(c.Error, "media host m2")):
				t.Errorf("%s copy %d on m2: %s %q", o.Source, c.Number, c.State, c.Error)
			case !onM2 && c.State != catalog.CopyGood:
				t.Errorf("%s copy %d on m1: %s %q", o.Source, c.Number, c.State, c.Error)
			}
		}
	}
	good := &jobs.BackupResult{}
	for _, o := range res.Objects {
		o.Copies = o.Copies[:1]
		good.Objects = append(good.Objects, o)
	}
	f.restoreAll(good, "after-m2-lost")
}

// A restore whose first good copy is on a media host that is down reads
// a copy on another host: D1's copy 1 is on m1, copies 2 and 3 on m2;
// with m1 stopped the restore takes m2's, says why m1 was skipped, and the
// tree is identical. With both down it fails naming both.
func TestFleetRestoreFallsBackToAnotherHost(t *testing.T) {
	f := newTestFleet(t)
	res := f.backup(jobs.LevelFull)
	if res.State != catalog.JobSuccess {
		t.Fatalf("backup: %s", res.State)
	}
	f.gs["m1"].Stop()
	target := filepath.Join(f.dir, "restore", "fallback")
	rr, err := f.srv.Restore(context.Background(), RestoreOptions{Source: "D1", Target: target})
	if err != nil || rr.State != catalog.JobSuccess {
		t.Fatalf("restore with m1 down: %v (%+v)", err, rr)
	}
	if len(rr.Parts) != 1 || rr.Parts[0].MediaHost != "m2" || rr.Copy != 2 || len(rr.Parts[0].Skipped) != 1 || !strings.Contains(rr.Parts[0].Skipped[0], "media host m1") {
		t.Errorf("restore with m1 down: copy %d, parts %+v", rr.Copy, rr.Parts)
	}
	orig := filepath.Join(f.dir, "data", "D1")
	if diffs, err := testtree.Compare(orig, filepath.Join(target, orig)); err != nil || len(diffs) > 0 {
		t.Errorf("restored D1 differs (%v): %s", err, strings.Join(diffs, "; "))
	}
	f.gs["m2"].Stop()
	_, err = f.srv.Restore(context.Background(), RestoreOptions{Source: "D1", Target: filepath.Join(f.dir, "restore", "none")})
	if err == nil || !strings.Contains(err.Error(), "no media host of its good copies can serve it") || !strings.Contains(err.Error(), "media host m1") || !strings.Contains(err.Error(), "media host m2") {
		t.Errorf("restore with both media hosts down: %v", err)
	}
}
