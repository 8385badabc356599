// Package testtree makes file trees for tests, with the things a backup
// must keep (empty files, large files, odd names, symlinks, hard links,
// modes, times, extended attributes), and compares two trees entry by
// entry. It is used only by tests.
package testtree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec says what Make puts in a tree.
type Spec struct {
	Seed       uint64
	SmallFiles int   // files of 0..16 KiB, spread over nested directories
	LargeFiles int   // files of LargeSize bytes
	LargeSize  int64 // default 8 MiB
}

// Make fills dir (created if missing) with a deterministic tree.
func Make(dir string, s Spec) error {
	if s.LargeSize == 0 {
		s.LargeSize = 8 << 20
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	base := time.Date(2024, 3, 14, 15, 9, 26, 535897932, time.UTC)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := []string{"plain", "with space", "ünïcödé", "日本語", "tab\there", "semi;colon", "quote'd", "-dash"}
	var files []string
	for i := 0; i < s.SmallFiles; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("e%d", i%5))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		p := filepath.Join(sub, fmt.Sprintf("%s %d.txt", names[i%len(names)], i))
		size := 0
		if i%11 != 0 { // every 11th file is empty
			size = rng.IntN(16 << 10)
		}
		if err := writeFile(p, rng, int64(size), 0o644); err != nil {
			return err
		}
		files = append(files, p)
	}
	for i := 0; i < s.LargeFiles; i++ {
		p := filepath.Join(dir, fmt.Sprintf("large-%d.bin", i))
		if err := writeFile(p, rng, s.LargeSize+int64(i)*4099, 0o640); err != nil {
			return err
		}
		files = append(files, p)
	}
	// Links and special modes.
	special := filepath.Join(dir, "special")
	if err := os.MkdirAll(special, 0o755); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return writeFile(filepath.Join(special, "empty"), rng, 0, 0o600) },
		func() error { return writeFile(filepath.Join(special, "readonly"), rng, 100, 0o444) },
		func() error { return writeFile(filepath.Join(special, "exec"), rng, 100, 0o755) },
		func() error { return os.Symlink("readonly", filepath.Join(special, "rel-link")) },
		func() error { return os.Symlink("/etc/hostname", filepath.Join(special, "abs-link")) },
		func() error { return os.Symlink("does/not/exist", filepath.Join(special, "dangling")) },
		func() error { return os.Symlink("../d00", filepath.Join(special, "dir-link")) },
		func() error { return writeFile(filepath.Join(special, "hard-a"), rng, 5000, 0o644) },
		func() error { return os.Link(filepath.Join(special, "hard-a"), filepath.Join(special, "hard-b")) },
		func() error { return os.MkdirAll(filepath.Join(dir, "other"), 0o755) },
		func() error { return os.Link(filepath.Join(special, "hard-a"), filepath.Join(dir, "other", "hard-c")) },
		func() error { return os.MkdirAll(filepath.Join(special, "empty dir"), 0o700) },
		func() error { return os.Mkdir(filepath.Join(special, "ro dir"), 0o755) },
		func() error { return writeFile(filepath.Join(special, "ro dir", "inside"), rng, 10, 0o644) },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	// An extended attribute, where the file system takes them.
	_ = unix.Setxattr(filepath.Join(special, "exec"), "user.daisy.test", []byte("kept"), 0)
	// Times: files first, then directories deepest first so that creating
	// entries does not move them again.
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := base.Add(time.Duration(rng.Int64N(int64(1000 * 24 * time.Hour))))
		switch {
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type()&fs.ModeSymlink != 0:
			ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
			return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		default:
			return os.Chtimes(p, t, t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(special, "ro dir"), 0o555); err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		t := base.Add(time.Duration(rng.Int64N(int64(1000 * 24 * time.Hour))))
		if err := os.Chtimes(d, t, t); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, rng *rand.Rand, size int64, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	src := rand.NewChaCha8(seed)
	text := rng.IntN(2) == 0 // half the files text-like (compressible), half random
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(int64(len(buf)), size)
		_, _ = src.Read(buf[:n])
		if text {
			for i := range buf[:n] {
				buf[i] = 'a' + buf[i]%16
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		size -= n
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// Entry is what Compare looks at for one path.
type Entry struct {
	Type   fs.FileMode
	Mode   fs.FileMode
	UID    uint32
	GID    uint32
	Size   int64
	MTime  int64 // ns
	Hash   string
	Link   string
	Inode  uint64
	XAttrs string
}

// Snapshot reads a tree into a map from relative path to Entry.
func Snapshot(root string) (map[string]Entry, error) {
	out := map[string]Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := Entry{Type: fi.Mode().Type(), Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			UID: st.Uid, GID: st.Gid, MTime: fi.ModTime().UnixNano(), Inode: st.Ino}
		switch {
		case fi.Mode().IsRegular():
			e.Size = fi.Size()
			h, err := hashFile(p)
			if err != nil {
				return err
			}
			e.Hash = h
			e.XAttrs = xattrs(p)
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Link, err = os.Readlink(p)
			if err != nil {
				return err
			}
			e.Mode = 0 // symlink permissions are not meaningful on Linux
		case fi.IsDir():
			e.XAttrs = xattrs(p)
		}
		out[rel] = e
		return nil
	})
	return out, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var parts []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, v)
		if err == nil {
			parts = append(parts, name+"="+string(v[:m]))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Compare reports every difference between two trees: entries missing or
// extra, type, mode, owner, size, content, mtime (files, directories and
// symlinks), link targets, extended attributes, and hard-link groups (paths
// sharing an inode in want must share one in got, and only those).
func Compare(want, got string) ([]string, error) {
	a, err := Snapshot(want)
	if err != nil {
		return nil, err
	}
	return CompareSnapshot(a, got)
}

// CompareSnapshot is Compare against a tree read earlier with Snapshot.
func CompareSnapshot(a map[string]Entry, got string) ([]string, error) {
	b, err := Snapshot(got)
	if err != nil {
		return nil, err
	}
	var diffs []string
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	groupA, groupB := map[uint64]string{}, map[uint64]string{}
	for _, k := range keys {
		ea := a[k]
		eb, ok := b[k]
		if !ok {
			diffs = append(diffs, "missing: "+k)
			continue
		}
		check := func(what string, x, y any) {
			if x != y {
				diffs = append(diffs, fmt.Sprintf("%s: %s %v, want %v", k, what, y, x))
			}
		}
		check("type", ea.Type, eb.Type)
		check("mode", ea.Mode, eb.Mode)
		check("uid", ea.UID, eb.UID)
		check("gid", ea.GID, eb.GID)
		check("size", ea.Size, eb.Size)
		check("content", ea.Hash, eb.Hash)
		check("mtime", ea.MTime, eb.MTime)
		check("link", ea.Link, eb.Link)
		check("xattrs", ea.XAttrs, eb.XAttrs)
		if ea.Type.IsRegular() || ea.Type == 0 {
			if ea.Hash != "" {
				// hard-link groups: the first path of each inode names the group
				ga, okA := groupA[ea.Inode]
				if !okA {
					groupA[ea.Inode], ga = k, k
				}
				gb, okB := groupB[eb.Inode]
				if !okB {
					groupB[eb.Inode], gb = k, k
				}
				if ga != gb {
					diffs = append(diffs, fmt.Sprintf("%s: hard-link group %q, want %q", k, gb, ga))
				}
			}
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, "extra: "+k)
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}
