package timing

import (
	"path/filepath"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
)

// A wrapped medium keeps its data and optional interfaces and feeds the
// model: a load per mount, the bytes written, a flush at Sync.
func TestWrapFeedsTheModel(t *testing.T) {
	m, err := vtape.Create(filepath.Join(t.TempDir(), "v.vtape"), vtape.Options{BlockSize: block, Capacity: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(lto9)
	w := rec.Wrap(m)
	if _, ok := w.(device.Locator); !ok {
		t.Fatal("the wrapper hides Locate")
	}
	if _, ok := w.(device.Truncater); !ok {
		t.Fatal("the wrapper hides Truncate")
	}
	b := make([]byte, block)
	for i := range 8 {
		b[0] = byte(i)
		if err := w.WriteBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	s := rec.Stats()
	if s.Bytes != 8*block || s.Loads != 1 || s.Model != "lto9" {
		t.Fatalf("stats %+v", s)
	}
	if err := w.(device.Locator).Locate(3); err != nil {
		t.Fatal(err)
	}
	if err := w.ReadBlock(b); err != nil || b[0] != 3 {
		t.Fatalf("read block 3: %v, first byte %d", err, b[0])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := rec.Stats(); s.Locates != 1 || s.BytesRead != block || s.Window < lto9.Load.Seconds()+lto9.Locate.Seconds() {
		t.Fatalf("after locate and read: %+v", s)
	}
}
