package cli

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// writeRandom writes size pseudo-random (incompressible) bytes to p.
func writeRandom(t *testing.T, p string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, 4<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
}

func restoreJSON(t *testing.T, wantCode int, args ...string) jobs.RestoreResult {
	t.Helper()
	code, out, errs := run(t, append([]string{"--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("daisy %s: exit %d, want %d: %s", strings.Join(args, " "), code, wantCode, errs)
	}
	var rr jobs.RestoreResult
	if err := json.Unmarshal([]byte(out), &rr); err != nil {
		t.Fatalf("restore --json: %v\n%s", err, out)
	}
	return rr
}

// Issue 4, acceptance 2: restoring one 4 KiB file from a 1 GiB object
// reads less than 1 % of the object's bytes from the vtape (the device's
// counter, as restore --json reports it), and the file is exact.
func TestFileRestoreReadsLittle(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(filepath.Join(src, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	// In stream order: 512 MiB, the small file, 512 MiB (a quarter of
	// that with -short, as under the race detector).
	half := int64(512 << 20)
	if testing.Short() {
		half /= 4
	}
	writeRandom(t, filepath.Join(src, "a-big"), half, 1)
	writeRandom(t, filepath.Join(src, "m", "small.txt"), 4096, 2)
	writeRandom(t, filepath.Join(src, "z-big"), half, 3)
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - {name: S, paths: [data/S]}\npools:\n  - {name: p, type: vtape, volume_capacity: 4GiB}\n" +
		"devices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: bma\n    device: t\n    pool: p\n    buffers:\n      - {name: B, source: S}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res := backupJSON(t, cfg, 0)
	obj := res.Objects[0]
	if obj.Bytes < 2*half {
		t.Fatalf("object of %d bytes, want %d", obj.Bytes, 2*half)
	}
	// Only the data set is needed from here on: the volume is the copy.
	os.Remove(filepath.Join(src, "a-big"))
	os.Remove(filepath.Join(src, "z-big"))

	target := filepath.Join(t.TempDir(), "r")
	small := filepath.Join(src, "m", "small.txt")
	rr := restoreJSON(t, 0, "-c", cfg, "restore", "--source", "S", "--path", small, "--to", target)
	t.Logf("restoring 4 KiB from a %d-byte object read %d bytes (%.3f %%), parts %+v", obj.Bytes, rr.BytesRead, 100*float64(rr.BytesRead)/float64(obj.Bytes), rr.Chain)
	if rr.BytesRead <= 0 || rr.BytesRead*100 >= obj.Bytes {
		t.Fatalf("read %d bytes of a %d-byte object: not less than 1 %%", rr.BytesRead, obj.Bytes)
	}
	if len(rr.Chain) != 1 || rr.Chain[0].Mode != "seek" {
		t.Fatalf("restore parts %+v, want one seek", rr.Chain)
	}
	want, _ := os.ReadFile(small)
	got, err := os.ReadFile(filepath.Join(target, small))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restored small.txt differs (%v)", err)
	}
	// Its directories come with it, nothing else does.
	ents, _ := os.ReadDir(filepath.Join(target, src))
	if len(ents) != 1 || ents[0].Name() != "m" {
		t.Fatalf("target holds %v, want only m/", ents)
	}
	fi, _ := os.Stat(filepath.Join(src, "m"))
	gi, err := os.Stat(filepath.Join(target, src, "m"))
	if err != nil || !gi.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("directory m restored without its mtime: %v", err)
	}

	// A pattern that matches nothing is a usage error that says so.
	code, _, errs := run(t, "-c", cfg, "restore", "--source", "S", "--path", "/nowhere/*", "--to", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "matches nothing") {
		t.Fatalf("--path matching nothing: exit %d, %s", code, errs)
	}
}

// The command line of levels: backup --level, ls files through the chain
// (a deleted file is gone, an unchanged one still listed), restore --at.
func TestIncrementalCommandLine(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"d/keep.txt", "d/gone.txt", "top.txt"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - {name: S, paths: [data/S]}\npools:\n  - {name: p, type: vtape}\n" +
		"devices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: bma\n    device: t\n    pool: p\n    buffers:\n      - {name: B, source: S}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	full := backupJSON(t, cfg, 0).Objects[0]
	snap := filepath.Join(dir, "snap-full")
	copyTree(t, src, snap)
	os.Remove(filepath.Join(src, "d", "gone.txt"))
	os.WriteFile(filepath.Join(src, "d", "new.txt"), []byte("new"), 0o644)
	code, out, errs := run(t, "-c", cfg, "backup", "--level", "incremental")
	if code != 0 || !strings.Contains(out, "incremental") || !strings.Contains(out, "based on "+full.Object) || !strings.Contains(out, "1 deleted") {
		t.Fatalf("backup --level incremental: exit %d\n%s%s", code, out, errs)
	}
	// The incremental's listing is the tree at its time.
	fl := lsJSON[[]struct{ Path string }](t, cfg, "files", "--source", "S", filepath.Join(src, "d"))
	var names []string
	for _, f := range fl {
		names = append(names, filepath.Base(f.Path))
	}
	if strings.Join(names, " ") != "keep.txt new.txt" {
		t.Fatalf("ls files of the incremental: %v, want keep.txt new.txt", names)
	}
	// find does not report the deletion as a file.
	rows, _, _ := findJSON(t, cfg, "gone.txt")
	if len(rows) != 1 || rows[0].Object != full.Object {
		t.Fatalf("find gone.txt: %+v, want the full's entry only", rows)
	}
	// restore --at the full's time gives the full's tree, --at now the
	// incremental's.
	objs := lsJSON[[]catalog.Object](t, cfg, "objects", "--source", "S")
	if len(objs) != 2 || objs[0].ID != full.Object || objs[1].Base != full.Object || objs[1].Level != "incremental" {
		t.Fatalf("objects %+v, want the full and an incremental based on it", objs)
	}
	at := objs[0].Started.Format(time.RFC3339Nano)
	target := filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--at", at, "--to", target); code != 0 {
		t.Fatalf("restore --at: exit %d\n%s%s", code, out, errs)
	}
	if diffs := compareTrees(t, snap, filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("restore --at the full differs: %v", diffs)
	}
	target = filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target); code != 0 || !strings.Contains(out, "incremental") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	if diffs := compareTrees(t, src, filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("restore of the incremental differs: %v", diffs)
	}

	// Rebuilt without the file lists, the catalog cannot tell which
	// entries of the chain make the tree: the restore says so rather than
	// leave some out.
	removeCatalog(t, dir)
	rebuildJSON(t, cfg, 0)
	code, out, errs = run(t, "-c", cfg, "restore", "--source", "S", "--to", t.TempDir())
	if code != ExitFailure || !strings.Contains(errs, "scan --rebuild --files") {
		t.Fatalf("restore of a chain without file lists: exit %d\n%s%s", code, out, errs)
	}
	// A catalog rebuilt from the volumes with them knows the chain and the
	// deletion: the incremental still restores without gone.txt.
	removeCatalog(t, dir)
	rebuildJSON(t, cfg, 0, "--files")
	target = filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target); code != 0 {
		t.Fatalf("restore after rebuild: exit %d\n%s%s", code, out, errs)
	}
	if diffs := compareTrees(t, src, filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("restore of the incremental after a rebuild differs: %v", diffs)
	}
}

