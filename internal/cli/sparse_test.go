package cli

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// dataRegions lists the data regions [off, end) of path as SEEK_DATA and
// SEEK_HOLE give them.
func dataRegions(t *testing.T, path string) (regions [][2]int64, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	size = fi.Size()
	for pos := int64(0); pos < size; {
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err != nil {
			t.Fatalf("%s: SEEK_DATA: %v", path, err)
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			t.Fatalf("%s: SEEK_HOLE: %v", path, err)
		}
		regions = append(regions, [2]int64{d, h})
		pos = h
	}
	return regions, size
}

// sameSparse checks that got has the size and content of want and at most
// maxData bytes of data regions (its holes were kept), reading only where
// one of the two has data (elsewhere both are holes).
func sameSparse(t *testing.T, want, got string, maxData int64) {
	t.Helper()
	wr, ws := dataRegions(t, want)
	gr, gs := dataRegions(t, got)
	if gs != ws {
		t.Fatalf("%s: %d bytes, the original %d", got, gs, ws)
	}
	var data int64
	for _, r := range gr {
		data += r[1] - r[0]
	}
	if data > maxData {
		t.Fatalf("%s has %d bytes of data regions, more than %d: its holes were not kept", got, data, maxData)
	}
	wf, err := os.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	gf, err := os.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	for _, r := range append(wr, gr...) {
		a, b := make([]byte, r[1]-r[0]), make([]byte, r[1]-r[0])
		if _, err := wf.ReadAt(a, r[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := gf.ReadAt(b, r[0]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs from the original in bytes %d..%d", got, r[0], r[1])
		}
	}
}

func volumeTotal(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, s := range volumeSizes(t, dir) {
		n += s
	}
	return n
}

// Issue 9, acceptance 5: a sparse 1 GiB file with 1 MiB of data adds less
// than 2 MiB to the volume; `daisy cat OBJECT | tar -x` (GNU tar) and
// `daisy restore` give it back with its holes; `ls files` shows its real
// size, and an incremental finds it unchanged.
func TestSparseFileBackupRestore(t *testing.T) {
	if out, err := exec.Command("tar", "--version").Output(); err != nil || !strings.Contains(string(out), "GNU tar") {
		if os.Getenv("CI") != "" {
			t.Fatalf("GNU tar is needed: tar --version: %v %s", err, out)
		}
		t.Skipf("no GNU tar: %v %s", err, out)
	}
	dir, cfg, data := smallSetup(t, 20)
	before := volumeTotal(t, dir)

	const size = 1 << 30
	big := filepath.Join(data, "disk.img")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 5))
	piece := make([]byte, 256<<10)
	for _, off := range []int64{0, 300 << 20, 700<<20 + 64<<10, size - 64<<20} { // 4 × 256 KiB, a hole at the end
		for i := range piece {
			piece[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(piece, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if regions, _ := dataRegions(t, big); len(regions) != 4 {
		t.Fatalf("the file system of %s does not keep the test file's holes (data regions %v): the test needs one that does", big, regions)
	}

	if code, out, errs := run(t, "-c", cfg, "backup", "--level", "incremental"); code != 0 {
		t.Fatalf("backup exit %d\n%s%s", code, out, errs)
	}
	added := volumeTotal(t, dir) - before
	t.Logf("the incremental with a 1 GiB file of 1 MiB data added %d bytes to the volume", added)
	if added >= 2<<20 {
		t.Fatalf("the incremental with a 1 GiB file of 1 MiB data added %d bytes to the volume, want < 2 MiB", added)
	}

	objs := lsJSON[[]struct {
		ID    string `json:"id"`
		Level string `json:"level"`
	}](t, cfg, "objects")
	var obj string
	for _, o := range objs {
		if o.Level == "incremental" {
			obj = o.ID
		}
	}
	if obj == "" {
		t.Fatalf("no incremental object in %+v", objs)
	}
	type fileRow struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		Offset int64  `json:"offset"`
	}
	bigRow := func(what string) fileRow {
		t.Helper()
		for _, fl := range lsJSON[[]fileRow](t, cfg, "files", "--object", obj, data) {
			if fl.Path == big {
				if fl.Size != size {
					t.Fatalf("%s: ls files gives %s %d bytes, want its real size %d", what, big, fl.Size, size)
				}
				return fl
			}
		}
		t.Fatalf("%s: ls files of %s does not list %s", what, data, big)
		return fileRow{}
	}
	row := bigRow("after the backup")

	// daisy cat OBJECT | tar -x
	code, stream, errs := run(t, "-c", cfg, "cat", obj)
	if code != 0 {
		t.Fatalf("cat exit %d: %s", code, errs)
	}
	if len(stream) >= 2<<20 {
		t.Fatalf("daisy cat gave %d bytes", len(stream))
	}
	untar := t.TempDir()
	tarx := exec.Command("tar", "-x", "-C", untar)
	tarx.Stdin = strings.NewReader(stream)
	if out, err := tarx.CombinedOutput(); err != nil {
		t.Fatalf("daisy cat %s | tar -x: %v\n%s", obj, err, out)
	}
	sameSparse(t, big, filepath.Join(untar, big), 2<<20)

	// daisy restore: the chain (the full, then the incremental).
	target := filepath.Join(t.TempDir(), "restore")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "D", "--to", target); code != 0 {
		t.Fatalf("restore exit %d\n%s%s", code, out, errs)
	}
	sameSparse(t, big, filepath.Join(target, big), 2<<20)

	// Unchanged, it is not stored again: the catalog's size is the real
	// size the next backup compares. (A volume grows by whole blocks of
	// 256 KiB.)
	before = volumeTotal(t, dir)
	if code, out, errs := run(t, "-c", cfg, "backup", "--level", "incremental"); code != 0 {
		t.Fatalf("second incremental exit %d\n%s%s", code, out, errs)
	}
	if added := volumeTotal(t, dir) - before; added >= 1<<20 {
		t.Fatalf("an incremental of the unchanged tree added %d bytes: the 1 MiB of the sparse file again?", added)
	}

	// The catalog rebuilt from the volumes reads the entry back the same
	// (a rebuilt catalog has no ctimes or inodes, so it comes last).
	removeCatalog(t, dir)
	rebuildJSON(t, cfg, 0, "--files")
	if got := bigRow("after scan --rebuild --files"); got != row {
		t.Fatalf("after scan --rebuild --files: %+v, the backup recorded %+v", got, row)
	}
}
