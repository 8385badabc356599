package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is an entry of a test archive.
type ent struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

func file(name, body string) ent   { return ent{name: name, typ: tar.TypeReg, body: body} }
func dir(name string) ent          { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent { return ent{name: name, typ: tar.TypeLink, link: to} }

func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: mode, Size: int64(len(e.body)),
			ModTime: time.Unix(1600000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a parent directory holding the target and, beside it, an
// "outside" directory that no extraction may touch.
type sandbox struct {
	parent, target, outside string
	before                  string
}

const outsideContent = "precious\n"

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	return newSandboxIn(t, t.TempDir())
}

func newSandboxIn(t testing.TB, parent string) *sandbox {
	t.Helper()
	s := &sandbox{parent: parent}
	s.target = filepath.Join(s.parent, "target")
	s.outside = filepath.Join(s.parent, "outside")
	mustWrite(t, filepath.Join(s.outside, "passwd"), []byte(outsideContent), 0o644)
	setTime(t, filepath.Join(s.outside, "passwd"), time.Unix(1000, 0))
	setTime(t, s.outside, time.Unix(2000, 0))
	// The target exists beforehand so that the parent's own metadata stays
	// the same.
	if err := os.Mkdir(s.target, 0o755); err != nil {
		t.Fatal(err)
	}
	s.before = s.snapshot(t)
	return s
}

// snapshot describes everything in parent except the target's subtree.
func (s *sandbox) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(s.parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.target {
			fmt.Fprintf(&b, "%s (target)\n", p)
			return fs.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %o %d %d %d.%d %d:%d\n", p, st.Mode, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Uid, st.Gid)
		if d.Type().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "  %q\n", c)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return b.String()
}

func (s *sandbox) check(t testing.TB) {
	t.Helper()
	if after := s.snapshot(t); after != s.before {
		t.Fatalf("something outside the target changed:\nbefore:\n%s\nafter:\n%s", s.before, after)
	}
}

func asNonRoot(t testing.TB) {
	old := geteuid
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = old })
}

