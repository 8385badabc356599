package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"daisy/internal/testtree"

	"golang.org/x/sys/unix"
)

func write(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// archive runs Archive and returns the stream, the entries and the errors
// reported.
type result struct {
	data    []byte
	entries []Entry
	errs    map[string]error
	stats   Stats
}

func run(t *testing.T, opts Options) result {
	t.Helper()
	var res result
	res.errs = map[string]error{}
	opts.OnEntry = func(e Entry) { res.entries = append(res.entries, e) }
	opts.OnError = func(p string, err error) { res.errs[p] = err }
	var buf bytes.Buffer
	st, err := Archive(context.Background(), &buf, opts)
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	res.data = buf.Bytes()
	res.stats = st
	return res
}

// names lists the names of a tar stream, checking it is well formed.
func names(t *testing.T, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		out = append(out, h.Name)
	}
}

func rel(root string, list []string) []string {
	var out []string
	prefix := strings.TrimPrefix(root, "/")
	for _, n := range list {
		if n == prefix {
			out = append(out, ".")
			continue
		}
		out = append(out, strings.TrimPrefix(n, prefix+"/"))
	}
	return out
}

func TestExclude(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a.txt", "a", 0o644)
	write(t, root+"/b.log", "b", 0o644)
	write(t, root+"/sub/c.log", "c", 0o644)
	write(t, root+"/sub/d.txt", "d", 0o644)
	write(t, root+"/cache/x", "x", 0o644)
	write(t, root+"/sub/cache", "file named cache", 0o644)
	write(t, root+"/skip/y", "y", 0o644)
	all := []string{".", "a.txt", "b.log", "cache", "cache/x", "skip", "skip/y", "sub", "sub/c.log", "sub/cache", "sub/d.txt"}

	tests := []struct {
		name    string
		exclude []string
		want    []string
	}{
		{"none", nil, all},
		{"base name", []string{"*.log"}, []string{".", "a.txt", "cache", "cache/x", "skip", "skip/y", "sub", "sub/cache", "sub/d.txt"}},
		{"full path", []string{root + "/skip"}, []string{".", "a.txt", "b.log", "cache", "cache/x", "sub", "sub/c.log", "sub/cache", "sub/d.txt"}},
		{"full path glob", []string{root + "/*/*.log"}, []string{".", "a.txt", "b.log", "cache", "cache/x", "skip", "skip/y", "sub", "sub/cache", "sub/d.txt"}},
		{"dir only", []string{"cache/"}, []string{".", "a.txt", "b.log", "skip", "skip/y", "sub", "sub/c.log", "sub/cache", "sub/d.txt"}},
		{"name without slash matches both", []string{"cache"}, []string{".", "a.txt", "b.log", "skip", "skip/y", "sub", "sub/c.log", "sub/d.txt"}},
		{"the root itself", []string{filepath.Base(root)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, Options{Paths: []string{root}, Exclude: tc.exclude})
			got := rel(root, names(t, res.data))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("entries\n got %q\nwant %q", got, tc.want)
			}
			if len(res.errs) != 0 {
				t.Fatalf("unexpected errors: %v", res.errs)
			}
		})
	}
}

