package sttest

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"daisy/internal/device/tape"
)

func newDrive(t *testing.T, capacity, ew int64, write bool) (*Shelf, tape.Drive) {
	t.Helper()
	s := NewShelf(t.TempDir())
	if err := s.AddCartridge("T1", capacity, ew); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(0, "T1"); err != nil {
		t.Fatal(err)
	}
	d, err := s.Open("/dev/nst0", write)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return s, d
}

func mustWrite(t *testing.T, d tape.Drive, b []byte) {
	t.Helper()
	if n, err := d.Write(b); err != nil || n != len(b) {
		t.Fatalf("write %d bytes: %d, %v", len(b), n, err)
	}
}

// st.rst: in variable block mode a read returns the block if the byte
// count is at least the block size, else ENOMEM; a filemark reads as 0
// bytes; the end of data as 0 bytes, then EIO.
func TestReadRules(t *testing.T) {
	_, d := newDrive(t, 1<<20, 1<<19, true)
	mustWrite(t, d, bytes.Repeat([]byte{1}, 100))
	mustWrite(t, d, bytes.Repeat([]byte{2}, 200))
	if err := d.Op(tape.MTWEOF, 1); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, d, bytes.Repeat([]byte{3}, 50))
	if err := d.Op(tape.MTREW, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 150)
	if n, err := d.Read(buf); n != 100 || err != nil || buf[0] != 1 {
		t.Fatalf("read of a 100-byte block into 150: %d, %v", n, err)
	}
	if _, err := d.Read(buf); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("read of a 200-byte block into 150: %v, want ENOMEM", err)
	}
	if p, _ := d.Tell(); p != 2 {
		t.Fatalf("after ENOMEM at block 1 the position is %d, want 2 (past the block)", p)
	}
	if n, err := d.Read(buf); n != 0 || err != nil {
		t.Fatalf("read at the filemark: %d, %v, want 0", n, err)
	}
	if st, _ := d.Status(); st.Gstat&tape.GMT_EOF == 0 || st.Fileno != 1 || st.Blkno != 0 {
		t.Fatalf("status after the filemark: %#x file %d block %d", st.Gstat, st.Fileno, st.Blkno)
	}
	if n, err := d.Read(buf); n != 50 || err != nil || buf[0] != 3 {
		t.Fatalf("read after the filemark: %d, %v", n, err)
	}
	// The rewind after the write wrote a filemark; then the end of data:
	// two reads of 0 bytes.
	for i := range 2 {
		if n, err := d.Read(buf); n != 0 || err != nil {
			t.Fatalf("read %d after the last block: %d, %v, want 0", i, n, err)
		}
	}
	if st, _ := d.Status(); st.Gstat&tape.GMT_EOD == 0 {
		t.Fatalf("status at the end of data: %#x, no GMT_EOD", st.Gstat)
	}
	if _, err := d.Read(buf); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second read at the end of data: %v, want EIO", err)
	}
}

// st.rst, "EOM Behaviour When Writing": the write passing the early
// warning is finished; the next returns ENOSPC; then writes and ENOSPC
// alternate until the physical end.
func TestEarlyWarning(t *testing.T) {
	s, d := newDrive(t, 1000, 500, true)
	b := make([]byte, 200)
	mustWrite(t, d, b)
	mustWrite(t, d, b)
	mustWrite(t, d, b) // 600: passes the early warning, finished
	if st, _ := d.Status(); st.Gstat&tape.GMT_EOT == 0 {
		t.Fatalf("status past the early warning: %#x, no GMT_EOT", st.Gstat)
	}
	if _, err := d.Write(b); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write after the early warning: %v, want ENOSPC", err)
	}
	mustWrite(t, d, b) // 800, the trailer
	if _, err := d.Write(b); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second write after the trailer: %v, want ENOSPC", err)
	}
	mustWrite(t, d, b) // 1000
	for i := range 3 {
		if _, err := d.Write(b); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d at the physical end: %v, want ENOSPC", i, err)
		}
	}
	d.Close()
	c, err := s.Cartridge("T1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Blocks() != 5 || c.Filemarks() != 1 {
		t.Fatalf("cartridge holds %d blocks and %d filemarks, want 5 and the one written at close", c.Blocks(), c.Filemarks())
	}
}

// st.rst: a filemark is written before a rewind, MTBSF or MTSEEK that
// follows a write; writing erases what follows.
func TestFilemarkBeforeMoving(t *testing.T) {
	s, d := newDrive(t, 1<<20, 1<<19, true)
	mustWrite(t, d, []byte("a"))
	mustWrite(t, d, []byte("b"))
	if err := d.Op(tape.MTSEEK, 1); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Tell(); p != 1 {
		t.Fatalf("after MTSEEK 1: at %d", p)
	}
	mustWrite(t, d, []byte("c")) // erases b and the filemark
	if err := d.Op(tape.MTREW, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Op(tape.MTFSF, 1); err != nil {
		t.Fatalf("MTFSF over the filemark written before the rewind: %v", err)
	}
	if p, _ := d.Tell(); p != 3 {
		t.Fatalf("after MTFSF 1: at %d, want 3", p)
	}
	if err := d.Op(tape.MTFSF, 1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("MTFSF at the end of data: %v, want EIO", err)
	}
	if err := d.Op(tape.MTBSF, 1); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Tell(); p != 2 {
		t.Fatalf("after MTBSF 1: at %d, want 2 (before the filemark)", p)
	}
	if err := d.Op(tape.MTBSF, 1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("MTBSF with no filemark before: %v, want EIO", err)
	}
	if err := d.Op(tape.MTSEEK, 9); !errors.Is(err, syscall.EIO) {
		t.Fatalf("MTSEEK past the end of data: %v, want EIO", err)
	}
	if err := d.Op(tape.MTTELL, 0); !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("MTTELL: %v, want ENOSYS (the driver tells through MTIOCPOS)", err)
	}
	d.Close()
	c, _ := s.Cartridge("T1")
	if len(c.Objects) != 3 || string(c.Objects[1]) != "c" || c.Objects[2] != nil {
		t.Fatalf("cartridge: %q", c.Objects)
	}
}

func TestOpenErrors(t *testing.T) {
	s := NewShelf(t.TempDir())
	if _, err := s.Open("/dev/nst0", false); !errors.Is(err, syscall.ENOMEDIUM) {
		t.Fatalf("open of an empty drive: %v, want ENOMEDIUM", err)
	}
	if err := s.AddCartridge("RO", 1000, 500); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Cartridge("RO")
	c.WriteProtected = true
	if err := s.SetCartridge("RO", c); err != nil {
		t.Fatal(err)
	}
	s.Insert(0, "RO")
	if _, err := s.Open("/dev/nst0", true); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("open of a write-protected cartridge for writing: %v, want EROFS", err)
	}
	d, err := s.Open("/dev/nst0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := s.Open("/dev/nst0", false); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("second open: %v, want EBUSY", err)
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write on a read-only open: %v, want EBADF", err)
	}
}
