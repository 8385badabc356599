package volume

import (
	"context"
	"errors"
	"os"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
)

// rtSparse rewrites the volume file at path with blocks from..to-1 left
// unwritten (a hole) and the file extended with a hole to size bytes; it
// returns the file's size.
func rtSparse(t *testing.T, path string, bs int, from, to int64, size int64) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := int64(bs)
	if _, err := f.WriteAt(data[:from*b], 0); err != nil {
		t.Fatal(err)
	}
	if to*b < int64(len(data)) {
		if _, err := f.WriteAt(data[to*b:], to*b); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(size, int64(len(data)))); err != nil {
		t.Fatal(err)
	}
	return max(size, int64(len(data)))
}

// rtHasHoles skips the test where the file system does not report holes
// (SEEK_DATA): there a sparse file is read like any other.
func rtHasHoles(t *testing.T, m *vtape.Medium) {
	t.Helper()
	if n, _ := m.NextData(m.Blocks() - 1); n == m.Blocks()-1 {
		if os.Getenv("CI") != "" {
			t.Fatalf("the file system of %s does not report holes", m.Name())
		}
		t.Skipf("the file system of %s does not report holes", m.Name())
	}
}

// Issue 8 item 11: the holes of a sparse volume file are damage (a run of
// blocks never written), reported as one run, and not read: a 1 GiB
// volume file of a few blocks of data reads a few blocks.
func TestScanSkipsHoles(t *testing.T) {
	const bs = MinBlockSize
	v, path, _ := rtStandard(t)
	written := v.next // blocks 0..written-1
	if written < 8 {
		t.Fatalf("test volume of %d blocks is too short", written)
	}
	size := rtSparse(t, path, bs, 3, 5, 1<<30)
	m := rtOpen(t, path)
	rtHasHoles(t, m)
	res, err := Scan(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Damage) != 2 {
		t.Fatalf("%d damage reports (first %v): want the hole of blocks 3..4 and the one after block %d", len(res.Damage), res.Damage[:min(3, len(res.Damage))], written-1)
	}
	mid, tail := res.Damage[0], res.Damage[1]
	if mid.Block != 3 || mid.LastBlock() != 4 || !errors.Is(mid.Err, ErrHole) || !errors.Is(mid.Err, ErrBadBlock) {
		t.Fatalf("hole in the middle: %v", mid)
	}
	if tail.Block != written || tail.LastBlock() != size/bs-1 || !errors.Is(tail.Err, ErrHole) {
		t.Fatalf("hole at the end: %v, want blocks %d..%d", tail, written, size/bs-1)
	}
	if !res.TruncatedTail || res.GoodEnd != written {
		t.Fatalf("truncated tail %v, good end %d; want the tail at %d", res.TruncatedTail, res.GoodEnd, written)
	}
	lost := map[int64]bool{}
	for _, o := range res.Objects {
		for _, r := range o.Missing {
			for _, b := range r.Blocks {
				lost[b] = true
			}
		}
	}
	if !lost[3] || !lost[4] || len(lost) != 2 {
		t.Fatalf("objects lost blocks %v, want 3 and 4", lost)
	}
	// Read: the data blocks, and one block at the start of each hole.
	if got, want := m.Stats().BytesRead, (written-2+2)*bs; got > want {
		t.Fatalf("read %d bytes of a %d-byte file, want at most %d", got, size, want)
	}
}

// noHoles hides the medium's NextData, and cancels a context once it has
// read after blocks: a reader that must read a hole block by block.
type noHoles struct {
	m      *vtape.Medium
	after  int64
	cancel context.CancelFunc
}

func (n *noHoles) Name() string              { return n.m.Name() }
func (n *noHoles) BlockSize() int            { return n.m.BlockSize() }
func (n *noHoles) WriteBlock(b []byte) error { return n.m.WriteBlock(b) }
func (n *noHoles) Position() int64           { return n.m.Position() }
func (n *noHoles) Sync() error               { return n.m.Sync() }
func (n *noHoles) Stats() device.Stats       { return n.m.Stats() }
func (n *noHoles) Close() error              { return n.m.Close() }
func (n *noHoles) Locate(b int64) error      { return n.m.Locate(b) }
func (n *noHoles) ReadBlock(b []byte) error {
	err := n.m.ReadBlock(b)
	if n.m.Stats().BlocksRead >= n.after {
		n.cancel()
	}
	return err
}

// Issue 8 item 11: a scan stops soon after its context is cancelled, even
// in a long run of damage (here a hole read block by block): it returns
// context.Canceled, what it found so far, and has read far less than the
// file.
func TestScanStopsWhenCancelled(t *testing.T) {
	const bs = MinBlockSize
	_, path, _ := rtStandard(t)
	const size = 1 << 30
	if err := os.Truncate(path, size); err != nil { // a hole to 1 GiB after the data
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const after = 40
	m := &noHoles{m: rtOpen(t, path), after: after, cancel: cancel}
	res, err := ScanContext(ctx, m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ScanContext after cancel: %v, want context.Canceled", err)
	}
	if res == nil || len(res.Objects) != 3 || len(res.Damage) == 0 {
		t.Fatalf("result of the cancelled scan: %+v", res)
	}
	if got := m.Stats().BytesRead; got > (after+1)*bs || got >= size/100 {
		t.Fatalf("read %d bytes of %d after cancelling at block %d", got, size, after)
	}
	// Without the cancel the scan reads the whole hole; with NextData it
	// skips it (TestScanSkipsHoles).
}
