package vtape

import (
	"os"
	"path/filepath"
	"testing"
)

// NextData finds the blocks of a sparse volume file that hold data: a
// block wholly in a hole is skipped, a block partly written is data.
func TestNextData(t *testing.T) {
	const bs = 64 << 10
	path := filepath.Join(t.TempDir(), "v.vtape")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	blk := make([]byte, bs)
	for i := range blk {
		blk[i] = 1
	}
	for _, n := range []int64{0, 1, 5} { // blocks 2..4 a hole
		if _, err := f.WriteAt(blk, n*bs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(blk[:100], 8*bs+bs/2); err != nil { // block 8 partly written
		t.Fatal(err)
	}
	if err := f.Truncate(20 * bs); err != nil { // a hole to the end
		t.Fatal(err)
	}
	f.Close()
	m, err := Open(path, Options{BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n, _ := m.NextData(3); n == 3 {
		if os.Getenv("CI") != "" {
			t.Fatal("the file system does not report holes (SEEK_DATA)")
		}
		t.Skip("the file system does not report holes (SEEK_DATA)")
	}
	for _, c := range [][2]int64{{0, 0}, {1, 1}, {2, 5}, {4, 5}, {5, 5}, {6, 8}, {8, 8}, {9, 20}, {19, 20}, {20, 20}, {25, 25}} {
		got, err := m.NextData(c[0])
		if err != nil || got != c[1] {
			t.Errorf("NextData(%d) = %d, %v; want %d", c[0], got, err, c[1])
		}
	}
	if st := m.Stats(); st.BytesRead != 0 {
		t.Fatalf("NextData read %d bytes", st.BytesRead)
	}
}
