package tape_test

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"daisy/internal/device"
	"daisy/internal/device/tape"
	"daisy/internal/device/tape/sttest"
)

const bs = 4096

// block returns a block that looks like daisy's: the label magic and the
// block size at their places, n and tag to tell it apart.
func block(n int64, tag byte) []byte {
	b := make([]byte, bs)
	copy(b, "DSY1")
	binary.LittleEndian.PutUint64(b[24:], uint64(n))
	binary.LittleEndian.PutUint32(b[40:], bs)
	b[64] = tag
	return b
}

func shelf(t *testing.T, capacity, ew int64) *sttest.Shelf {
	t.Helper()
	s := sttest.NewShelf(t.TempDir())
	if err := s.AddCartridge("A1", capacity, ew); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(0, "A1"); err != nil {
		t.Fatal(err)
	}
	return s
}

func mount(t *testing.T, s *sttest.Shelf, write bool, size int) *tape.Medium {
	t.Helper()
	d, err := s.Open("/dev/nst0", write)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tape.Mount(d, "A1", write, size)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	return m
}

func writeBlocks(t *testing.T, m device.Medium, from, to int64, tag byte) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := m.WriteBlock(block(n, tag)); err != nil {
			t.Fatalf("write block %d: %v", n, err)
		}
	}
}

func TestIoctlNumbers(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the numbers below are those of 64-bit Linux")
	}
	if tape.MTIOCTOP != 0x40086d01 || tape.MTIOCGET != 0x80306d02 || tape.MTIOCPOS != 0x80086d03 {
		t.Fatalf("MTIOCTOP %#x MTIOCGET %#x MTIOCPOS %#x, want 0x40086d01 0x80306d02 0x80086d03", tape.MTIOCTOP, tape.MTIOCGET, tape.MTIOCPOS)
	}
}

// Two sessions, each ended by a filemark; a read passes over them and
// Locate finds a block of the second session by its volume number.
func TestSessionsAndLocate(t *testing.T) {
	s := shelf(t, 1<<30, 1<<29)
	d, err := s.Open("/dev/nst0", true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tape.Format(d, "A1", bs, true)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 5, 1)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = mount(t, s, true, 0)
	if m.BlockSize() != bs || m.Blocks() != 5 || m.Filemarks() != 1 {
		t.Fatalf("remounted: block size %d, %d blocks, %d filemarks", m.BlockSize(), m.Blocks(), m.Filemarks())
	}
	if err := m.WriteBlock(block(0, 9)); err == nil {
		t.Fatal("a write at block 0 of a volume of 5 blocks succeeded")
	}
	if err := m.Locate(5); err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 5, 8, 2)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Cartridge("A1")
	if c.Blocks() != 8 || c.Filemarks() != 2 || c.Objects[5] != nil || c.Objects[9] != nil {
		t.Fatalf("cartridge: %d blocks, %d filemarks; want 8 with a filemark after each session", c.Blocks(), c.Filemarks())
	}

	m = mount(t, s, false, bs)
	defer m.Close()
	b := make([]byte, bs)
	for n := int64(0); n < 8; n++ {
		if err := m.ReadBlock(b); err != nil {
			t.Fatalf("read block %d: %v", n, err)
		}
		if got := int64(binary.LittleEndian.Uint64(b[24:])); got != n {
			t.Fatalf("block %d read as %d", n, got)
		}
	}
	if err := m.ReadBlock(b); err != io.EOF {
		t.Fatalf("read past the end: %v, want io.EOF", err)
	}
	before := s.Counters.BlocksRead.Load()
	for _, n := range []int64{6, 2, 5, 0, 7} {
		if err := m.Locate(n); err != nil {
			t.Fatal(err)
		}
		if err := m.ReadBlock(b); err != nil {
			t.Fatal(err)
		}
		if got := int64(binary.LittleEndian.Uint64(b[24:])); got != n || m.Position() != n+1 {
			t.Fatalf("Locate(%d) read block %d, now at %d", n, got, m.Position())
		}
	}
	if got := s.Counters.BlocksRead.Load() - before; got != 5 {
		t.Fatalf("five located reads read %d blocks from the tape", got)
	}
	if err := m.Locate(9); err == nil {
		t.Fatal("Locate past the end succeeded")
	}
	if err := m.WriteBlock(block(8, 0)); err == nil {
		t.Fatal("a write on a medium mounted for reading succeeded")
	}
}

// The early warning: ENOSPC from the driver is ErrEndOfMedium once, the
// trailer goes into the reserve, then ErrFull.
func TestEarlyWarningMedium(t *testing.T) {
	s := shelf(t, 10*bs, 6*bs)
	d, _ := s.Open("/dev/nst0", true)
	m, err := tape.Format(d, "A1", bs, true)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 7, 1) // the 7th passes the warning, finished
	if err := m.WriteBlock(block(7, 1)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("write after the early warning: %v, want ErrEndOfMedium", err)
	}
	writeBlocks(t, m, 7, 10, 2) // trailer and more, in the reserve
	if err := m.WriteBlock(block(10, 2)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("write at the physical end: %v, want ErrFull", err)
	}
	if m.Blocks() != 10 {
		t.Fatalf("%d blocks after the end", m.Blocks())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Cartridge("A1")
	if c.Blocks() != 10 || c.Filemarks() != 1 {
		t.Fatalf("cartridge: %d blocks, %d filemarks", c.Blocks(), c.Filemarks())
	}
}