func TestHostile(t *testing.T) {
	tests := []struct {
		name    string
		ents    func(s *sandbox) []ent
		refused []string // entry names that must be refused
		exist   []string // names that must exist in the target afterwards
	}{
		{"dotdot", func(*sandbox) []ent { return []ent{file("../escape", "x")} }, []string{"../escape"}, nil},
		{"absolute", func(s *sandbox) []ent { return []ent{file("/abs/path", "x"), file(s.outside+"/passwd", "x")} },
			[]string{"/abs/path", "$OUT/passwd"}, nil},
		{"inner dotdot", func(*sandbox) []ent { return []ent{file("a/../../x", "x"), file("a/b/../c", "x")} },
			[]string{"a/../../x", "a/b/../c"}, nil},
		{"through absolute symlink", func(s *sandbox) []ent {
			return []ent{symlink("link", s.outside), file("link/file", "x"), file("link/passwd", "x"), dir("link/d")}
		}, []string{"link/file", "link/passwd", "link/d"}, []string{"link"}},
		{"through dotdot symlink", func(*sandbox) []ent {
			return []ent{symlink("d", ".."), file("d/x", "x"), file("d/outside/passwd", "x"), symlink("d/y", "/")}
		}, []string{"d/x", "d/outside/passwd", "d/y"}, []string{"d"}},
		{"through inner symlink", func(*sandbox) []ent {
			return []ent{dir("real"), symlink("s", "real"), file("s/x", "x")}
		}, []string{"s/x"}, []string{"real", "s"}},
		{"hard link dotdot", func(*sandbox) []ent {
			return []ent{hardlink("hl", "../../etc/passwd"), hardlink("hl2", "../outside/passwd")}
		}, []string{"hl", "hl2"}, nil},
		{"hard link absolute", func(s *sandbox) []ent {
			return []ent{hardlink("hl", s.outside+"/passwd"), hardlink("hl2", "/etc/passwd")}
		}, []string{"hl", "hl2"}, nil},
		{"hard link through symlink", func(s *sandbox) []ent {
			return []ent{symlink("link", s.outside), hardlink("hl", "link/passwd")}
		}, []string{"hl"}, []string{"link"}},
		{"hard link to a directory", func(*sandbox) []ent {
			return []ent{dir("d"), hardlink("hl", "d")}
		}, []string{"hl"}, []string{"d"}},
		{"file under a file", func(*sandbox) []ent {
			return []ent{file("f", "x"), file("f/g", "y")}
		}, []string{"f/g"}, []string{"f"}},
		{"char device as non-root", func(*sandbox) []ent {
			return []ent{{name: "null", typ: tar.TypeChar}}
		}, []string{"null"}, nil},
		{"unsupported type", func(*sandbox) []ent {
			return []ent{{name: "v", typ: 'V'}}
		}, []string{"v"}, nil},
		{"replace dir by symlink then write through it", func(s *sandbox) []ent {
			return []ent{dir("d"), symlink("d", s.outside), file("d/passwd", "x")}
		}, []string{"d/passwd"}, []string{"d"}},
	}
	// What each refusal must say.
	why := map[string]string{
		"dotdot":                                       `".." element`,
		"absolute":                                     "absolute name",
		"inner dotdot":                                 `".." element`,
		"through absolute symlink":                     `path component "link" is a symlink`,
		"through dotdot symlink":                       `path component "d" is a symlink`,
		"through inner symlink":                        `path component "s" is a symlink`,
		"hard link dotdot":                             `hard link target`,
		"hard link absolute":                           "absolute name",
		"hard link through symlink":                    `path component "link" is a symlink`,
		"hard link to a directory":                     "is a directory",
		"file under a file":                            `path component "f" is not a directory`,
		"char device as non-root":                      "needs root",
		"unsupported type":                             "unsupported entry type",
		"replace dir by symlink then write through it": `path component "d" is a symlink`,
	}
	for _, tc := range tests {
		for _, overwrite := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/overwrite=%v", tc.name, overwrite), func(t *testing.T) {
				asNonRoot(t)
				s := newSandbox(t)
				data := mkTar(t, tc.ents(s)...)
				refused := map[string]error{}
				st, err := Extract(context.Background(), bytes.NewReader(data), Options{
					Target:    s.target,
					Overwrite: overwrite,
					Owners:    false,
					OnError: func(name string, err error) {
						if errors.Is(err, ErrRefused) {
							refused[name] = err
						}
					},
				})
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				s.check(t)
				if !overwrite && tc.name == "replace dir by symlink then write through it" {
					// The symlink was not created over the directory:
					// d/passwd is a plain file in d.
					return
				}
				for _, n := range tc.refused {
					n = strings.ReplaceAll(n, "$OUT", s.outside)
					err := refused[n]
					if err == nil {
						t.Fatalf("%q not refused (refused: %v)", n, refused)
					}
					if !strings.Contains(err.Error(), fmt.Sprintf("%q", n)) {
						t.Fatalf("refusal of %q does not name it: %v", n, err)
					}
					if w := why[tc.name]; w == "" || !strings.Contains(err.Error(), w) {
						t.Fatalf("refusal of %q: %v; want it to say %q", n, err, w)
					}
				}
				if len(refused) != len(tc.refused) || st.Refused != int64(len(tc.refused)) {
					t.Fatalf("refused %v (count %d), want %q", refused, st.Refused, tc.refused)
				}
				for _, n := range tc.exist {
					if _, err := os.Lstat(filepath.Join(s.target, n)); err != nil {
						t.Fatalf("%s: %v", n, err)
					}
				}
			})
		}
	}
}

