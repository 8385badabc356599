package fault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
)

const tbs = 4096

// blockOf returns a block whose bytes all depend on n.
func blockOf(n int, bs int) []byte {
	b := make([]byte, bs)
	for i := range b {
		b[i] = byte(n*31 + i%251)
	}
	return b
}

// create makes a volume file medium wrapped by f.
func create(t testing.TB, f *Fault) (device.Medium, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vol0001")
	m, err := vtape.Create(path, vtape.Options{BlockSize: tbs})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return Medium(m, f), path
}

func writeN(t *testing.T, m device.Medium, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := m.WriteBlock(blockOf(i, m.BlockSize())); err != nil {
			t.Fatalf("WriteBlock %d: %v", i, err)
		}
	}
}

func isInjected(err error) bool {
	var pe *os.PathError
	return errors.Is(err, device.ErrInjected) && errors.Is(err, syscall.EIO) && errors.As(err, &pe)
}

func TestFault(t *testing.T) {
	for _, after := range []int64{3 * tbs, 3*tbs + 10, 4*tbs - 1} {
		f := &Fault{After: after}
		m, path := create(t, f)
		writeN(t, m, 0, 3)
		err := m.WriteBlock(blockOf(3, tbs))
		if !isInjected(err) {
			t.Fatalf("After %d: 4th write: %v, want an I/O error wrapping ErrInjected", after, err)
		}
		if !f.Failed() || f.Written() != 3*tbs {
			t.Fatalf("After %d: failed %v written %d", after, f.Failed(), f.Written())
		}
		if m.Position() != 3 {
			t.Fatalf("After %d: failed write changed the medium: position %d", after, m.Position())
		}
		if fi, _ := os.Stat(path); fi.Size() != 3*tbs {
			t.Fatalf("After %d: failed write changed the file: %d bytes", after, fi.Size())
		}
		// Stays failed, even for a write that would fit now.
		if err := m.(device.Truncater).Truncate(0); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteBlock(blockOf(0, tbs)); !isInjected(err) {
			t.Fatalf("After %d: write after the failure: %v", after, err)
		}
		// Reads still work.
		m2, _ := create(t, f)
		if err := m2.WriteBlock(blockOf(0, tbs)); !isInjected(err) {
			t.Fatalf("After %d: write to a second medium of the failed device: %v", after, err)
		}
		m2.Close()
	}
}

func TestFaultSharedByMedia(t *testing.T) {
	f := &Fault{After: 5 * tbs}
	a, _ := create(t, f)
	b, _ := create(t, f)
	writeN(t, a, 0, 2)
	writeN(t, b, 0, 3)
	if f.Written() != 5*tbs {
		t.Fatalf("written %d, want %d", f.Written(), 5*tbs)
	}
	if err := a.WriteBlock(blockOf(2, tbs)); !isInjected(err) {
		t.Fatalf("6th block through the device: %v", err)
	}
	if err := b.WriteBlock(blockOf(3, tbs)); !isInjected(err) {
		t.Fatalf("the other medium after the failure: %v", err)
	}
	b.(device.Locator).Locate(0)
	buf := make([]byte, tbs)
	if err := b.ReadBlock(buf); err != nil || !bytes.Equal(buf, blockOf(0, tbs)) {
		t.Fatalf("read after the failure: %v", err)
	}

	// Without a limit the fault only counts.
	c := &Fault{}
	m, _ := create(t, c)
	writeN(t, m, 0, 3)
	if c.Failed() || c.Written() != 3*tbs {
		t.Fatalf("no limit: failed %v written %d", c.Failed(), c.Written())
	}
}

func TestFaultConcurrent(t *testing.T) {
	// Media of one device written from several goroutines: exactly
	// After bytes get through, then everything fails.
	f := &Fault{After: 40 * tbs}
	media := make([]device.Medium, 4)
	paths := make([]string, len(media))
	for i := range media {
		media[i], paths[i] = create(t, f)
	}
	ok := make(chan int64, len(media))
	for _, m := range media {
		go func() {
			var n int64
			for i := 0; i < 20; i++ {
				if err := m.WriteBlock(blockOf(i, tbs)); err == nil {
					n++
				} else if !isInjected(err) {
					t.Errorf("write: %v", err)
				}
			}
			ok <- n
		}()
	}
	var total int64
	for range media {
		total += <-ok
	}
	if total != 40 || f.Written() != 40*tbs || !f.Failed() {
		t.Fatalf("%d blocks written, fault counted %d bytes, failed %v; want 40 blocks", total, f.Written(), f.Failed())
	}
	var sum int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sum += fi.Size()
	}
	if sum != 40*tbs {
		t.Fatalf("media hold %d bytes, want %d", sum, 40*tbs)
	}
}