// Truncate cuts with a filemark; the next session continues the block
// numbers.
func TestTruncate(t *testing.T) {
	s := shelf(t, 1<<30, 1<<29)
	d, _ := s.Open("/dev/nst0", true)
	m, _ := tape.Format(d, "A1", bs, true)
	writeBlocks(t, m, 0, 6, 1)
	if err := m.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if m.Blocks() != 3 || m.Position() != 3 {
		t.Fatalf("after Truncate(3): %d blocks, at %d", m.Blocks(), m.Position())
	}
	writeBlocks(t, m, 3, 5, 2)
	m.Close()
	m = mount(t, s, false, 0)
	defer m.Close()
	if m.Blocks() != 5 {
		t.Fatalf("remounted: %d blocks, want 5", m.Blocks())
	}
	b := make([]byte, bs)
	m.Locate(3)
	if err := m.ReadBlock(b); err != nil || b[64] != 2 || binary.LittleEndian.Uint64(b[24:]) != 3 {
		t.Fatalf("block 3 after the cut: %v, tag %d", err, b[64])
	}
}

func TestMountErrors(t *testing.T) {
	s := shelf(t, 1<<30, 1<<29)
	d, _ := s.Open("/dev/nst0", false)
	if _, err := tape.Mount(d, "A1", false, 0); !errors.Is(err, tape.ErrBlank) {
		t.Fatalf("mount of a blank cartridge: %v, want ErrBlank", err)
	}
	d.Close()
	d, _ = s.Open("/dev/nst0", true)
	m, _ := tape.Format(d, "A1", bs, true)
	writeBlocks(t, m, 0, 2, 1)
	m.Close()
	d, _ = s.Open("/dev/nst0", true)
	if _, err := tape.Format(d, "A1", bs, true); !errors.Is(err, tape.ErrNotBlank) {
		t.Fatalf("format of a cartridge with data: %v, want ErrNotBlank", err)
	}
	d.Close()
	d, _ = s.Open("/dev/nst0", false)
	if _, err := tape.Mount(d, "A1", false, 2*bs); err == nil {
		t.Fatal("mount with another block size than the label's succeeded")
	}
	d.Close()

	// A block longer than the block size reads as zeros (damage for the
	// volume reader), and the next block follows.
	c, _ := s.Cartridge("A1")
	c.Objects[1] = append(block(1, 1), 0)
	c.Objects = append(c.Objects[:2], block(2, 3), nil)
	s.SetCartridge("A1", c)
	m = mount(t, s, false, 0)
	defer m.Close()
	b := make([]byte, bs)
	m.Locate(1)
	if err := m.ReadBlock(b); err != nil || b[0] != 0 {
		t.Fatalf("read of a block too long: %v, first byte %d", err, b[0])
	}
	if err := m.ReadBlock(b); err != nil || b[64] != 3 {
		t.Fatalf("read after it: %v, tag %d", err, b[64])
	}
}

// Appending spaces to the end of the data (MTEOM) and checks it is where
// the medium knows it: a tape written behind its back is refused.
func TestAppendChecksTheEnd(t *testing.T) {
	s := shelf(t, 1<<30, 1<<29)
	d, _ := s.Open("/dev/nst0", true)
	m, _ := tape.Format(d, "A1", bs, true)
	writeBlocks(t, m, 0, 3, 1)
	m.Close()
	d, _ = s.Open("/dev/nst0", true)
	m, err := tape.Mount(d, "A1", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Someone else writes a block at the end.
	if err := d.Op(tape.MTEOM, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(block(3, 7)); err != nil {
		t.Fatal(err)
	}
	if err := m.Locate(3); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteBlock(block(3, 1)); err == nil || !strings.Contains(err.Error(), "the cartridge changed") {
		t.Fatalf("append after another writer: %v, want the cartridge changed", err)
	}
}

func TestMountEjected(t *testing.T) {
	s := shelf(t, 1<<30, 1<<29)
	d, _ := s.Open("/dev/nst0", false)
	defer d.Close()
	if err := d.Op(tape.MTOFFL, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tape.Mount(d, "A1", false, 0); err == nil {
		t.Fatal("mount of an ejected cartridge succeeded")
	}
	if st, err := d.Status(); err != nil || st.Gstat&tape.GMT_DR_OPEN == 0 {
		t.Fatalf("status after MTOFFL: %#x, %v; want GMT_DR_OPEN", st.Gstat, err)
	}
}

// The kernel's side, on a file that is no tape: the ioctls fail with the
// driver's errno (ENOTTY), named with the operation, and reads and writes
// go through.
func TestDeviceNotATape(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nst0")
	if err := os.WriteFile(p, []byte("not a tape"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := tape.OpenDevice(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := tape.Mount(d, "X", false, 0); !errors.Is(err, syscall.ENOTTY) || !strings.Contains(err.Error(), "MTSETBLK") {
		t.Fatalf("mount of a file: %v, want MTSETBLK failing with ENOTTY", err)
	}
	if _, err := d.Tell(); !errors.Is(err, syscall.ENOTTY) {
		t.Fatalf("MTIOCPOS on a file: %v", err)
	}
	if _, err := d.Status(); !errors.Is(err, syscall.ENOTTY) {
		t.Fatalf("MTIOCGET on a file: %v", err)
	}
	b := make([]byte, 3)
	if n, err := d.Read(b); n != 3 || err != nil || string(b) != "not" {
		t.Fatalf("read: %d, %v", n, err)
	}
	if _, err := tape.OpenDevice(filepath.Join(t.TempDir(), "none"), false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing device: %v", err)
	}
}