// TestExistingLinksInTarget: a target prepared with a symlink and a hard link
// to outside files is not written through when overwriting.
func TestExistingLinksInTarget(t *testing.T) {
	s := newSandbox(t)
	if err := os.MkdirAll(s.target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(s.outside+"/passwd", s.target+"/sym"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(s.outside, s.target+"/dirsym"); err != nil {
		t.Fatal(err)
	}
	// Taken before the hard link is made: once it is replaced, the outside
	// file has one link again.
	s.before = s.snapshot(t)
	if err := os.Link(s.outside+"/passwd", s.target+"/hard"); err != nil {
		t.Fatal(err)
	}
	data := mkTar(t, file("sym", "new1"), file("hard", "new2"), dir("dirsym"), file("dirsym/passwd", "new3"))
	var errs []string
	st, err := Extract(context.Background(), bytes.NewReader(data), Options{
		Target: s.target, Overwrite: true,
		OnError: func(name string, err error) { errs = append(errs, name+": "+err.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.check(t)
	for n, want := range map[string]string{"sym": "new1", "hard": "new2", "dirsym/passwd": "new3"} {
		b, err := os.ReadFile(filepath.Join(s.target, n))
		if err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", n, b, err)
		}
	}
	if len(errs) != 0 || st.Files != 3 || st.Dirs != 1 {
		t.Fatalf("errors %q, stats %+v", errs, st)
	}
}

func TestOverwrite(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprint(overwrite), func(t *testing.T) {
			target := t.TempDir()
			mustWrite(t, target+"/f", []byte("old"), 0o600)
			if err := os.Symlink("old-target", target+"/l"); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, target+"/d/keep", []byte("keep"), 0o600)
			data := mkTar(t, file("f", "new"), symlink("l", "new-target"), dir("d"), file("d/new", "n"), file("g", "g"))
			var exists []string
			st, err := Extract(context.Background(), bytes.NewReader(data), Options{
				Target: target, Overwrite: overwrite,
				OnError: func(name string, err error) {
					if !errors.Is(err, ErrExists) {
						t.Errorf("%s: %v", name, err)
					}
					exists = append(exists, name)
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(target + "/f")
			l, _ := os.Readlink(target + "/l")
			wantF, wantL, wantSkipped, wantExists := "old", "old-target", int64(3), []string{"f", "l"}
			if overwrite {
				wantF, wantL, wantSkipped, wantExists = "new", "new-target", 0, nil
			}
			if string(b) != wantF || l != wantL {
				t.Fatalf("f = %q, l -> %q; want %q, %q", b, l, wantF, wantL)
			}
			if st.Skipped != wantSkipped || !slices.Equal(exists, wantExists) {
				t.Fatalf("skipped %d, reported %q; want %d, %q", st.Skipped, exists, wantSkipped, wantExists)
			}
			for _, n := range []string{"d/keep", "d/new", "g"} {
				if _, err := os.Stat(filepath.Join(target, n)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestNodes(t *testing.T) {
	data := mkTar(t, ent{name: "null", typ: tar.TypeChar, mode: 0o666}, ent{name: "fifo", typ: tar.TypeFifo, mode: 0o640})
	target := t.TempDir()
	var errs []string
	st, err := Extract(context.Background(), bytes.NewReader(data), Options{
		Target:  target,
		OnError: func(name string, err error) { errs = append(errs, name+": "+err.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	fi := lstat(t, target+"/fifo")
	if fi.Mode != unix.S_IFIFO|0o640 || fi.Mtim.Sec != 1600000000 {
		t.Fatalf("fifo mode %o mtime %d", fi.Mode, fi.Mtim.Sec)
	}
	if os.Geteuid() != 0 {
		if len(errs) != 1 || st.Refused != 1 {
			t.Fatalf("errors %q, want the device refused", errs)
		}
		return
	}
	if len(errs) != 0 {
		t.Fatalf("errors %q", errs)
	}
	nd := lstat(t, target+"/null")
	if nd.Mode != unix.S_IFCHR|0o666 || unix.Major(uint64(nd.Rdev)) != 1 || unix.Minor(uint64(nd.Rdev)) != 3 {
		t.Fatalf("device mode %o rdev %d:%d", nd.Mode, unix.Major(uint64(nd.Rdev)), unix.Minor(uint64(nd.Rdev)))
	}
}

func TestModesWithoutOwners(t *testing.T) {
	target := t.TempDir()
	data := mkTar(t,
		ent{name: "ro", typ: tar.TypeDir, mode: 0o555},
		ent{name: "ro/suid", typ: tar.TypeReg, mode: 0o4755, body: "x"},
		ent{name: "ro/sticky", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "ro/ro/deep", typ: tar.TypeReg, mode: 0o400, body: "deep"},
	)
	t.Cleanup(func() { os.Chmod(target+"/ro", 0o755) })
	_, err := Extract(context.Background(), bytes.NewReader(data), Options{
		Target:  target,
		OnError: func(name string, err error) { t.Errorf("%s: %v", name, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]uint32{
		"ro":         unix.S_IFDIR | 0o555,
		"ro/suid":    unix.S_IFREG | 0o755, // setuid dropped without Owners
		"ro/sticky":  unix.S_IFDIR | 0o1777,
		"ro/ro":      unix.S_IFDIR | 0o755, // implicit parent
		"ro/ro/deep": unix.S_IFREG | 0o400,
	} {
		if m := lstat(t, filepath.Join(target, n)).Mode; m != want {
			t.Errorf("%s: mode %o, want %o", n, m, want)
		}
	}
}

func TestBrokenStream(t *testing.T) {
	data := mkTar(t, file("a", "aaa"), file("big", strings.Repeat("b", 5000)))
	cut := data[:512*4] // the header of big and part of its content
	target := t.TempDir()
	st, err := Extract(context.Background(), bytes.NewReader(cut), Options{Target: target})
	if err == nil {
		t.Fatal("no error for a truncated stream")
	}
	if b, _ := os.ReadFile(target + "/a"); string(b) != "aaa" || st.Files != 1 {
		t.Fatalf("a = %q, stats %+v", b, st)
	}
	if _, err := os.Lstat(target + "/big"); err == nil {
		t.Fatal("the partial file was left")
	}
	_, err = Extract(context.Background(), strings.NewReader(strings.Repeat("garbage!", 128)), Options{Target: target})
	if err == nil {
		t.Fatal("no error for garbage")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, bytes.NewReader(data), Options{Target: target}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestSparseWrite(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"all zeros", make([]byte, 3*holeBlock+17)},
		{"data at both ends", func() []byte {
			b := make([]byte, 5*holeBlock)
			b[0], b[len(b)-1] = 1, 2
			return b
		}()},
		{"unaligned runs", func() []byte {
			b := make([]byte, 4*holeBlock+1000)
			for i := holeBlock - 10; i < holeBlock+10; i++ {
				b[i] = 'x'
			}
			b[3*holeBlock+5] = 'y'
			return b
		}()},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1000, holeBlock, bufferSize} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, chunk), func(t *testing.T) {
				target := t.TempDir()
				data := mkTar(t, file("f", string(tc.data)))
				r := &chunkReader{data: data, n: chunk}
				if _, err := Extract(context.Background(), r, Options{Target: target}); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(target + "/f")
				if err != nil || !bytes.Equal(got, tc.data) {
					t.Fatalf("content differs (%d bytes, want %d): %v", len(got), len(tc.data), err)
				}
			})
		}
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a", "a", true},
		{"a/b/", "a/b", true},
		{"./a//b/./c", "a/b/c", true},
		{".", ".", true},
		{"./", ".", true},
		{"..", "", false},
		{"../a", "", false},
		{"a/..", "", false},
		{"a/../b", "", false},
		{"/a", "", false},
		{"", "", false},
		{"a\x00b", "", false},
		{"...", "...", true},
		{"a/..b", "a/..b", true},
	}
	for _, tc := range tests {
		got, err := cleanName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestMain lowers the default time the fuzzer spends minimizing each new
// input (60s): an input here is a tar stream of a few KiB, whose
// minimization takes thousands of runs, so that with the default a short
// -fuzztime is spent almost entirely minimizing. An explicit
// -fuzzminimizetime is respected.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == "test.fuzzminimizetime" })
	if fl := flag.Lookup("test.fuzzminimizetime"); fl != nil && !set {
		fl.Value.Set("2s")
	}
	os.Exit(m.Run())
}

func FuzzExtract(f *testing.F) {
	f.Add(mkTar(f, dir("d"), file("d/f", "hello"), symlink("d/s", "f"), hardlink("d/h", "d/f")))
	f.Add(mkTar(f, file("../escape", "x"), file("/abs", "x"), file("a/../../x", "x")))
	f.Add(mkTar(f, symlink("link", "/tmp"), file("link/file", "x"), symlink("d", ".."), file("d/x", "x")))
	f.Add(mkTar(f, hardlink("h", "../../etc/passwd"), hardlink("h2", "/etc/passwd"), ent{name: "c", typ: tar.TypeChar}))
	f.Add(mkTar(f, dir("x"), symlink("x", "../outside"), file("x/passwd", "y"), ent{name: "fifo", typ: tar.TypeFifo}))
	f.Add([]byte("not a tar stream"))
	// One sandbox for all the inputs of this process, emptied after each,
	// in memory when possible: an iteration must be fast for the minimizer
	// (which runs the function thousands of times per new input) to finish.
	parent := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "fuzzextract"); err == nil {
		parent = shm
		f.Cleanup(func() {
			filepath.WalkDir(shm, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o700)
				}
				return nil
			})
			os.RemoveAll(shm)
		})
	}
	s := newSandboxIn(f, parent)
	f.Fuzz(func(t *testing.T, data []byte) {
		asNonRoot(t)
		_, _ = Extract(context.Background(), bytes.NewReader(data), Options{Target: s.target, Overwrite: true})
		s.check(t)
		// Make the target removable whatever modes were restored, and
		// start the next input from an empty one.
		filepath.WalkDir(s.target, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		if err := os.RemoveAll(s.target); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(s.target, 0o755); err != nil {
			t.Fatal(err)
		}
		s.before = s.snapshot(t)
	})
}

func BenchmarkExtract(b *testing.B) {
	var ents []ent
	var total int64
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + 1)
	}
	for i := range 64 {
		ents = append(ents, file(fmt.Sprintf("big/d%d/f%03d", i%3, i), string(big)))
		total += int64(len(big))
	}
	for i := range 1000 {
		ents = append(ents, file(fmt.Sprintf("small/d%02d/s%04d", i%20, i), string(big[:4096])))
		total += 4096
	}
	// In the order of a walk, as the agent writes it.
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.name, b.name) })
	data := mkTar(b, ents...)
	b.SetBytes(total)
	b.ResetTimer()
	tmp := b.TempDir()
	for b.Loop() {
		target := filepath.Join(tmp, "t")
		st, err := Extract(context.Background(), bytes.NewReader(data), Options{Target: target})
		if err != nil {
			b.Fatal(err)
		}
		if st.Bytes != total {
			b.Fatalf("stats %+v", st)
		}
		b.StopTimer()
		if err := os.RemoveAll(target); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// Issue 8, item 9: an --overwrite restore into a target that already holds
// the tree replaces every file; what forgetting each replaced file costs
// must not grow with the tree (it looked at every directory known so far:
// quadratic in the entries).
func TestOverwriteForgetIsLinear(t *testing.T) {
	steps := func(n int) int64 {
		target := t.TempDir()
		var ents []ent
		for d := range n / 4 {
			ents = append(ents, dir(fmt.Sprintf("d%d", d)))
			for f := range 4 {
				ents = append(ents, file(fmt.Sprintf("d%d/f%d", d, f), "x"))
			}
		}
		// A directory replaced by a file costs its own subtree.
		ents = append(ents, dir("gone"), dir("gone/sub"))
		data := mkTar(t, ents...)
		for pass := range 2 { // the second pass finds every entry there
			s, err := Open(Options{Target: target, Overwrite: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Extract(context.Background(), bytes.NewReader(data), 0, nil); err != nil {
				t.Fatal(err)
			}
			if pass == 1 {
				if err := os.Remove(filepath.Join(target, "gone", "sub")); err != nil {
					t.Fatal(err)
				}
				x := s.x
				x.forget("gone/sub")
				if x.verified["gone/sub"] || x.dirs["gone/sub"] != nil {
					t.Fatal("forget kept the removed directory")
				}
				if !x.verified["gone"] || !x.verified["d0"] {
					t.Fatal("forget dropped directories that are still there")
				}
				got := x.forgetSteps
				s.Close()
				if st := s.Stats(); st.Files != int64(n) || st.Errors != 0 {
					t.Fatalf("second pass restored %d files with %d errors, want %d", st.Files, st.Errors, n)
				}
				return got
			}
			s.Close()
		}
		return 0
	}
	small, large := steps(200), steps(800)
	t.Logf("forget looked at %d names for 200 files, %d for 800", small, large)
	if large > 5*small+100 {
		t.Fatalf("forget looked at %d names for 200 files, %d for 800: grows faster than the entries", small, large)
	}
}
