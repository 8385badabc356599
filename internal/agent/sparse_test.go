package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// chunk is data written at an offset of a sparse test file.
type chunk struct {
	off int64
	n   int
}

// makeSparse creates path of the given size with random data in chunks
// and holes elsewhere, and returns its content.
func makeSparse(t *testing.T, path string, size int64, chunks ...chunk) []byte {
	t.Helper()
	want := make([]byte, size)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(size), uint64(len(chunks))))
	for _, c := range chunks {
		b := want[c.off : c.off+int64(c.n)]
		for i := range b {
			b[i] = byte(rng.UintN(255)) + 1 // never a zero byte
		}
		if _, err := f.WriteAt(b, c.off); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	var data int64
	for _, c := range chunks {
		data += int64(c.n)
	}
	if size-data >= 64<<10 && st.Blocks*512 >= size {
		t.Fatalf("the file system of %s keeps no holes (%d blocks for %d bytes): the sparse tests need one that does (ext4, xfs, tmpfs...)", path, st.Blocks, size)
	}
	return want
}

// firstFile reads the stream and returns the header and content of its
// first regular file.
func firstFile(t *testing.T, data []byte) (*tar.Header, []byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		if _, err := tr.Next(); err != io.EOF {
			// The file is alone in the tests' streams.
			t.Fatalf("after %s: %v, want the end of the stream", h.Name, err)
		}
		return h, b
	}
}

func isSparseEntry(h *tar.Header) bool {
	return h.PAXRecords["GNU.sparse.major"] == "1" && h.PAXRecords["GNU.sparse.minor"] == "0"
}

// archiveFile archives the one file path and returns the stream and its
// one entry.
func archiveFile(t *testing.T, path string) (result, Entry) {
	t.Helper()
	res := run(t, Options{Paths: []string{path}})
	if len(res.entries) != 1 {
		t.Fatalf("%d entries, want 1", len(res.entries))
	}
	return res, res.entries[0]
}

