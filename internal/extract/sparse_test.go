package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/agent"

	"golang.org/x/sys/unix"
)

// sparseFile creates path of size bytes with random data at the given
// 4 KiB-aligned offsets (4 KiB each) and holes elsewhere, and returns its
// content.
func sparseFile(t *testing.T, path string, size int64, offs ...int64) []byte {
	t.Helper()
	want := make([]byte, size)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	for _, off := range offs {
		b := want[off : off+4096]
		for i := range b {
			b[i] = byte(rng.UintN(255)) + 1
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	// On the disk, so that its allocation counts the blocks the file
	// system adds at writeback (an extent tree block for more than four
	// extents on ext4), as a restored file written with O_DIRECT has them
	// at once.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > int64(len(offs))*4096+64<<10 {
		t.Fatalf("the file system of %s keeps no holes (%d blocks): the sparse tests need one that does", path, st.Blocks)
	}
	return want
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// Issue 9, Space: the agent's sparse entries read back with their real
// names, sizes and offsets (extract.Entries, as the catalog rebuild reads
// them), and a restore keeps their holes, 4 KiB ones included, whether it
// reads the stream through or starts at the entry's offset.
func TestExtractSparseEntries(t *testing.T) {
	src := t.TempDir()
	// Data and 4 KiB holes in turn, a larger hole, data, a hole at the end.
	offs := []int64{0, 8192, 16384, 1 << 20, 1<<20 + 8192}
	want := sparseFile(t, src+"/a", 3<<20, offs...)
	mustWrite(t, src+"/b", []byte("plain"), 0o644)
	var buf bytes.Buffer
	var ents []agent.Entry
	if _, err := agent.Archive(context.Background(), &buf, agent.Options{
		Paths:   []string{src},
		OnEntry: func(e agent.Entry) { ents = append(ents, e) },
		OnError: func(p string, err error) { t.Errorf("%s: %v", p, err) },
	}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 64<<10 {
		t.Fatalf("stream of %d bytes for 20 KiB of data", buf.Len())
	}
	i := 0
	err := Entries(bytes.NewReader(buf.Bytes()), func(_ *tar.Reader, h *tar.Header, off int64) error {
		e := ents[i]
		i++
		if h.Name != e.Name || h.Size != e.Size || off != e.Offset {
			t.Errorf("entry %q size %d at %d, the agent wrote %q size %d at %d", h.Name, h.Size, off, e.Name, e.Size, e.Offset)
		}
		return nil
	})
	if err != nil || i != len(ents) {
		t.Fatalf("Entries: %v after %d of %d entries", err, i, len(ents))
	}

	target := t.TempDir()
	st, err := Extract(context.Background(), &chunkReader{data: buf.Bytes(), n: 5000}, Options{Target: target})
	if err != nil || st.Files != 2 || st.Errors != 0 {
		t.Fatalf("Extract: %v, %+v", err, st)
	}
	restored := filepath.Join(target, src, "a")
	checkRestored(t, restored, want, allocated(t, src+"/a"))

	// From the entry's offset, as a restore of a few files does.
	var a agent.Entry
	for _, e := range ents {
		if e.Name == strings.TrimPrefix(src, "/")+"/a" {
			a = e
		}
	}
	one := t.TempDir()
	s, err := Open(Options{Target: one})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExtractOne(context.Background(), bytes.NewReader(buf.Bytes()[a.Offset:]), a.Name); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkRestored(t, filepath.Join(one, src, "a"), want, allocated(t, src+"/a"))
}

func checkRestored(t *testing.T, path string, want []byte, alloc int64) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, differs from the original's %d", path, len(got), len(want))
	}
	if n := allocated(t, path); n > alloc {
		t.Fatalf("%s takes %d bytes on disk, the original %d: holes were filled", path, n, alloc)
	}
}

// An archive of GNU tar's own sparse 1.0 format restores with its holes.
func TestExtractGNUTarSparse(t *testing.T) {
	if out, err := exec.Command("tar", "--version").Output(); err != nil || !strings.Contains(string(out), "GNU tar") {
		if os.Getenv("CI") != "" {
			t.Fatalf("GNU tar is needed: tar --version: %v %s", err, out)
		}
		t.Skipf("no GNU tar: %v %s", err, out)
	}
	src := t.TempDir()
	want := sparseFile(t, src+"/g", 2<<20+300, 4096, 1<<20)
	cmd := exec.Command("tar", "--format=pax", "--sparse", "--sparse-version=1.0", "-cf", "-", "-C", src, "g")
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("tar -c: %v", err)
	}
	target := t.TempDir()
	if _, err := Extract(context.Background(), bytes.NewReader(data), Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, target+"/g", want, allocated(t, src+"/g"))
	var names []string
	if err := Entries(bytes.NewReader(data), func(_ *tar.Reader, h *tar.Header, _ int64) error {
		names = append(names, h.Name)
		if h.Size != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", h.Name, h.Size, len(want))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "g" {
		t.Fatalf("names %q", names)
	}
}