func TestBadPattern(t *testing.T) {
	var buf bytes.Buffer
	_, err := Archive(context.Background(), &buf, Options{Paths: []string{t.TempDir()}, Exclude: []string{"[a-"}})
	if !errors.Is(err, ErrBadPattern) {
		t.Fatalf("got %v, want ErrBadPattern", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written despite the bad pattern", buf.Len())
	}
}

func TestUnreadableAndVanished(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/ok", "ok", 0o644)
	write(t, root+"/secret", "secret", 0o000)
	missing := root + "/does-not-exist"
	res := run(t, Options{Paths: []string{missing, root}})

	if err := res.errs[missing]; !errors.Is(err, unix.ENOENT) {
		t.Fatalf("missing path: got error %v, want ENOENT", err)
	}
	got := rel(root, names(t, res.data))
	if os.Geteuid() == 0 {
		t.Log("running as root: an unreadable file cannot be made; only the vanished path is checked")
		if !slices.Equal(got, []string{".", "ok", "secret"}) {
			t.Fatalf("entries %q", got)
		}
		return
	}
	if err := res.errs[root+"/secret"]; !errors.Is(err, unix.EACCES) {
		t.Fatalf("unreadable file: got error %v, want EACCES", err)
	}
	if !slices.Equal(got, []string{".", "ok"}) {
		t.Fatalf("entries %q, want the unreadable file skipped", got)
	}
	if res.stats.Errors != 2 {
		t.Fatalf("Errors = %d, want 2", res.stats.Errors)
	}
}

// TestVanishedDuringWalk removes a file after its directory was listed.
func TestVanishedDuringWalk(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a", "a", 0o644)
	write(t, root+"/b", "b", 0o644)
	write(t, root+"/c", "c", 0o644)
	var errs []string
	var buf bytes.Buffer
	st, err := Archive(context.Background(), &buf, Options{
		Paths: []string{root},
		OnEntry: func(e Entry) {
			if strings.HasSuffix(e.Name, "/a") {
				os.Remove(root + "/b")
			}
		},
		OnError: func(p string, err error) {
			if !errors.Is(err, unix.ENOENT) {
				t.Errorf("%s: %v, want ENOENT", p, err)
			}
			errs = append(errs, p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(errs, []string{root + "/b"}) {
		t.Fatalf("errors for %q, want %s/b", errs, root)
	}
	if got := rel(root, names(t, buf.Bytes())); !slices.Equal(got, []string{".", "a", "c"}) {
		t.Fatalf("entries %q", got)
	}
	if st.Errors != 1 || st.Files != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestChangedSize makes the header size differ from what the file holds, as
// when the file is truncated or appended to while it is read.
func TestChangedSize(t *testing.T) {
	for _, delta := range []int64{+5000, -3, -40, -1000} { // -40: a multiple of the buffer, -1000: empty
		root := t.TempDir()
		content := strings.Repeat("0123456789", 100)
		write(t, root+"/f", content, 0o644)
		fd, err := unix.Open(root+"/f", unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		st.Size += delta // the size seen when the header was made
		var buf bytes.Buffer
		var reported error
		a := &archiver{
			ctx:    context.Background(),
			opts:   Options{OnError: func(_ string, err error) { reported = err }},
			users:  map[int]string{},
			groups: map[int]string{},
			links:  map[fileID]string{},
			buf:    make([]byte, 64), // small: several reads
		}
		a.cw = &countingWriter{w: &buf}
		a.tw = tar.NewWriter(a.cw)
		if err := a.regular(fd, root+"/f", &st, nil); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		if err := a.tw.Close(); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(reported, ErrFileChanged) {
			t.Fatalf("delta %d: reported %v, want ErrFileChanged", delta, reported)
		}
		tr := tar.NewReader(&buf)
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		want := content
		if delta > 0 {
			want += strings.Repeat("\x00", int(delta))
		} else {
			want = want[:len(want)+int(delta)]
		}
		if h.Size != st.Size || string(got) != want {
			t.Fatalf("delta %d: header size %d, content %d bytes, want %d", delta, h.Size, len(got), len(want))
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Fatalf("delta %d: stream not finished cleanly: %v", delta, err)
		}
	}
}

func TestOffsets(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/small", "x", 0o644)
	write(t, root+"/odd", strings.Repeat("y", 513), 0o644)
	long := strings.Repeat("long-name-", 20)
	write(t, root+"/"+long+"/f", "in a long dir", 0o644)
	write(t, root+"/empty", "", 0o600)
	if err := os.Symlink(strings.Repeat("t", 300), root+"/longlink"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(root+"/small", root+"/small2"); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root}})
	if len(res.entries) != 8 {
		t.Fatalf("%d entries, want 8", len(res.entries))
	}
	prev := int64(-1)
	for _, e := range res.entries {
		if e.Offset <= prev || e.Offset%512 != 0 {
			t.Fatalf("%s: offset %d after %d", e.Name, e.Offset, prev)
		}
		prev = e.Offset
		tr := tar.NewReader(bytes.NewReader(res.data[e.Offset:]))
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no header at offset %d: %v", e.Name, e.Offset, err)
		}
		if h.Name != e.Name || h.Typeflag != e.Type || h.Size != e.Size || h.Linkname != e.LinkName {
			t.Fatalf("at offset %d: header %q type %c size %d link %q, entry %+v", e.Offset, h.Name, h.Typeflag, h.Size, h.Linkname, e)
		}
		if !h.ModTime.Equal(e.ModTime) {
			t.Fatalf("%s: mtime %v, entry %v", e.Name, h.ModTime, e.ModTime)
		}
	}
	last := res.entries[len(res.entries)-1]
	if last.Name != strings.TrimPrefix(root, "/")+"/small2" || last.Type != tar.TypeLink || last.LinkName != strings.TrimPrefix(root, "/")+"/small" {
		t.Fatalf("last entry %+v, want a hard link small2 -> small", last)
	}
	if res.stats.Entries != 8 || res.stats.Files != 4 || res.stats.Dirs != 2 || res.stats.Symlinks != 1 || res.stats.HardLinks != 1 || res.stats.Bytes != 1+513+13 {
		t.Fatalf("stats %+v", res.stats)
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	write(t, other+"/secret", "s", 0o644)
	if err := os.Symlink(other, root+"/dirlink"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, root+"/given"); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root + "/given", root}})
	tr := tar.NewReader(bytes.NewReader(res.data))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeDir && h.Typeflag != tar.TypeSymlink {
			t.Fatalf("%s: type %c", h.Name, h.Typeflag)
		}
		if h.Typeflag == tar.TypeSymlink && h.Linkname != other {
			t.Fatalf("%s -> %s", h.Name, h.Linkname)
		}
		got = append(got, h.Name)
	}
	// "given" is archived once, as a symlink, though it is also below root.
	if want := []string{"given", ".", "dirlink"}; !slices.Equal(rel(root, got), want) {
		t.Fatalf("entries %q, want %q", rel(root, got), want)
	}
}

func TestOverlappingPaths(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/sub/f", "f", 0o644)
	write(t, root+"/g", "g", 0o644)
	res := run(t, Options{Paths: []string{root + "/sub", root, root + "/g", root + "/"}})
	got := rel(root, names(t, res.data))
	if want := []string{"sub", "sub/f", ".", "g"}; !slices.Equal(got, want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
}

func TestSocketSkipped(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/f", "f", 0o644)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: root + "/sock"}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(root+"/fifo", 0o640); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root}})
	if res.errs[root+"/sock"] == nil || len(res.errs) != 1 {
		t.Fatalf("errors %v, want one for the socket", res.errs)
	}
	if got := rel(root, names(t, res.data)); !slices.Equal(got, []string{".", "f", "fifo"}) {
		t.Fatalf("entries %q", got)
	}
	if e := res.entries[2]; e.Type != tar.TypeFifo || e.Mode != 0o640 {
		t.Fatalf("fifo entry %+v", e)
	}
}

func TestRootAndRelativePath(t *testing.T) {
	res := run(t, Options{Paths: []string{"relative/path"}})
	if res.errs["relative/path"] == nil {
		t.Fatalf("no error for a relative path")
	}
	if len(names(t, res.data)) != 0 {
		t.Fatal("entries for a relative path")
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after < len(p) {
		return 0, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWriterAndContextErrors(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a", strings.Repeat("a", 10000), 0o644)
	write(t, root+"/b", "b", 0o644)
	for _, after := range []int{0, 512, 2048, 6000} {
		_, err := Archive(context.Background(), &failWriter{after: after}, Options{Paths: []string{root}})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("after %d bytes: got %v, want the writer's error", after, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	var buf bytes.Buffer
	_, err := Archive(ctx, &buf, Options{Paths: []string{root}, OnEntry: func(Entry) {
		n++
		cancel()
	}})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("got %v after %d entries, want context.Canceled after 1", err, n)
	}
}

func TestXattrs(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/f", "f", 0o644)
	if err := unix.Setxattr(root+"/f", "user.daisy", []byte("v\x00binary"), 0); err != nil {
		t.Skipf("file system without user xattrs: %v", err)
	}
	if err := unix.Setxattr(root, "user.dir", []byte("d"), 0); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root}})
	tr := tar.NewReader(bytes.NewReader(res.data))
	got := map[string]map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.PAXRecords
	}
	r := strings.TrimPrefix(root, "/")
	if v := got[r+"/f"]["SCHILY.xattr.user.daisy"]; v != "v\x00binary" {
		t.Fatalf("file xattr %q", v)
	}
	if v := got[r]["SCHILY.xattr.user.dir"]; v != "d" {
		t.Fatalf("dir xattr %q", v)
	}
}

func makeTree(b *testing.B, root string, big, small int) int64 {
	b.Helper()
	var total int64
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for i := range big {
		p := filepath.Join(root, "big", fmt.Sprintf("d%d/f%03d", i%3, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	for i := range small {
		p := filepath.Join(root, "small", fmt.Sprintf("d%02d/s%04d", i%20, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data[:4096], 0o644); err != nil {
			b.Fatal(err)
		}
		total += 4096
	}
	return total
}

func BenchmarkArchive(b *testing.B) {
	root := b.TempDir()
	total := makeTree(b, root, 64, 1000)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		st, err := Archive(context.Background(), io.Discard, Options{Paths: []string{root}})
		if err != nil {
			b.Fatal(err)
		}
		if st.Bytes != total || st.Errors != 0 {
			b.Fatalf("stats %+v, want %d bytes", st, total)
		}
	}
}

// In a directory large enough for the stat goroutine, empty files are
// written without being opened: their extended attributes, hard links and
// metadata must come out as for any other file, and no attribute may leak
// from one entry to the next.
func TestStatAheadEmptyFiles(t *testing.T) {
	root := t.TempDir()
	for i := range 2 * minStatAhead {
		write(t, fmt.Sprintf("%s/e%03d", root, i), "", 0o640)
	}
	if err := unix.Setxattr(root+"/e005", "user.x", []byte("five"), 0); err != nil {
		t.Skipf("file system without user xattrs: %v", err)
	}
	os.Remove(root + "/e006") // e006 becomes a hard link to e005
	if err := os.Link(root+"/e005", root+"/e006"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(root+"/e040", "user.y", []byte("forty"), 0); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root}})
	tr := tar.NewReader(bytes.NewReader(res.data))
	r := strings.TrimPrefix(root, "/")
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == r {
			continue
		}
		n++
		name := strings.TrimPrefix(h.Name, r+"/")
		var want string
		switch name {
		case "e005":
			want = "SCHILY.xattr.user.x=five"
		case "e040":
			want = "SCHILY.xattr.user.y=forty"
		}
		var got []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				got = append(got, k+"="+v)
			}
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: xattrs %v, want %q", name, got, want)
		}
		if name == "e006" && (h.Typeflag != tar.TypeLink || h.Linkname != r+"/e005") {
			t.Errorf("e006: type %c link %q, want a hard link to e005", h.Typeflag, h.Linkname)
		}
		if name != "e006" && (h.Typeflag != tar.TypeReg || h.Size != 0 || h.Mode != 0o640) {
			t.Errorf("%s: type %c size %d mode %o", name, h.Typeflag, h.Size, h.Mode)
		}
	}
	if n != 2*minStatAhead {
		t.Fatalf("%d entries, want %d", n, 2*minStatAhead)
	}
}

