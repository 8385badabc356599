package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// entriesOf returns a tar stream of the given headers, each regular file
// with its content.
func entriesOf(t *testing.T, ents ...func(tw *tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		e(tw)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func regular(t *testing.T, name string, data []byte, mtime time.Time) func(*tar.Writer) {
	return func(tw *tar.Writer) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o640, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
}

// Small files are written by the writer goroutines (writers.go): what the
// tree looks like afterwards is what a one-by-one extraction gives, hard
// links to files still in flight, a name given twice (the second wins),
// modes and nanosecond mtimes included, and Restored sees the files
// finished.
func TestExtractParallelWriters(t *testing.T) {
	mtime := time.Date(2026, 11, 30, 12, 34, 56, 123456789, time.UTC)
	var ents []func(*tar.Writer)
	want := map[string][]byte{}
	for i := range 200 {
		name := fmt.Sprintf("d%d/f%03d", i%7, i)
		data := bytes.Repeat([]byte{byte(i)}, 100+i*97)
		ents = append(ents, regular(t, name, data, mtime))
		want[name] = data
	}
	// A hard link to a file just handed to a writer, then the same name
	// as a file again with other content.
	ents = append(ents, func(tw *tar.Writer) {
		if err := tw.WriteHeader(&tar.Header{Name: "d0/link", Linkname: "d3/f199", Typeflag: tar.TypeLink, Mode: 0o640}); err != nil {
			t.Fatal(err)
		}
	})
	want["d0/link"] = want["d3/f199"]
	again := []byte("second version")
	ents = append(ents, regular(t, "d1/f001", again, mtime))
	want["d1/f001"] = again
	stream := entriesOf(t, ents...)

	dir := t.TempDir()
	s, err := Open(Options{Target: dir, Overwrite: true, OnError: func(name string, err error) { t.Errorf("%s: %v", name, err) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Extract(context.Background(), &chunkReader{data: stream, n: 3000}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !s.Restored("d3/f199", tar.TypeReg, int64(len(want["d3/f199"])), mtime, "") {
		t.Error("Restored does not see d3/f199 as restored right after Extract")
	}
	st := s.Close()
	if st.Files != 201 || st.HardLinks != 1 || st.Errors != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 201 files, 1 hard link, no errors", st)
	}
	for name, data := range want {
		p := filepath.Join(dir, name)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes (%v), want %d", name, len(got), err, len(data))
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o640 {
			t.Fatalf("%s: mtime %v mode %v (%v), want %v 0640", name, fi.ModTime(), fi.Mode(), err, mtime)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "d0/link"))
	b, _ := os.Stat(filepath.Join(dir, "d3/f199"))
	if !os.SameFile(a, b) {
		t.Error("d0/link is not a hard link of d3/f199")
	}
}

// A small file the writer cannot write (the file system is full) is
// reported as failed, counted, and removed; the others stay whole.
func TestExtractParallelWriteFails(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: this test mounts a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	small := []byte("fits")
	big := bytes.Repeat([]byte("x"), 900<<10)
	now := time.Now().Truncate(time.Second)
	stream := entriesOf(t, regular(t, "a", small, now), regular(t, "b", big, now), regular(t, "c", big, now))
	var failed []string
	st, err := Extract(context.Background(), bytes.NewReader(stream), Options{Target: dir, OnError: func(name string, err error) {
		if !errors.Is(err, ErrExists) {
			failed = append(failed, name)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	// b and c are written at the same time: either may be the one that
	// finds the file system full.
	if st.Files != 2 || st.Failed != 1 || len(failed) != 1 || (failed[0] != "b" && failed[0] != "c") {
		t.Fatalf("stats %+v, failed %v: want 2 files and b or c failed", st, failed)
	}
	if _, err := os.Lstat(filepath.Join(dir, failed[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed file %s is still there: %v", failed[0], err)
	}
	other := map[string]string{"b": "c", "c": "b"}[failed[0]]
	if got, err := os.ReadFile(filepath.Join(dir, other)); err != nil || !bytes.Equal(got, big) {
		t.Errorf("%s: %d bytes %v, want %d", other, len(got), err, len(big))
	}
	if got, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || !bytes.Equal(got, small) {
		t.Errorf("a: %q %v", got, err)
	}
}
