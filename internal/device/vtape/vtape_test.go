package vtape

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"daisy/internal/device"
)

const tbs = 4096 // block size of most tests

// blockOf returns a block whose bytes all depend on n.
func blockOf(n int, bs int) []byte {
	b := make([]byte, bs)
	for i := range b {
		b[i] = byte(n*31 + i%251)
	}
	return b
}

func create(t testing.TB, o Options) (*Medium, string) {
	t.Helper()
	if o.BlockSize == 0 {
		o.BlockSize = tbs
	}
	path := filepath.Join(t.TempDir(), "vol0001")
	m, err := Create(path, o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, path
}

func writeN(t *testing.T, m *Medium, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := m.WriteBlock(blockOf(i, m.BlockSize())); err != nil {
			t.Fatalf("WriteBlock %d: %v", i, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	m, path := create(t, Options{})
	if m.Name() != path || m.BlockSize() != tbs || m.Position() != 0 {
		t.Fatalf("new medium: name %q block size %d position %d", m.Name(), m.BlockSize(), m.Position())
	}
	writeN(t, m, 0, 5)
	if m.Position() != 5 || m.Blocks() != 5 || m.Size() != 5*tbs {
		t.Fatalf("after 5 writes: position %d blocks %d size %d", m.Position(), m.Blocks(), m.Size())
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := m.Locate(0); err != nil {
		t.Fatalf("Seek 0: %v", err)
	}
	b := make([]byte, tbs)
	for i := 0; i < 5; i++ {
		if m.Position() != int64(i) {
			t.Fatalf("position %d before reading block %d", m.Position(), i)
		}
		if err := m.ReadBlock(b); err != nil {
			t.Fatalf("ReadBlock %d: %v", i, err)
		}
		if !bytes.Equal(b, blockOf(i, tbs)) {
			t.Fatalf("block %d differs from what was written", i)
		}
	}
	if err := m.ReadBlock(b); err != io.EOF {
		t.Fatalf("ReadBlock at the end: %v, want io.EOF", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.ReadBlock(b); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadBlock after Close: %v", err)
	}

	// Reopen: same data, at block 0, appendable at the end.
	m2, err := Open(path, Options{BlockSize: tbs})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer m2.Close()
	if m2.Position() != 0 || m2.Blocks() != 5 {
		t.Fatalf("reopened: position %d blocks %d", m2.Position(), m2.Blocks())
	}
	if err := m2.Locate(3); err != nil {
		t.Fatal(err)
	}
	if err := m2.ReadBlock(b); err != nil || !bytes.Equal(b, blockOf(3, tbs)) {
		t.Fatalf("reopened: block 3: %v", err)
	}
	if err := m2.Locate(5); err != nil {
		t.Fatal(err)
	}
	writeN(t, m2, 5, 1)
	if m2.Blocks() != 6 {
		t.Fatalf("after append: %d blocks", m2.Blocks())
	}
}

func TestBlockSizeChecks(t *testing.T) {
	m, _ := create(t, Options{})
	if err := m.WriteBlock(make([]byte, tbs-1)); err == nil {
		t.Fatalf("WriteBlock of a short block succeeded")
	}
	if err := m.WriteBlock(make([]byte, tbs+1)); err == nil {
		t.Fatalf("WriteBlock of a long block succeeded")
	}
	if m.Size() != 0 {
		t.Fatalf("bad writes left %d bytes", m.Size())
	}
	writeN(t, m, 0, 1)
	m.Locate(0)
	if err := m.ReadBlock(make([]byte, tbs-1)); err == nil {
		t.Fatalf("ReadBlock into a short buffer succeeded")
	}
	dir := t.TempDir()
	for _, o := range []Options{{BlockSize: 0}, {BlockSize: -1}, {BlockSize: MaxBlockSize + 1}, {BlockSize: tbs, Capacity: -1}, {BlockSize: tbs, Capacity: 4*tbs - 1}} {
		if _, err := Create(filepath.Join(dir, "x"), o); err == nil {
			t.Fatalf("Create with %+v succeeded", o)
		}
	}
	if _, err := Create(filepath.Join(dir, "y"), Options{BlockSize: tbs, Capacity: 4 * tbs}); err != nil {
		t.Fatalf("Create with the smallest capacity: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	m, path := create(t, Options{})
	_ = m
	_, err := Create(path, Options{BlockSize: tbs})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	_, err = Create(filepath.Join(t.TempDir(), "no", "such", "vol"), Options{BlockSize: tbs})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Create in a missing directory: %v, want fs.ErrNotExist", err)
	}
	_, err = Open(filepath.Join(t.TempDir(), "missing"), Options{BlockSize: tbs})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := Open(t.TempDir(), Options{BlockSize: tbs}); err == nil {
		t.Fatalf("Open of a directory succeeded")
	}
}

// labelFile writes a file whose first block starts like a daisy label
// header giving block size bs, followed by extra bytes.
func labelFile(t *testing.T, bs int, blocks int) string {
	t.Helper()
	b := make([]byte, bs*blocks)
	copy(b, labelMagic)
	binary.LittleEndian.PutUint32(b[labelSizeField:], uint32(bs))
	path := filepath.Join(t.TempDir(), "labelled")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenBlockSizeFromLabel(t *testing.T) {
	const bs = 64 << 10
	path := labelFile(t, bs, 2)
	m, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if m.BlockSize() != bs || m.Blocks() != 2 {
		t.Fatalf("block size %d blocks %d, want %d and 2", m.BlockSize(), m.Blocks(), bs)
	}
	m.Close()
	if _, err := Open(path, Options{BlockSize: 2 * bs}); err == nil {
		t.Fatalf("Open with a block size other than the label's succeeded")
	}
	m, err = Open(path, Options{BlockSize: bs})
	if err != nil {
		t.Fatalf("Open with the label's block size: %v", err)
	}
	m.Close()

	plain := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(plain, bytes.Repeat([]byte("not a volume "), 10000), 0o600)
	if _, err := Open(plain, Options{}); !errors.Is(err, ErrNoLabel) {
		t.Fatalf("Open of a non-volume without a block size: %v, want ErrNoLabel", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Open(empty, Options{}); !errors.Is(err, ErrNoLabel) {
		t.Fatalf("Open of an empty file without a block size: %v, want ErrNoLabel", err)
	}
	if m, err := Open(empty, Options{BlockSize: tbs}); err != nil || m.Blocks() != 0 {
		t.Fatalf("Open of an empty file with a block size: %v", err)
	}
	// A label header cut short of its block.
	short := labelFile(t, bs, 1)
	os.Truncate(short, bs-1)
	if _, err := Open(short, Options{}); err == nil {
		t.Fatalf("Open of a file shorter than its label block succeeded")
	}
	// A label header with an absurd block size.
	huge := labelFile(t, 4096, 1)
	f, _ := os.OpenFile(huge, os.O_RDWR, 0)
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], 0xffffffff)
	f.WriteAt(v[:], labelSizeField)
	f.Close()
	if _, err := Open(huge, Options{}); !errors.Is(err, ErrNoLabel) {
		t.Fatalf("Open with a label block size of 4 GiB: %v, want ErrNoLabel", err)
	}
}

func TestEarlyWarningAndReserve(t *testing.T) {
	for _, extra := range []int64{0, 100, tbs - 1} {
		// Capacity of 8 blocks (+ extra bytes): 6 blocks before the early
		// warning, 2 in the reserve.
		capacity := 8*tbs + extra
		m, _ := create(t, Options{Capacity: capacity})
		writeN(t, m, 0, 6)
		err := m.WriteBlock(blockOf(6, tbs))
		if !errors.Is(err, device.ErrEndOfMedium) {
			t.Fatalf("extra %d: 7th write: %v, want ErrEndOfMedium", extra, err)
		}
		if m.Size() != 6*tbs || m.Position() != 6 || m.Stats().BlocksWritten != 6 {
			t.Fatalf("extra %d: the early warning wrote something: size %d position %d", extra, m.Size(), m.Position())
		}
		writeN(t, m, 6, 2) // the reserve
		for i := 0; i < 2; i++ {
			if err := m.WriteBlock(blockOf(8, tbs)); !errors.Is(err, device.ErrFull) {
				t.Fatalf("extra %d: write past the reserve: %v, want ErrFull", extra, err)
			}
		}
		if m.Size() != 8*tbs || m.Size() > capacity {
			t.Fatalf("extra %d: size %d after ErrFull", extra, m.Size())
		}
		// Truncating back before the early warning re-arms it.
		if err := m.Truncate(2); err != nil {
			t.Fatal(err)
		}
		writeN(t, m, 2, 4)
		if err := m.WriteBlock(blockOf(6, tbs)); !errors.Is(err, device.ErrEndOfMedium) {
			t.Fatalf("extra %d: after truncate: %v, want ErrEndOfMedium again", extra, err)
		}
	}
}

func TestEarlyWarningAfterReopen(t *testing.T) {
	m, path := create(t, Options{Capacity: 6 * tbs})
	writeN(t, m, 0, 4)
	if err := m.WriteBlock(blockOf(4, tbs)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("5th write: %v", err)
	}
	m.Close()
	// A medium mounted again past its early-warning point warns again on
	// the first write, like a drive.
	m2, err := Open(path, Options{BlockSize: tbs, Capacity: 6 * tbs})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	m2.Locate(m2.Blocks())
	if err := m2.WriteBlock(blockOf(4, tbs)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("first write after reopen: %v", err)
	}
	writeN(t, m2, 4, 2)
	if err := m2.WriteBlock(blockOf(6, tbs)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("write past the reserve: %v", err)
	}
}

func TestPartialTail(t *testing.T) {
	m, path := create(t, Options{})
	writeN(t, m, 0, 3)
	m.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(blockOf(3, tbs)[:100])
	f.Close()

	m, err = Open(path, Options{BlockSize: tbs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Blocks() != 4 {
		t.Fatalf("Blocks %d, want 4 (3 and a partial one)", m.Blocks())
	}
	b := make([]byte, tbs)
	for i := 0; i < 3; i++ {
		if err := m.ReadBlock(b); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	for i := range b {
		b[i] = 0xee
	}
	if err := m.ReadBlock(b); err != io.ErrUnexpectedEOF {
		t.Fatalf("partial block: %v, want io.ErrUnexpectedEOF", err)
	}
	if !bytes.Equal(b[:100], blockOf(3, tbs)[:100]) || !bytes.Equal(b[100:], make([]byte, tbs-100)) {
		t.Fatalf("partial block: bytes read are not the partial data followed by zeros")
	}
	if err := m.ReadBlock(b); err != io.EOF {
		t.Fatalf("after the partial block: %v, want io.EOF", err)
	}
	st := m.Stats()
	if st.BlocksRead != 3 || st.BytesRead != 3*tbs+100 {
		t.Fatalf("stats %+v", st)
	}
	// No write on a partial tail: cut it first.
	for _, pos := range []int64{3, 4} {
		m.Locate(pos)
		if err := m.WriteBlock(blockOf(3, tbs)); err == nil {
			t.Fatalf("write at block %d after a partial tail succeeded", pos)
		}
	}
	if err := m.Truncate(3); err != nil {
		t.Fatal(err)
	}
	writeN(t, m, 3, 1)
	if fi, _ := os.Stat(path); fi.Size() != 4*tbs {
		t.Fatalf("file of %d bytes after cut and append", fi.Size())
	}
}

func TestTruncate(t *testing.T) {
	m, path := create(t, Options{})
	writeN(t, m, 0, 5)
	if err := m.Truncate(6); err == nil {
		t.Fatalf("Truncate beyond the end succeeded")
	}
	if err := m.Truncate(-1); err == nil {
		t.Fatalf("Truncate(-1) succeeded")
	}
	if err := m.Truncate(5); err != nil {
		t.Fatalf("Truncate at the end: %v", err)
	}
	if err := m.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if m.Position() != 2 || m.Blocks() != 2 || m.Size() != 2*tbs {
		t.Fatalf("after Truncate(2): position %d blocks %d size %d", m.Position(), m.Blocks(), m.Size())
	}
	if fi, _ := os.Stat(path); fi.Size() != 2*tbs {
		t.Fatalf("file of %d bytes after Truncate(2)", fi.Size())
	}
	writeN(t, m, 20, 1) // becomes block 2
	m.Locate(0)
	b := make([]byte, tbs)
	for i, want := range []int{0, 1, 20} {
		if err := m.ReadBlock(b); err != nil || !bytes.Equal(b, blockOf(want, tbs)) {
			t.Fatalf("block %d after truncate and write: %v", i, err)
		}
	}
	if err := m.ReadBlock(b); err != io.EOF {
		t.Fatalf("end after truncate: %v", err)
	}
}

func TestWriteOnlyAtEnd(t *testing.T) {
	m, _ := create(t, Options{})
	writeN(t, m, 0, 3)
	m.Locate(1)
	if err := m.WriteBlock(blockOf(9, tbs)); err == nil {
		t.Fatalf("write in the middle of the data succeeded")
	}
	m.Locate(0)
	b := make([]byte, tbs)
	for i := 0; i < 3; i++ {
		if err := m.ReadBlock(b); err != nil || !bytes.Equal(b, blockOf(i, tbs)) {
			t.Fatalf("block %d changed by a refused write: %v", i, err)
		}
	}
	if m.Stats().BlocksWritten != 3 {
		t.Fatalf("stats count a refused write: %+v", m.Stats())
	}
}

func TestSeek(t *testing.T) {
	m, _ := create(t, Options{})
	writeN(t, m, 0, 3)
	for _, n := range []int64{-1, 4, 1 << 40} {
		if err := m.Locate(n); err == nil {
			t.Fatalf("Seek(%d) on 3 blocks succeeded", n)
		}
	}
	if m.Position() != 3 {
		t.Fatalf("a failed Seek moved the medium to %d", m.Position())
	}
	if err := m.Locate(3); err != nil {
		t.Fatalf("Seek to the end: %v", err)
	}
	if err := m.ReadBlock(make([]byte, tbs)); err != io.EOF {
		t.Fatalf("read at the end: %v", err)
	}
	if err := m.Locate(2); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, tbs)
	if err := m.ReadBlock(b); err != nil || !bytes.Equal(b, blockOf(2, tbs)) {
		t.Fatalf("read after Seek(2): %v", err)
	}
}

func TestStatsExact(t *testing.T) {
	m, _ := create(t, Options{Capacity: 8 * tbs})
	writeN(t, m, 0, 6)
	m.WriteBlock(blockOf(6, tbs)) // early warning: not counted
	m.Locate(1)
	m.WriteBlock(blockOf(6, tbs)) // refused: not counted
	want := device.Stats{BytesWritten: 6 * tbs, BlocksWritten: 6}
	if st := m.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	b := make([]byte, tbs)
	m.Locate(2)
	for i := 0; i < 3; i++ {
		m.ReadBlock(b)
	}
	m.Locate(6)
	m.ReadBlock(b) // EOF: not counted
	want.BytesRead, want.BlocksRead = 3*tbs, 3
	if st := m.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func TestClosed(t *testing.T) {
	m, _ := create(t, Options{})
	writeN(t, m, 0, 1)
	m.Close()
	for name, err := range map[string]error{
		"write":    m.WriteBlock(blockOf(1, tbs)),
		"seek":     m.Locate(0),
		"truncate": m.Truncate(0),
		"sync":     m.Sync(),
		"close":    m.Close(),
	} {
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("%s after Close: %v", name, err)
		}
	}
}

func BenchmarkWriteBlock(b *testing.B) {
	for _, bs := range []int{256 << 10, 1 << 20} {
		b.Run(sizeName(bs), func(b *testing.B) {
			m, _ := create(b, Options{BlockSize: bs})
			blk := blockOf(1, bs)
			b.SetBytes(int64(bs))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%256 == 255 { // keep the file small: cut it back
					b.StopTimer()
					if err := m.Truncate(0); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if err := m.WriteBlock(blk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadBlock(b *testing.B) {
	for _, bs := range []int{256 << 10, 1 << 20} {
		b.Run(sizeName(bs), func(b *testing.B) {
			m, _ := create(b, Options{BlockSize: bs})
			const n = 64
			for i := 0; i < n; i++ {
				if err := m.WriteBlock(blockOf(i, bs)); err != nil {
					b.Fatal(err)
				}
			}
			blk := make([]byte, bs)
			m.Locate(0)
			b.SetBytes(int64(bs))
			b.ResetTimer()
			for b.Loop() {
				if m.Position() == n {
					m.Locate(0)
				}
				if err := m.ReadBlock(blk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(bs int) string {
	if bs >= 1<<20 {
		return fmt.Sprintf("%dMiB", bs>>20)
	}
	return fmt.Sprintf("%dKiB", bs>>10)
}
