package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// tarOf returns a tar stream of regular files, name -> content.
func tarOf(t *testing.T, files map[string][]byte, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Large files are written with O_DIRECT (issue 9, restore speed), and come
// out identical whatever their size's alignment, with their runs of zeros
// still holes; small ones and every file with Buffered go through the page
// cache.
func TestExtractDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	withHole := random(3 << 20)
	clear(withHole[1<<20 : 2<<20])
	files := map[string][]byte{
		"aligned":   random(2 << 20),
		"unaligned": random(DirectMin + 12345),
		"hole":      withHole,
		"tail-hole": append(random(DirectMin), make([]byte, 200<<10)...),
		"small":     random(DirectMin - 1),
	}
	names := []string{"aligned", "unaligned", "hole", "tail-hole", "small"}
	stream := tarOf(t, files, names...)
	var large int64
	for _, n := range names[:4] {
		large += int64(len(files[n]))
	}
	// The runs of zeros are not written at all.
	large -= 1<<20 + 200<<10

	for _, buffered := range []bool{false, true} {
		target := t.TempDir()
		st, err := Extract(context.Background(), &chunkReader{data: stream, n: 70000}, Options{Target: target, Buffered: buffered})
		if err != nil || st.Files != int64(len(names)) || st.Errors != 0 {
			t.Fatalf("buffered %v: Extract: %v, %+v", buffered, err, st)
		}
		want := large
		if buffered {
			want = 0
		}
		// The unaligned tails are written through the page cache.
		if st.DirectBytes > want || st.DirectBytes < want-2*directAlign {
			t.Errorf("buffered %v: %d bytes written directly, want %d less the unaligned tails", buffered, st.DirectBytes, want)
		}
		for _, n := range names {
			got, err := os.ReadFile(filepath.Join(target, n))
			if err != nil || !bytes.Equal(got, files[n]) {
				t.Fatalf("buffered %v: %s: %d bytes (%v), differs from the %d archived", buffered, n, len(got), err, len(files[n]))
			}
		}
		if a := allocated(t, filepath.Join(target, "hole")); a > 2<<20+64<<10 {
			t.Errorf("buffered %v: the file with a 1 MiB hole takes %d bytes on disk", buffered, a)
		}
	}
}

// A file system that refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE
// file systems), or refuses a write for its alignment, gets buffered writes
// and the same content, and the session stops asking for O_DIRECT.
func TestExtractDirectRefused(t *testing.T) {
	big := bytes.Repeat([]byte("daisy "), DirectMin/3)
	stream := tarOf(t, map[string][]byte{"a": big, "b": big, "c": big}, "a", "b", "c")
	check := func(what string, dir string, st Stats, err error) {
		t.Helper()
		if err != nil || st.Files != 3 || st.Errors != 0 || st.DirectBytes != 0 {
			t.Fatalf("%s: Extract: %v, %+v", what, err, st)
		}
		for _, n := range []string{"a", "b", "c"} {
			got, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("%s: %s: %d bytes (%v), want %d", what, n, len(got), err, len(big))
			}
		}
	}
	defer func(s func(int, bool) error, w func(*os.File, []byte, int64) (int, error)) {
		setDirect, writeDirect = s, w
	}(setDirect, writeDirect)

	asked := 0
	setDirect = func(fd int, on bool) error {
		if on {
			asked++
			return unix.EINVAL
		}
		return fcntlDirect(fd, on)
	}
	dir := t.TempDir()
	st, err := Extract(context.Background(), bytes.NewReader(stream), Options{Target: dir})
	check("open refused", dir, st, err)
	if asked != 1 {
		t.Errorf("O_DIRECT asked for %d times after it was refused once, want 1", asked)
	}

	setDirect = fcntlDirect
	writes := 0
	writeDirect = func(f *os.File, p []byte, off int64) (int, error) {
		writes++
		return 0, unix.EINVAL
	}
	dir = t.TempDir()
	st, err = Extract(context.Background(), bytes.NewReader(stream), Options{Target: dir})
	check("write refused", dir, st, err)
	if writes != 1 {
		t.Errorf("%d direct writes tried after the first was refused, want 1", writes)
	}
}
