package clienthost

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/agent"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/testtree"
)

// restore runs order on the agent as the server would and returns its
// end and how many progress events came.
func restore(t *testing.T, ac pb.AgentClient, order *pb.RestoreOrder) (*pb.RestoreDone, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := ac.Restore(ctx, order)
	if err != nil {
		return nil, err
	}
	var done *pb.RestoreDone
	for {
		e, err := st.Recv()
		if errors.Is(err, io.EOF) {
			if done == nil {
				t.Fatal("the restore ended without RestoreDone")
			}
			return done, nil
		}
		if err != nil {
			return done, err
		}
		if done != nil {
			t.Fatalf("event %v after RestoreDone", e)
		}
		done = e.GetDone()
	}
}

func (f *fleet) part(object, ticket string, whole bool) *pb.RestorePart {
	return &pb.RestorePart{Object: object, Source: "D1", Ticket: ticket, Host: mhPeer.Name, Address: f.mediaAddr, Whole: whole}
}

func restoreTree(t *testing.T, seed uint64) (string, local) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(src, testtree.Spec{Seed: seed, SmallFiles: 400, LargeFiles: 1, LargeSize: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	return src, archiveLocal(t, agent.Options{Paths: []string{src}})
}

func TestRestoreWhole(t *testing.T) {
	f := newFleet(t)
	src, l := restoreTree(t, 5)
	f.media.serveStream("t1", l.data)
	target := filepath.Join(t.TempDir(), "to")
	done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Parts: []*pb.RestorePart{f.part("o1", "t1", true)}})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetError() != "" || len(done.GetProblems()) != 0 {
		t.Fatalf("restore: %v", done)
	}
	if done.GetEntries() != int64(len(l.entries)) || done.GetBytes() != int64(len(l.data)) {
		t.Fatalf("restored %d entries of %d bytes; the stream has %d entries, %d bytes", done.GetEntries(), done.GetBytes(), len(l.entries), len(l.data))
	}
	diffs, err := testtree.Compare(src, filepath.Join(target, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("the restored tree differs: %s", strings.Join(diffs, "\n"))
	}

	// Again into the same target: the existing entries are kept and said
	// so; with overwrite, they are written again.
	done, err = restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Parts: []*pb.RestorePart{f.part("o1", "t1", true)}})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetError() != "" || len(done.GetProblems()) != 1 || !strings.Contains(done.GetProblems()[0], "were kept") {
		t.Fatalf("restore over the tree: %v", done)
	}
	if err := os.WriteFile(filepath.Join(target, src, "special", "exec"), []byte("spoilt"), 0o755); err != nil {
		t.Fatal(err)
	}
	done, err = restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Overwrite: true, Parts: []*pb.RestorePart{f.part("o1", "t1", true)}})
	if err != nil || done.GetError() != "" {
		t.Fatalf("restore with overwrite: %v %v", done, err)
	}
	if diffs, err := testtree.Compare(src, filepath.Join(target, src)); err != nil || len(diffs) > 0 {
		t.Fatalf("after overwrite: %v %s", err, strings.Join(diffs, "\n"))
	}
	noLeak(t)
}

// TestRestoreSelection: only the entries the server selects are restored.
func TestRestoreSelection(t *testing.T) {
	f := newFleet(t)
	src, l := restoreTree(t, 6)
	// The selection: every third regular file, and the large one.
	var offs []int64
	want := map[string]bool{}
	for i, e := range l.entries {
		if e.Type == tar.TypeReg && (i%3 == 0 || strings.HasPrefix(filepath.Base(e.Name), "large")) {
			offs = append(offs, e.Offset)
			want["/"+e.Name] = true
		}
	}
	f.srv.selections["o1"] = offs
	f.media.serveStream("t1", l.data)
	target := filepath.Join(t.TempDir(), "to")
	done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Parts: []*pb.RestorePart{f.part("o1", "t1", false)}})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetError() != "" || len(done.GetProblems()) != 0 || done.GetEntries() != int64(len(offs)) {
		t.Fatalf("restore of %d selected entries: %v", len(offs), done)
	}
	files := 0
	err = filepath.Walk(filepath.Join(target, src), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		orig := strings.TrimPrefix(p, target)
		if !fi.Mode().IsRegular() {
			if fi.Mode()&os.ModeSymlink != 0 {
				t.Errorf("%s: a symlink was restored, it was not selected", orig)
			}
			return nil
		}
		files++
		if !want[orig] {
			t.Errorf("%s was restored, it was not selected", orig)
		}
		a, _ := os.ReadFile(orig)
		b, _ := os.ReadFile(p)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: restored content differs", orig)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != len(want) {
		t.Fatalf("%d files restored, %d selected", files, len(want))
	}

	// A selection naming an offset where the stream has no entry fails
	// the part, and says so.
	f.srv.selections["o2"] = []int64{offs[0], offs[0] + 512*3 + 1}
	done, err = restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: t.TempDir(), Parts: []*pb.RestorePart{f.part("o2", "t1", false)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(done.GetError(), "1 entries the server selected are not in the object") || !strings.Contains(done.GetError(), "object o2") {
		t.Fatalf("a selection off the stream: %v", done)
	}
	// Offsets that do not ascend.
	f.srv.selections["o3"] = []int64{offs[1], offs[0]}
	done, err = restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: t.TempDir(), Parts: []*pb.RestorePart{f.part("o3", "t1", false)}})
	if err != nil || !strings.Contains(done.GetError(), "must ascend") {
		t.Fatalf("offsets that do not ascend: %v %v", done, err)
	}
	noLeak(t)
}