// copyTree snapshots a tree with cp -a.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
}

// compareTrees returns the differences between two trees.
func compareTrees(t *testing.T, want, got string) []string {
	t.Helper()
	diffs, err := testtree.Compare(want, got)
	if err != nil {
		t.Fatal(err)
	}
	return diffs
}

// A source with compression: zstd writes fewer bytes to its volume, and
// every way of reading it back (restore whole, restore one file by
// seeking, verify) gives the original bytes.
func TestCompressedSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := testtree.Make(src, testtree.Spec{Seed: 11, SmallFiles: 40}); err != nil {
		t.Fatal(err)
	}
	text := bytes.Repeat([]byte("a line of a log file that compresses well\n"), 200000) // 8.4 MB
	for _, f := range []string{"log1.txt", "log2.txt"} {
		if err := os.WriteFile(filepath.Join(src, f), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - {name: S, paths: [data/S], compression: zstd}\npools:\n  - {name: p, type: vtape}\n" +
		"devices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: bma\n    device: t\n    pool: p\n    buffers:\n      - {name: B, source: S}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	o := backupJSON(t, cfg, 0).Objects[0]
	if o.Stored <= 0 || o.Stored*4 > o.Bytes {
		t.Fatalf("stored %d of %d bytes: want less than a quarter", o.Stored, o.Bytes)
	}
	vols := lsJSON[[]catalog.Volume](t, cfg, "volumes")
	if len(vols) != 1 || vols[0].Bytes*3 > o.Bytes {
		t.Fatalf("volumes %+v for an object of %d bytes", vols, o.Bytes)
	}
	target := filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	if diffs := compareTrees(t, src, filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("restore of a compressed object differs: %v", diffs)
	}
	target = filepath.Join(t.TempDir(), "r")
	rr := restoreJSON(t, 0, "-c", cfg, "restore", "--source", "S", "--path", filepath.Join(src, "log2.txt"), "--to", target)
	got, err := os.ReadFile(filepath.Join(target, src, "log2.txt"))
	if err != nil || !bytes.Equal(got, text) || rr.Chain[0].Mode != "seek" {
		t.Fatalf("restore --path of a compressed object: %v, mode %s", err, rr.Chain[0].Mode)
	}
	if code, out, errs := run(t, "-c", cfg, "verify", "--source", "S"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
}
