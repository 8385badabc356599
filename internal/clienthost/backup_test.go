package clienthost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/testtree"
)

// local is what agent.Archive gives for opts on this host.
type local struct {
	data    []byte
	entries []agent.Entry
	errs    map[string]error
	stats   agent.Stats
}

func archiveLocal(t *testing.T, opts agent.Options) local {
	t.Helper()
	var l local
	var buf bytes.Buffer
	l.errs = map[string]error{}
	opts.OnEntry = func(e agent.Entry) { l.entries = append(l.entries, e) }
	opts.OnError = func(p string, err error) { l.errs[p] = err }
	st, err := agent.Archive(context.Background(), &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.data, l.stats = buf.Bytes(), st
	return l
}

func order(f *fleet, paths ...string) *pb.BackupOrder {
	return &pb.BackupOrder{Job: 7, Source: "D1", Client: cliA.Name, Paths: paths, Level: "full",
		StartedUnixNano: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC).UnixNano(), Target: f.target()}
}

// checkSame compares what the media host assembled and the events with
// the local archive.
func checkSame(t *testing.T, ev *backupEvents, p *pushed, want local) {
	t.Helper()
	if ev.err != nil || ev.ended == nil {
		t.Fatalf("backup: stream error %v, ended %v", ev.err, ev.ended)
	}
	if ev.ended.GetError() != "" {
		t.Fatalf("backup failed: %s", ev.ended.GetError())
	}
	if p.err != nil {
		t.Fatalf("the media host's push: %v", p.err)
	}
	if !bytes.Equal(p.data.Bytes(), want.data) {
		t.Fatalf("the media host assembled %d bytes that differ from the %d of agent.Archive", p.data.Len(), len(want.data))
	}
	sum := sha256.Sum256(want.data)
	e := ev.ended
	if e.GetHash() != records.HashName+hex.EncodeToString(sum[:]) || e.GetHash() != p.end.Hash || e.GetLength() != uint64(len(want.data)) || e.GetRecords() != p.end.Records || e.GetRecords() == 0 {
		t.Fatalf("ObjectEnded %v; the media host's End %+v; want %d bytes hashed %x", e, p.end, len(want.data), sum)
	}
	if e.GetEntries() != want.stats.Entries+want.stats.Deleted || e.GetUnchanged() != want.stats.Unchanged || e.GetDeleted() != want.stats.Deleted {
		t.Fatalf("ObjectEnded entries %d unchanged %d deleted %d; agent.Archive: %+v", e.GetEntries(), e.GetUnchanged(), e.GetDeleted(), want.stats)
	}
	if len(ev.files) != len(want.entries) {
		t.Fatalf("%d file entries reported, agent.Archive has %d", len(ev.files), len(want.entries))
	}
	for i, x := range want.entries {
		w := rpc.FileToPB(catalog.File{Path: "/" + x.Name, Type: x.Type, Size: x.Size, Mode: x.Mode, UID: x.UID, GID: x.GID,
			MTime: x.ModTime, CTime: x.Ctime, Inode: x.Inode, Link: x.LinkName, Offset: x.Offset})
		if !proto.Equal(w, ev.files[i]) {
			t.Fatalf("file entry %d: %v, want %v", i, ev.files[i], w)
		}
	}
	if p.asm.Begin().Source != "D1" || p.asm.Begin().Client != cliA.Name || p.asm.Begin().Job != 7 || p.asm.Begin().Content != "pax" {
		t.Fatalf("begin record %+v", p.asm.Begin())
	}
	if p.open.GetJob() != 7 || p.open.GetBuffer() != "ba1.b1" || p.open.GetSource() != "D1" {
		t.Fatalf("PushOpen %v", p.open)
	}
}