// bigBase is a base whose directory big holds n paths, made up as Under
// walks them, so that the base itself takes no memory.
type bigBase struct {
	root string
	n    int
}

func (b bigBase) Roots() (map[string]BaseEntry, error) {
	return map[string]BaseEntry{b.root: {Type: tar.TypeDir}}, nil
}

func (b bigBase) Dir(dir string) (map[string]BaseEntry, error) {
	if dir == b.root {
		return map[string]BaseEntry{"big": {Type: tar.TypeDir}}, nil
	}
	return map[string]BaseEntry{}, nil
}

func (b bigBase) Under(dir string, fn func(string)) error {
	if dir != b.root+"/big" {
		return nil
	}
	for i := range b.n {
		fn(fmt.Sprintf("%s/d%04d/file-with-a-longer-name-%08d", dir, i/1000, i))
	}
	return nil
}

// Issue 8, item 9: an incremental that finds a large directory deleted
// writes its deletion entries as it walks the base's paths, not after
// collecting them all: the memory it takes does not grow with the
// directory.
func TestDeletedLargeDirectoryBounded(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(n int) uint64 {
		var st Stats
		var err error
		peak := testtree.PeakHeap(func() {
			st, err = Archive(context.Background(), io.Discard, Options{Paths: []string{root}, Base: bigBase{root: root, n: n}})
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.Deleted != int64(n)+1 {
			t.Fatalf("%d deletions written, want %d", st.Deleted, n+1)
		}
		return peak
	}
	const n = 100000
	small, large := run(n), run(4*n)
	t.Logf("heap peak %d KiB deleting %d paths, %d KiB deleting %d", small>>10, n, large>>10, 4*n)
	// Collected, 4n paths of about 80 bytes take over 40 MiB.
	if large > small+8<<20 {
		t.Fatalf("heap peak %d KiB deleting %d paths, %d KiB deleting %d: grows with the directory", small>>10, n, large>>10, 4*n)
	}
}