// gnuTar extracts the stream with GNU tar into a new directory and returns
// it. The sparse format is written for GNU tar: without it the test
// cannot run, which fails in CI.
func gnuTar(t *testing.T, data []byte) string {
	t.Helper()
	out, err := exec.Command("tar", "--version").Output()
	if err != nil || !strings.Contains(string(out), "GNU tar") {
		if os.Getenv("CI") != "" {
			t.Fatalf("GNU tar is needed: tar --version: %v %s", err, out)
		}
		t.Skipf("no GNU tar: %v %s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command("tar", "-xf", "-", "-C", dir)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	return dir
}

// checkSparseFile checks that path holds want and no more than alloc bytes
// of data blocks.
func checkSparseFile(t *testing.T, path string, want []byte, alloc int64) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the %d bytes of the original (first difference at %d)", path, len(got), len(want), firstDiff(got, want))
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > alloc {
		t.Fatalf("%s takes %d bytes on disk, want at most %d: its holes were filled", path, st.Blocks*512, alloc)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Issue 9, Space: a file with holes is stored as a GNU sparse 1.0 entry
// whose map is what SEEK_DATA/SEEK_HOLE found; Go's reader and GNU tar give
// back the file, its real name and size, with its holes.
func TestSparseMap(t *testing.T) {
	root := t.TempDir()
	p := root + "/f"
	const size = 16 << 20
	chunks := []chunk{{0, 64 << 10}, {1 << 20, 128 << 10}, {5 << 20, 64 << 10}, {9<<20 + 64<<10, 192 << 10}}
	want := makeSparse(t, p, size, chunks...)
	mtime := time.Unix(1700000000, 123456789)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}

	fd, err := unix.Open(p, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := findSparse(fd, size)
	if off, _ := unix.Seek(fd, 0, unix.SEEK_CUR); off != 0 {
		t.Fatalf("findSparse left the file offset at %d", off)
	}
	unix.Close(fd)
	if m == nil {
		t.Fatal("findSparse: not sparse")
	}
	var wantRegions []region
	for _, c := range chunks {
		wantRegions = append(wantRegions, region{c.off, c.off + int64(c.n)})
	}
	if !slices.Equal(m.regions, wantRegions) {
		t.Fatalf("regions %v, want %v", m.regions, wantRegions)
	}

	res, e := archiveFile(t, p)
	if e.Size != size || e.Name != p[1:] || e.Offset != 0 {
		t.Fatalf("entry %+v: want the real name and size at offset 0", e)
	}
	// The map (one block), the data and the headers, no holes.
	if n := int64(len(res.data)); n > 512*1024+8*1024 {
		t.Fatalf("stream of %d bytes for 512 KiB of data", n)
	}
	if !bytes.Contains(res.data, []byte(filepath.Dir(p[1:])+"/GNUSparseFile.0/f\x00")) {
		t.Fatal("no ustar header named DIR/GNUSparseFile.0/f")
	}
	h, got := firstFile(t, res.data)
	if !isSparseEntry(h) || h.Name != p[1:] || h.Size != size || h.PAXRecords["GNU.sparse.realsize"] != "16777216" {
		t.Fatalf("header %q size %d records %v", h.Name, h.Size, h.PAXRecords)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("content differs at %d", firstDiff(got, want))
	}
	if h.Mode != 0o640 || h.Uid != os.Getuid() || !h.ModTime.Equal(mtime) {
		t.Fatalf("mode %o uid %d mtime %v, want %v", h.Mode, h.Uid, h.ModTime, mtime)
	}
	checkSparseFile(t, filepath.Join(gnuTar(t, res.data), p), want, 1<<20)
}

// A file that is one hole: a map of one empty region at its size.
func TestSparseAllHole(t *testing.T) {
	root := t.TempDir()
	p := root + "/hole"
	want := makeSparse(t, p, 3<<20+700)
	res, e := archiveFile(t, p)
	if e.Size != int64(len(want)) {
		t.Fatalf("entry size %d", e.Size)
	}
	if len(res.data) > 4*512+1024 {
		t.Fatalf("stream of %d bytes for a file without data", len(res.data))
	}
	h, got := firstFile(t, res.data)
	if !isSparseEntry(h) || h.Size != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("header %q size %d, %d bytes read", h.Name, h.Size, len(got))
	}
	checkSparseFile(t, filepath.Join(gnuTar(t, res.data), p), want, 0)
}

// Data up to the end of a file whose size is no multiple of 512: the last
// region ends at the size, and no empty region follows.
func TestSparseDataAtEnd(t *testing.T) {
	root := t.TempDir()
	p := root + "/tail"
	const size = 4<<20 + 1000
	want := makeSparse(t, p, size, chunk{size - 70000, 70000})
	res, _ := archiveFile(t, p)
	h, got := firstFile(t, res.data)
	if !isSparseEntry(h) || h.Size != size || !bytes.Equal(got, want) {
		t.Fatalf("header %q size %d sparse %v, content differs at %d", h.Name, h.Size, isSparseEntry(h), firstDiff(got, want))
	}
	fd, err := unix.Open(p, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	m := findSparse(fd, size)
	if m == nil || m.regions[len(m.regions)-1].end != size {
		t.Fatalf("map %+v: the last region should end at the size", m)
	}
	if spmap := string(m.mapBytes(nil)); strings.Count(strings.TrimRight(spmap, "\x00"), "\n") != 1+2*len(m.regions) {
		t.Fatalf("map %q has an entry more than its regions", spmap)
	}
	checkSparseFile(t, filepath.Join(gnuTar(t, res.data), p), want, 128<<10)
}

// Small files, files without holes, and files whose holes are fewer than
// sparseMinHoles bytes are written as before: a plain entry.
func TestSparseThreshold(t *testing.T) {
	root := t.TempDir()
	dense := bytes.Repeat([]byte("dense"), 300000)
	write(t, root+"/dense", string(dense), 0o644)
	makeSparse(t, root+"/small", 6000, chunk{0, 100}) // a hole of 1904 bytes at most
	res := run(t, Options{Paths: []string{root}})
	tr := tar.NewReader(bytes.NewReader(res.data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if isSparseEntry(h) || bytes.Contains(res.data, []byte("GNU.sparse")) {
			t.Fatalf("%s: pax records %v, want a plain entry", h.Name, h.PAXRecords)
		}
	}
	// Byte for byte what archive/tar writes for the same header.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var st unix.Stat_t
	if err := unix.Stat(root+"/dense", &st); err != nil {
		t.Fatal(err)
	}
	var a archiver
	a.users, a.groups = map[int]string{}, map[int]string{}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: root[1:] + "/dense", Mode: 0o644, Uid: int(st.Uid), Gid: int(st.Gid),
		Uname: a.uname(int(st.Uid)), Gname: a.gname(int(st.Gid)), ModTime: time.Unix(st.Mtim.Unix()), Size: int64(len(dense)), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write(dense)
	tw.Flush()
	off := res.entries[1].Offset
	if res.entries[1].Name != hdr.Name || !bytes.Equal(res.data[off:off+int64(buf.Len())], buf.Bytes()) {
		t.Fatalf("entry %s is not archive/tar's plain entry", res.entries[1].Name)
	}
}

// A file system that cannot tell data from holes: the file is stored as
// plain data, also when lseek treats it all as data (the generic
// implementation).
func TestSparseNoSeekData(t *testing.T) {
	root := t.TempDir()
	p := root + "/f"
	want := makeSparse(t, p, 2<<20, chunk{1 << 20, 4096})
	for name, fake := range map[string]func(int, int64, int) (int64, error){
		"EINVAL": func(fd int, off int64, whence int) (int64, error) {
			if whence == unix.SEEK_DATA || whence == unix.SEEK_HOLE {
				return 0, unix.EINVAL
			}
			return unix.Seek(fd, off, whence)
		},
		"all data": func(fd int, off int64, whence int) (int64, error) {
			switch whence {
			case unix.SEEK_DATA:
				return unix.Seek(fd, off, unix.SEEK_SET)
			case unix.SEEK_HOLE:
				return unix.Seek(fd, 0, unix.SEEK_END)
			}
			return unix.Seek(fd, off, whence)
		},
	} {
		t.Run(name, func(t *testing.T) {
			lseek = fake
			defer func() { lseek = unix.Seek }()
			res, e := archiveFile(t, p)
			h, got := firstFile(t, res.data)
			if isSparseEntry(h) || e.Size != int64(len(want)) || int64(len(res.data)) < e.Size || !bytes.Equal(got, want) {
				t.Fatalf("sparse %v, entry size %d, stream %d bytes: want a plain entry", isSparseEntry(h), e.Size, len(res.data))
			}
			if len(res.errs) > 0 {
				t.Fatalf("errors %v", res.errs)
			}
		})
	}
}

// A sparse file that changes size while it is read: the entry keeps the
// size of its header, a file that shrank is padded with zeros, and the
// change is reported as for a plain file.
func TestSparseChangedSize(t *testing.T) {
	const size = 4 << 20
	chunks := []chunk{{0, 8192}, {1 << 20, 256 << 10}, {3 << 20, 4096}}
	t.Run("header", func(t *testing.T) {
		for _, delta := range []int64{+1 << 20, -(1 << 20) - 1000, -5} {
			root := t.TempDir()
			content := makeSparse(t, root+"/f", size, chunks...)
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
			a := testArchiver(&buf, func(_ string, err error) { reported = err })
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
			h, got := firstFile(t, buf.Bytes())
			want := content
			if delta > 0 {
				want = append(want, make([]byte, delta)...)
			} else {
				want = want[:size+delta]
			}
			if !isSparseEntry(h) || h.Size != st.Size || !bytes.Equal(got, want) {
				t.Fatalf("delta %d: sparse %v, header size %d, content %d bytes differs at %d", delta, isSparseEntry(h), h.Size, len(got), firstDiff(got, want))
			}
		}
	})
	t.Run("truncated after the map", func(t *testing.T) {
		root := t.TempDir()
		p := root + "/f"
		content := makeSparse(t, p, size, chunks...)
		cut := int64(1<<20 + 100000)
		lseek = func(fd int, off int64, whence int) (int64, error) {
			if whence == unix.SEEK_SET { // findSparse is done with the map
				if err := os.Truncate(p, cut); err != nil {
					return 0, err
				}
			}
			return unix.Seek(fd, off, whence)
		}
		defer func() { lseek = unix.Seek }()
		res, e := archiveFile(t, p)
		if !errors.Is(res.errs[p], ErrFileChanged) || !strings.Contains(res.errs[p].Error(), "shrank") {
			t.Fatalf("reported %v, want ErrFileChanged (shrank)", res.errs[p])
		}
		h, got := firstFile(t, res.data)
		want := slices.Clone(content)
		clear(want[cut:])
		if !isSparseEntry(h) || h.Size != size || e.Size != size || !bytes.Equal(got, want) {
			t.Fatalf("sparse %v, header size %d, content differs at %d", isSparseEntry(h), h.Size, firstDiff(got, want))
		}
	})
}

func testArchiver(w io.Writer, onError func(string, error)) *archiver {
	a := &archiver{
		ctx:    context.Background(),
		opts:   Options{OnError: onError},
		users:  map[int]string{},
		groups: map[int]string{},
		links:  map[fileID]string{},
		buf:    make([]byte, 64<<10), // several reads per region
	}
	a.cw = &countingWriter{w: w}
	a.tw = tar.NewWriter(a.cw)
	return a
}

// More data regions than the map may hold: the holes up to the last one
// are kept, the rest is stored as data.
func TestSparseMapBounded(t *testing.T) {
	old := maxSparseRegions
	maxSparseRegions = 3
	defer func() { maxSparseRegions = old }()
	root := t.TempDir()
	p := root + "/f"
	var chunks []chunk
	for i := range int64(6) {
		chunks = append(chunks, chunk{i << 20, 4096})
	}
	want := makeSparse(t, p, 6<<20+4096, chunks...)
	res, _ := archiveFile(t, p)
	h, got := firstFile(t, res.data)
	if !isSparseEntry(h) || !bytes.Equal(got, want) {
		t.Fatalf("sparse %v, content differs at %d", isSparseEntry(h), firstDiff(got, want))
	}
	// Two regions of 4 KiB, then the rest from 2 MiB on as data.
	if n := len(res.data); n < 4<<20 || n > 4<<20+64<<10 {
		t.Fatalf("stream of %d bytes, want about 4 MiB", n)
	}
}

// Long names, long owner names and xattrs go into the pax header of a
// sparse entry as they would for a plain one.
func TestSparseLongNameAndXattrs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, strings.Repeat("d", 120), "é")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, strings.Repeat("n", 90))
	want := makeSparse(t, p, 1<<20, chunk{64 << 10, 4096})
	xattr := unix.Setxattr(p, "user.daisy", []byte("v\x00binary"), 0) == nil
	res, _ := archiveFile(t, p)
	h, got := firstFile(t, res.data)
	if !isSparseEntry(h) || h.Name != p[1:] || !bytes.Equal(got, want) {
		t.Fatalf("sparse %v, name %q", isSparseEntry(h), h.Name)
	}
	if xattr && h.PAXRecords["SCHILY.xattr.user.daisy"] != "v\x00binary" {
		t.Fatalf("xattr %q", h.PAXRecords["SCHILY.xattr.user.daisy"])
	}
	checkSparseFile(t, filepath.Join(gnuTar(t, res.data), p), want, 64<<10)
}

func TestPAXTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(5, 0), "5"},
		{time.Unix(5, 500000000), "5.5"},
		{time.Unix(1796165012, 1765998), "1796165012.001765998"},
		{time.Unix(-2, 750000000), "-1.25"},
	} {
		if got := paxTime(tc.t); got != tc.want {
			t.Errorf("paxTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestAppendPAXRecord(t *testing.T) {
	for _, n := range []int{0, 1, 4, 5, 6, 90, 93, 94, 95, 96, 990, 994, 995, 996} {
		v := strings.Repeat("v", n)
		rec := string(appendPAXRecord(nil, "k", v))
		num, _, _ := strings.Cut(rec, " ")
		if l, err := strconv.Atoi(num); err != nil || l != len(rec) {
			t.Fatalf("record %q...: length %s, is %d bytes", rec[:min(len(rec), 20)], num, len(rec))
		}
	}
}

// A second link to a sparse file is a hard link entry, as for any file.
func TestSparseHardLink(t *testing.T) {
	root := t.TempDir()
	want := makeSparse(t, root+"/a", 2<<20, chunk{1 << 20, 4096})
	if err := os.Link(root+"/a", root+"/b"); err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Paths: []string{root + "/a", root + "/b"}})
	if len(res.entries) != 2 || res.entries[1].Type != tar.TypeLink || res.entries[1].LinkName != res.entries[0].Name {
		t.Fatalf("entries %+v", res.entries)
	}
	tr := tar.NewReader(bytes.NewReader(res.data))
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(tr)
	if err != nil || !isSparseEntry(h) || !bytes.Equal(got, want) {
		t.Fatalf("first entry: sparse %v, %v", isSparseEntry(h), err)
	}
	if h, err = tr.Next(); err != nil || h.Typeflag != tar.TypeLink || h.Linkname != res.entries[0].Name {
		t.Fatalf("second entry %+v: %v", h, err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("after the link: %v", err)
	}
}