func TestBackup(t *testing.T) {
	f := newFleet(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(src, testtree.Spec{Seed: 1, SmallFiles: 2500, LargeFiles: 1, LargeSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	want := archiveLocal(t, agent.Options{Paths: []string{src}})
	ev := backup(t, f.asServer, order(f, src))
	p := f.media.next(t)
	checkSame(t, ev, p, want)
	if len(want.entries) < 2500 {
		t.Fatalf("only %d entries", len(want.entries))
	}
	if p.asm.Begin().Level != "full" || p.asm.Begin().Base != "" {
		t.Fatalf("begin record %+v", p.asm.Begin())
	}
	if id, _ := records.ParseID(ev.object); id.Version() != 7 {
		t.Fatalf("object %s: not a UUIDv7", ev.object)
	}
	// The records carry the object the agent named.
	if len(ev.warnings) != 0 {
		t.Fatalf("warnings %v", ev.warnings)
	}
	noLeak(t)

	// Compressed: the same stream, stored smaller.
	o := order(f, src)
	o.Compression = "zstd"
	ev = backup(t, f.asServer, o)
	p = f.media.next(t)
	checkSame(t, ev, p, want)
	if ev.ended.GetStored() == 0 || ev.ended.GetStored() >= ev.ended.GetLength() {
		t.Fatalf("zstd: stored %d of %d", ev.ended.GetStored(), ev.ended.GetLength())
	}
	noLeak(t)
}

func TestBackupRefused(t *testing.T) {
	f := newFleet(t)
	src := t.TempDir()

	// An order for another client's source.
	o := order(f, src)
	o.Client = cliB.Name
	ev := backup(t, f.asServer, o)
	if status.Code(ev.err) != codes.PermissionDenied || !strings.Contains(ev.err.Error(), "client-b") {
		t.Fatalf("order for client-b's source: %v, want PermissionDenied naming client-b", ev.err)
	}

	// Malformed orders.
	for name, change := range map[string]func(*pb.BackupOrder){
		"no target":   func(o *pb.BackupOrder) { o.Target = nil },
		"no paths":    func(o *pb.BackupOrder) { o.Paths = nil },
		"compression": func(o *pb.BackupOrder) { o.Compression = "lzma" },
		"exclude":     func(o *pb.BackupOrder) { o.Exclude = []string{"[x"} },
	} {
		o := order(f, src)
		change(o)
		if ev := backup(t, f.asServer, o); status.Code(ev.err) != codes.InvalidArgument {
			t.Fatalf("%s: %v, want InvalidArgument", name, ev.err)
		}
	}

	// Callers that are not the server: refused by TLS at the agent's
	// listener.
	for _, c := range []struct {
		creds *pki.Credentials
		name  string
	}{{f.a, "client-a"}, {f.b, "client-b"}, {f.mh, "mh1"}} {
		ac := pb.NewAgentClient(dial(t, c.creds, cliA, f.agentAddr))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev := backupWith(t, ctx, ac, order(f, src), nil)
		cancel()
		if ev.err == nil || ev.object != "" {
			t.Fatalf("backup called by %s: object %q, err %v; want refused", c.name, ev.object, ev.err)
		}
	}
	// And by the agent itself where TLS lets any role in.
	addr, _ := serve(t, pki.ServerConfig(f.a), func(s *grpc.Server) { pb.RegisterAgentServer(s, f.agent) })
	for _, c := range []*pki.Credentials{f.b, f.mh} {
		ac := pb.NewAgentClient(dial(t, c, cliA, addr))
		ev := backup(t, ac, order(f, src))
		if status.Code(ev.err) != codes.PermissionDenied || ev.object != "" {
			t.Fatalf("backup called by %s: %v, want PermissionDenied", c.Self, ev.err)
		}
		st, err := ac.Restore(context.Background(), &pb.RestoreOrder{Target: t.TempDir(), Parts: []*pb.RestorePart{{Object: "x", Ticket: "t", Host: "mh1", Address: f.mediaAddr}}})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("restore called by %s: %v, want PermissionDenied", c.Self, err)
		}
	}
	select {
	case p := <-f.media.pushes:
		t.Fatalf("a refused order pushed: %+v", p.open)
	default:
	}
	noLeak(t)
}

// TestBackupCancelledBeforeGo: nothing is pushed.
func TestBackupCancelledBeforeGo(t *testing.T) {
	f := newFleet(t)
	for _, how := range []string{"cancel", "close"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := f.asServer.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&pb.BackupControl{Control: &pb.BackupControl_Order{Order: order(f, t.TempDir())}}); err != nil {
			t.Fatal(err)
		}
		if e, err := st.Recv(); err != nil || e.GetStarted() == nil {
			t.Fatalf("%v %v", e, err)
		}
		if how == "cancel" {
			err = st.Send(&pb.BackupControl{Control: &pb.BackupControl_Cancel{Cancel: &pb.Cancel{Reason: "job stopped"}}})
		} else {
			err = st.CloseSend()
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		cancel()
		if status.Code(err) != codes.Canceled {
			t.Fatalf("%s before Go: %v, want Canceled", how, err)
		}
	}
	select {
	case p := <-f.media.pushes:
		t.Fatalf("a cancelled order pushed: %+v", p.open)
	default:
	}
	noLeak(t)
}

func TestBackupIncremental(t *testing.T) {
	f := newFleet(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(src, testtree.Spec{Seed: 2, SmallFiles: 300}); err != nil {
		t.Fatal(err)
	}
	full := archiveLocal(t, agent.Options{Paths: []string{src}})
	base := baseFrom([]string{src}, full.entries)
	f.srv.base = base
	// Changes: one file written, one removed, a directory removed, one
	// file added.
	if err := os.WriteFile(filepath.Join(src, "special", "exec"), []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "special", "readonly")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "d03")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "new file"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := archiveLocal(t, agent.Options{Paths: []string{src}, Base: base})
	if want.stats.Unchanged == 0 || want.stats.Deleted < 2 {
		t.Fatalf("local incremental: %+v", want.stats)
	}
	o := order(f, src)
	o.Level, o.Base = "incremental", "0190f5c0-0000-7000-8000-000000000001"
	ev := backup(t, f.asServer, o)
	p := f.media.next(t)
	checkSame(t, ev, p, want)
	if p.asm.Begin().Level != "incremental" || p.asm.Begin().Base != o.Base {
		t.Fatalf("begin record %+v", p.asm.Begin())
	}
	f.srv.mu.Lock()
	asks := f.srv.baseAsks[ev.object]
	f.srv.mu.Unlock()
	if asks == 0 {
		t.Fatalf("the server was never asked for the base of %s: %v", ev.object, f.srv.baseAsks)
	}
	deleted := 0
	for _, x := range ev.files {
		if byte(x.GetType()) == agent.TypeDeleted {
			deleted++
		}
	}
	if int64(deleted) != ev.ended.GetDeleted() {
		t.Fatalf("%d deletion entries in the file batches, ObjectEnded says %d", deleted, ev.ended.GetDeleted())
	}

	// A base the server cannot give fails the object.
	f.srv.mu.Lock()
	f.srv.base = nil
	f.srv.mu.Unlock()
	ev = backup(t, f.asServer, o)
	p = f.media.next(t)
	if ev.ended == nil || !strings.Contains(ev.ended.GetError(), "no base") || p.fail == "" {
		t.Fatalf("backup without its base: ended %v (stream %v), push failed %q", ev.ended, ev.err, p.fail)
	}
	noLeak(t)
}

func TestBackupMissingRoot(t *testing.T) {
	f := newFleet(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(t.TempDir(), "not mounted")
	ev := backup(t, f.asServer, order(f, src, gone))
	p := f.media.next(t)
	if ev.ended == nil || !strings.Contains(ev.ended.GetError(), gone) || !strings.Contains(ev.ended.GetError(), "may_be_absent") {
		t.Fatalf("missing root: ended %v (stream %v), want an error naming %s", ev.ended, ev.err, gone)
	}
	if len(ev.warnings) != 1 || !ev.warnings[0].GetMissing() || ev.warnings[0].GetPath() != gone {
		t.Fatalf("warnings %v, want one missing %s", ev.warnings, gone)
	}
	if p.fail == "" || !strings.Contains(p.fail, gone) {
		t.Fatalf("the media host's push: fail %q, err %v; want a PushFail naming %s", p.fail, p.err, gone)
	}

	o := order(f, src, gone)
	o.MayBeAbsent = true
	ev = backup(t, f.asServer, o)
	p = f.media.next(t)
	if ev.ended == nil || ev.ended.GetError() != "" || p.err != nil {
		t.Fatalf("missing root that may be absent: ended %v, push %v", ev.ended, p.err)
	}
	if len(ev.warnings) != 1 || !ev.warnings[0].GetMissing() || !strings.Contains(ev.warnings[0].GetError(), "may_be_absent") {
		t.Fatalf("warnings %v", ev.warnings)
	}
	noLeak(t)
}

// TestBackupUnreadableFile: a file of mode 000 is skipped with a warning,
// and the object ends. Root reads it anyway, so as root the test runs
// itself again as the user nobody.
func TestBackupUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		asNobody(t, "TestBackupUnreadableFile")
		return
	}
	f := newFleet(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(src, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o000); err != nil {
		t.Fatal(err)
	}
	ev := backup(t, f.asServer, order(f, src))
	p := f.media.next(t)
	if ev.ended == nil || ev.ended.GetError() != "" || p.err != nil {
		t.Fatalf("backup with an unreadable file: ended %v (stream %v), push %v", ev.ended, ev.err, p.err)
	}
	if len(ev.warnings) != 1 || ev.warnings[0].GetPath() != secret || ev.warnings[0].GetMissing() || !strings.Contains(ev.warnings[0].GetError(), "permission denied") {
		t.Fatalf("warnings %v, want one for %s", ev.warnings, secret)
	}
	if ev.ended.GetEntries() != 2 || len(ev.files) != 2 {
		t.Fatalf("entries %d, files %d; want the root and ok", ev.ended.GetEntries(), len(ev.files))
	}
}

// asNobody runs test in a child process of this test binary as uid and
// gid 65534, with a temporary directory it may write.
func asNobody(t *testing.T, test string) {
	t.Helper()
	if os.Getenv("CLIENTHOST_AS_NOBODY") != "" {
		t.Fatal("running as nobody, the user is still root")
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{filepath.Dir(bin), filepath.Dir(tmp)} {
		for d := start; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, "-test.run", "^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), "CLIENTHOST_AS_NOBODY=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s as nobody: %v\n%s", test, err, out)
	}
	t.Logf("%s ran as nobody:\n%s", test, out)
}

// TestBackupMediaHostVanishes: the media host's server stops mid-push;
// the object fails within seconds, and nothing of the agent is left.
func TestBackupMediaHostVanishes(t *testing.T) {
	f := newFleet(t)
	f.media.hold = make(chan struct{}) // the host stops reading after a batch
	src := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(src, testtree.Spec{Seed: 3, SmallFiles: 10, LargeFiles: 1, LargeSize: 24 << 20}); err != nil {
		t.Fatal(err)
	}
	done := make(chan *backupEvents, 1)
	progress := make(chan int64, 100)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- backupWith(t, ctx, f.asServer, order(f, src), func(e *pb.BackupEvent) bool {
			if p := e.GetProgress(); p != nil {
				select {
				case progress <- p.GetBytes():
				default:
				}
			}
			return true
		})
	}()
	select {
	case <-f.media.firstBatch:
	case <-time.After(30 * time.Second):
		t.Fatal("no batch reached the media host")
	}
	// A media host that does not read stops the agent: what it cut into
	// records stays within the stream's flow-control window and a few
	// batches, far from the 24 MiB of the source.
	var pushed int64
	for range 3 {
		select {
		case pushed = <-progress:
		case <-time.After(30 * time.Second):
			t.Fatal("no progress")
		}
	}
	if limit := int64(rpc.StreamWindow + 4*(rpc.BatchBytes+records.MaxRecordSize)); pushed > limit {
		t.Fatalf("%d bytes of records cut while the media host read nothing, more than %d", pushed, limit)
	}
	t.Logf("%d bytes of records cut while the media host read nothing", pushed)
	stopped := time.Now()
	f.mediaSrv.Stop()
	var ev *backupEvents
	select {
	case ev = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the backup did not end after its media host vanished")
	}
	took := time.Since(stopped)
	if ev.ended == nil || !strings.Contains(ev.ended.GetError(), "media host mh1") {
		t.Fatalf("ended %v (stream %v), want an error naming media host mh1", ev.ended, ev.err)
	}
	if took > 10*time.Second {
		t.Fatalf("the object failed %v after its media host vanished", took)
	}
	t.Logf("failed %v after the media host stopped: %s", took.Round(time.Millisecond), ev.ended.GetError())
	noLeak(t)
}

// TestBackupServerGone: the server's stream ends mid-backup; the push is
// failed, and nothing of the agent is left.
func TestBackupServerGone(t *testing.T) {
	f := newFleet(t)
	f.media.hold = make(chan struct{})
	src := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(src, testtree.Spec{Seed: 4, SmallFiles: 10, LargeFiles: 1, LargeSize: 24 << 20}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *backupEvents, 1)
	go func() { done <- backupWith(t, ctx, f.asServer, order(f, src), nil) }()
	select {
	case <-f.media.firstBatch:
	case <-time.After(30 * time.Second):
		t.Fatal("no batch reached the media host")
	}
	cancel() // the server is gone
	ev := <-done
	if ev.ended != nil {
		t.Fatalf("ended %v after the server went", ev.ended)
	}
	close(f.media.hold)
	var p *pushed
	select {
	case p = <-f.media.pushes:
	case <-time.After(30 * time.Second):
		t.Fatal("the push did not end after the server went")
	}
	if p.fail == "" && !p.broken {
		t.Fatalf("the media host's push ended with %v, want a PushFail or a broken stream", p.err)
	}
	if p.fail != "" && !strings.Contains(p.fail, "stream") {
		t.Fatalf("PushFail %q does not say the backup stream broke", p.fail)
	}
	t.Logf("push: fail %q, err %v", p.fail, p.err)
	noLeak(t)
}

// TestBackupMediaHostDown: a media host that cannot be reached, or that
// is another host than the order names, fails the object at once.
func TestBackupMediaHostDown(t *testing.T) {
	f := newFleet(t)
	l, err := rpc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for name, target := range map[string]*pb.Target{
		"down":       {Host: mhPeer.Name, Address: dead, Buffer: "ba1.b1"},
		"other host": {Host: "mh2", Address: f.mediaAddr, Buffer: "ba1.b1"},
	} {
		o := order(f, t.TempDir())
		o.Target = target
		ev := backup(t, f.asServer, o)
		if ev.ended == nil || !strings.Contains(ev.ended.GetError(), "media host "+target.Host) {
			t.Fatalf("%s: ended %v (stream %v), want an error naming media host %s", name, ev.ended, ev.err, target.Host)
		}
		t.Logf("%s: %s", name, ev.ended.GetError())
	}
	noLeak(t)
}
