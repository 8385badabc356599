package extract

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"daisy/internal/agent"

	"golang.org/x/sys/unix"
)

func mustWrite(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func setTime(t testing.TB, path string, mt time.Time) {
	t.Helper()
	ts := unix.NsecToTimespec(mt.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, path string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestRoundTrip(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	big := make([]byte, 3<<20)
	rand.Read(big)
	sparse := make([]byte, 1<<20)
	copy(sparse[100:], "begin")
	copy(sparse[len(sparse)-10:], "end")

	mustWrite(t, src+"/dir1/empty.txt", nil, 0o600)
	mustWrite(t, src+"/dir1/nested/deeper/random.bin", big, 0o644)
	mustWrite(t, src+"/dir1/ü ñ 日本.txt", []byte("unicode ü ñ 日本\n"), 0o444)
	mustWrite(t, src+"/dir1/with space.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	mustWrite(t, src+"/dir1/zeros.img", sparse, 0o640)
	mustWrite(t, src+"/dir1/setuid", []byte("suid"), os.ModeSetuid|os.ModeSetgid|0o755)
	mustWrite(t, src+"/hl/first", []byte("linked content"), 0o644)
	mustWrite(t, src+"/ro/inside", []byte("in a read-only dir"), 0o644)
	if err := os.MkdirAll(src+"/emptydir", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src+"/hl/first", src+"/dir1/second"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(src+"/links", 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"rel":      "../dir1/empty.txt",
		"abs":      src + "/dir1/with space.sh",
		"dangling": "does/not/exist",
		"dirlink":  "../dir1",
	} {
		if err := os.Symlink(target, src+"/links/"+name); err != nil {
			t.Fatal(err)
		}
	}
	xattrs := true
	if err := unix.Setxattr(src+"/dir1/empty.txt", "user.daisy.test", []byte("value\x00with nul"), 0); err != nil {
		t.Logf("file system rejects user xattrs (%v): xattrs are not checked", err)
		xattrs = false
	} else if err := unix.Setxattr(src+"/dir1", "user.daisy.dir", []byte("dir value"), 0); err != nil {
		t.Fatal(err)
	}

	// Times with nanoseconds, set last and deepest first so that nothing
	// changes them afterwards.
	mt := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var paths []string
	if err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := len(paths) - 1; i >= 0; i-- {
		setTime(t, paths[i], mt.Add(time.Duration(i)*time.Hour+time.Duration(i)))
	}
	if err := os.Chmod(src+"/ro", 0o555); err != nil {
		t.Fatal(err)
	}
	setTime(t, src+"/ro", mt)
	t.Cleanup(func() { os.Chmod(src+"/ro", 0o755) })

	var stream bytes.Buffer
	ast, err := agent.Archive(context.Background(), &stream, agent.Options{
		Paths:   []string{src},
		OnError: func(p string, err error) { t.Errorf("archive: %s: %v", p, err) },
	})
	if err != nil {
		t.Fatal(err)
	}

	if m := lstat(t, src+"/dir1/setuid").Mode; m&unix.S_ISUID == 0 || m&unix.S_ISGID == 0 {
		t.Fatalf("test setup: setuid file has mode %o", m)
	}
	dst := filepath.Join(base, "dst")
	owners := os.Geteuid() == 0
	est, err := Extract(context.Background(), &stream, Options{
		Target:  dst,
		Owners:  owners,
		OnError: func(name string, err error) { t.Errorf("extract: %s: %v", name, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dst, src, "ro"), 0o755) })

	if est.Files != ast.Files || est.Dirs != ast.Dirs || est.Symlinks != ast.Symlinks || est.HardLinks != ast.HardLinks || est.Bytes != ast.Bytes {
		t.Fatalf("archive stats %+v, extract stats %+v", ast, est)
	}
	if ast.HardLinks != 1 || ast.Symlinks != 4 {
		t.Fatalf("archive stats %+v", ast)
	}

	// Compare every entry.
	n := 0
	for _, p := range paths {
		r, _ := filepath.Rel(src, p)
		q := filepath.Join(dst, p)
		s, d := lstat(t, p), lstat(t, q)
		n++
		want := s.Mode
		if !owners {
			want &^= unix.S_ISUID | unix.S_ISGID
		}
		if d.Mode != want {
			t.Errorf("%s: mode %o, want %o", r, d.Mode, want)
		}
		if s.Mtim != d.Mtim {
			t.Errorf("%s: mtime %v, want %v", r, time.Unix(d.Mtim.Unix()), time.Unix(s.Mtim.Unix()))
		}
		if owners && (s.Uid != d.Uid || s.Gid != d.Gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", r, d.Uid, d.Gid, s.Uid, s.Gid)
		}
		switch s.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if fileSum(t, p) != fileSum(t, q) {
				t.Errorf("%s: content differs", r)
			}
			if s.Size != d.Size {
				t.Errorf("%s: size %d, want %d", r, d.Size, s.Size)
			}
			if s.Nlink != d.Nlink {
				t.Errorf("%s: %d links, want %d", r, d.Nlink, s.Nlink)
			}
		case unix.S_IFLNK:
			st, _ := os.Readlink(p)
			dt, _ := os.Readlink(q)
			if st != dt {
				t.Errorf("%s: link to %q, want %q", r, dt, st)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d entries compared", n)
	}
	// Hard link identity.
	if a, b := lstat(t, filepath.Join(dst, src, "hl/first")), lstat(t, filepath.Join(dst, src, "dir1/second")); a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard links not restored as one inode: %d/%d links %d", a.Ino, b.Ino, a.Nlink)
	}
	// Zeros were restored as holes.
	if z := lstat(t, filepath.Join(dst, src, "dir1/zeros.img")); z.Blocks*512 >= int64(len(sparse)) {
		t.Errorf("zeros.img uses %d bytes on disk: its zeros were not left as holes", z.Blocks*512)
	}
	if xattrs {
		for p, kv := range map[string][2]string{
			"dir1/empty.txt": {"user.daisy.test", "value\x00with nul"},
			"dir1":           {"user.daisy.dir", "dir value"},
		} {
			buf := make([]byte, 64)
			n, err := unix.Lgetxattr(filepath.Join(dst, src, p), kv[0], buf)
			if err != nil || string(buf[:n]) != kv[1] {
				t.Errorf("%s: xattr %s = %q (%v), want %q", p, kv[0], buf[:n], err, kv[1])
			}
		}
	}
	// The parents of the archived path, not in the stream, exist.
	if fi, err := os.Stat(filepath.Join(dst, base)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("implicit parent: %v %v", fi, err)
	}
}

// TestSelectAndHardLinkTarget extracts a part of a stream.
func TestSelectAndHardLinkTarget(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, src+"/a/keep", []byte("keep"), 0o644)
	mustWrite(t, src+"/a/drop", []byte("drop"), 0o644)
	mustWrite(t, src+"/b/other", []byte("other"), 0o644)
	if err := os.Link(src+"/a/drop", src+"/b/link"); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := agent.Archive(context.Background(), &stream, agent.Options{Paths: []string{src}}); err != nil {
		t.Fatal(err)
	}
	rs := src[1:]
	dst := t.TempDir()
	var errs []string
	st, err := Extract(context.Background(), &stream, Options{
		Target: dst,
		Select: func(name string) bool {
			return name == rs+"/a/keep" || name == rs+"/b/link"
		},
		OnError: func(name string, err error) {
			errs = append(errs, name)
			if errors.Is(err, ErrRefused) {
				t.Errorf("%s refused: %v", name, err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, rs, "a/keep")); err != nil || string(b) != "keep" {
		t.Fatalf("a/keep: %q %v", b, err)
	}
	for _, p := range []string{"a/drop", "b/other", "b/link"} {
		if _, err := os.Lstat(filepath.Join(dst, rs, p)); err == nil {
			t.Fatalf("%s extracted", p)
		}
	}
	// The hard link's content is in a/drop, which was not selected.
	if len(errs) != 1 || errs[0] != rs+"/b/link" || st.Failed != 1 || st.Files != 1 {
		t.Fatalf("errors %q, stats %+v", errs, st)
	}
}