// lostIn returns a range inside the content of the first regular file of
// at least min bytes after the middle of the stream, and that file.
func lostIn(t *testing.T, l local, min int64) ([2]int64, agent.Entry) {
	t.Helper()
	for _, e := range l.entries {
		if e.Type == tar.TypeReg && e.Size >= min && e.Offset > int64(len(l.data))/4 {
			from := (e.Offset + 2048 + 100) &^ 511
			return [2]int64{from, from + 1024}, e
		}
	}
	t.Fatal("no file to damage")
	return [2]int64{}, agent.Entry{}
}

func TestRestoreLostRange(t *testing.T) {
	f := newFleet(t)
	src, l := restoreTree(t, 7)
	lost, hit := lostIn(t, l, 8<<10)
	f.media.serveStream("t1", l.data, lost)
	var all []int64
	for _, e := range l.entries {
		all = append(all, e.Offset)
	}
	f.srv.selections["o1"] = all // what a whole part finds the next entry by
	f.srv.selections["o2"] = all
	for _, whole := range []bool{true, false} {
		obj := "o1"
		if !whole {
			obj = "o2"
		}
		target := filepath.Join(t.TempDir(), "to")
		done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Parts: []*pb.RestorePart{f.part(obj, "t1", whole)}})
		if err != nil {
			t.Fatal(err)
		}
		rng := "bytes " + itoa(lost[0]) + " to " + itoa(lost[1])
		if !strings.Contains(done.GetError(), rng) || !strings.Contains(done.GetError(), "object "+obj) || !strings.Contains(done.GetError(), "1 entries in it were not restored") {
			t.Fatalf("whole %v: a lost range: %v; want an error naming %s", whole, done, rng)
		}
		found := false
		for _, p := range done.GetProblems() {
			found = found || strings.Contains(p, rng)
		}
		if !found {
			t.Fatalf("whole %v: problems %q do not name %s", whole, done.GetProblems(), rng)
		}
		if done.GetEntries() != int64(len(l.entries))-1 {
			t.Fatalf("whole %v: %d entries restored, want all %d but the one hit", whole, done.GetEntries(), len(l.entries)-1)
		}
		// Everything but the entry hit is restored.
		diffs, err := testtree.Compare(src, filepath.Join(target, src))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffs {
			if !strings.Contains(d, strings.TrimPrefix(hit.Name, strings.TrimPrefix(src, "/")+"/")) {
				t.Errorf("whole %v: %s", whole, d)
			}
		}
		if len(diffs) == 0 {
			t.Errorf("whole %v: the entry hit, %s, was restored", whole, hit.Name)
		}
	}

	// A whole part whose entries cannot be found after the range fails
	// naming it.
	done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: t.TempDir(), Parts: []*pb.RestorePart{f.part("unknown", "t1", true)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(done.GetError(), "bytes "+itoa(lost[0])+" to "+itoa(lost[1])) || !strings.Contains(done.GetError(), "cannot be found") {
		t.Fatalf("lost range without a selection: %v", done)
	}
	noLeak(t)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRestoreNeverEscapes: an entry "../x" in the stream is refused, and
// nothing is written outside the target.
func TestRestoreNeverEscapes(t *testing.T) {
	f := newFleet(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "../x", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
		{Name: "ok", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
		{Name: "a/../../y", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "..", Mode: 0o777},
		{Name: "link/z", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("evil"))
		}
	}
	tw.Close()
	f.media.serveStream("evil", buf.Bytes())
	parent := t.TempDir()
	target := filepath.Join(parent, "to")
	done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: target, Parts: []*pb.RestorePart{f.part("o1", "evil", true)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(parent, "x"), filepath.Join(parent, "y"), filepath.Join(parent, "z")} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s was written outside the target", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(target, "ok")); err != nil || string(b) != "evil" {
		t.Fatalf("the harmless entry: %q %v", b, err)
	}
	refused := 0
	for _, p := range done.GetProblems() {
		if strings.Contains(p, "refused") {
			refused++
		}
	}
	if refused < 3 {
		t.Fatalf("problems %q: want the three escaping entries refused", done.GetProblems())
	}

	// A relative target is refused.
	_, err = restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: "to", Parts: []*pb.RestorePart{f.part("o1", "evil", true)}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("relative target: %v, want InvalidArgument", err)
	}
	noLeak(t)
}

// TestRestoreMediaHostFails: a read the media host ends with an error (a
// hash that does not match, say) fails the restore naming it.
func TestRestoreMediaHostFails(t *testing.T) {
	f := newFleet(t)
	done, err := restore(t, f.asServer, &pb.RestoreOrder{Job: 9, Target: t.TempDir(), Parts: []*pb.RestorePart{f.part("o1", "no such ticket", true)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(done.GetError(), "media host mh1") || !strings.Contains(done.GetError(), "no such ticket") || !strings.Contains(done.GetError(), "part 1 of 1") {
		t.Fatalf("restore of an unknown ticket: %v", done)
	}
	noLeak(t)
}

// TestRestoreServerGone: the server's call ends mid-restore; the restore
// stops, and nothing of the agent is left.
func TestRestoreServerGone(t *testing.T) {
	f := newFleet(t)
	_, l := restoreTree(t, 8)
	f.media.serveStream("t1", l.data)
	f.media.readStall = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	st, err := f.asServer.Restore(ctx, &pb.RestoreOrder{Job: 9, Target: t.TempDir(), Parts: []*pb.RestorePart{f.part("o1", "t1", true)}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.media.readStall:
	case <-time.After(30 * time.Second):
		t.Fatal("the media host was not read")
	}
	cancel()
	if _, err := st.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after the server went: %v", err)
	}
	noLeak(t)
}
