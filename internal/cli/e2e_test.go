package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/device/devices"
	"daisy/internal/device/fault"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// longestExtent returns the longest of exts, which must span at least
// blocks blocks: damage in its middle is inside an object's data, not in
// the block with its Begin record, however the media agent cut the runs.
func longestExtent(t *testing.T, exts []catalog.Extent, blocks int64) catalog.Extent {
	t.Helper()
	long := exts[0]
	for _, e := range exts {
		if e.LastBlock-e.FirstBlock > long.LastBlock-long.FirstBlock {
			long = e
		}
	}
	if long.LastBlock-long.FirstBlock+1 < blocks {
		t.Fatalf("the longest extent of %s copy %d is blocks %d..%d: too short for the test", long.ObjectID, long.Copy, long.FirstBlock, long.LastBlock)
	}
	return long
}

// run runs the daisy command line in process and returns its exit code
// and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// figure2 sets up examples/figure2.yaml in a fresh directory with data
// under data/D1..D5, applying edit to the configuration text.
func figure2(t *testing.T, specs map[string]testtree.Spec, edit func(string) string) (dir, cfg string) {
	t.Helper()
	return example(t, "figure2.yaml", specs, testtree.Spec{SmallFiles: 40, LargeFiles: 1, LargeSize: 1 << 20}, 0, edit)
}

// example copies an example configuration (edited by edit, if set) into a
// fresh directory and makes data/D1..D5 next to it: specs[name] where
// given, else def, seeded with seed0+i.
func example(t *testing.T, file string, specs map[string]testtree.Spec, def testtree.Spec, seed0 uint64, edit func(string) string) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if edit != nil {
		text = edit(text)
	}
	cfg = filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("D%d", i)
		spec, ok := specs[name]
		if !ok {
			spec = def
		}
		spec.Seed = seed0 + uint64(i)
		if err := testtree.Make(filepath.Join(dir, "data", name), spec); err != nil {
			t.Fatal(err)
		}
	}
	return dir, cfg
}

// injectFault makes device dev of the figure 2 configuration fail after n
// bytes, for the rest of the test (the fault wrapper around its library).
func injectFault(t *testing.T, dev string, n int64) func(string) string {
	t.Cleanup(devices.SetTestWrap(fault.Device(dev, &fault.Fault{After: n})))
	return func(s string) string {
		if !strings.Contains(s, "  - name: "+dev+"\n") {
			t.Fatalf("figure2.yaml changed shape: no device %s", dev)
		}
		return s
	}
}

func backupJSON(t *testing.T, cfg string, wantCode int) jobs.BackupResult {
	t.Helper()
	code, out, errs := run(t, "-c", cfg, "--json", "backup")
	if code != wantCode {
		t.Fatalf("backup exit %d, want %d\nstdout: %s\nstderr: %s", code, wantCode, out, errs)
	}
	var res jobs.BackupResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("backup --json: %v\n%s", err, out)
	}
	return res
}

func copyStates(res jobs.BackupResult) map[string]map[int]string {
	m := map[string]map[int]string{}
	for _, o := range res.Objects {
		m[o.Source] = map[int]string{}
		for _, c := range o.Copies {
			m[o.Source][c.Number] = c.State
		}
	}
	return m
}

func restoreAndCompare(t *testing.T, dir, cfg, source string, copyN int) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "restore")
	args := []string{"-c", cfg, "restore", "--source", source, "--to", target}
	if copyN > 0 {
		args = append(args, "--copy", fmt.Sprint(copyN))
	}
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("restore %s copy %d: exit %d\n%s%s", source, copyN, code, out, errs)
	}
	orig := filepath.Join(dir, "data", source)
	diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = diffs[:20]
		}
		t.Fatalf("restore of %s copy %d differs from the original:\n%s", source, copyN, strings.Join(diffs, "\n"))
	}
}

// Acceptance 1: one backup of figure 2 writes every copy in one pass, and
// every source × copy restores identical to the original.
func TestFigure2EveryCopyRestores(t *testing.T) {
	large := testtree.Spec{SmallFiles: 1500, LargeFiles: 1, LargeSize: 101 << 20}
	if testing.Short() {
		large = testtree.Spec{SmallFiles: 300, LargeFiles: 1, LargeSize: 4 << 20}
	}
	dir, cfg := figure2(t, map[string]testtree.Spec{
		"D1": large, "D2": large,
		"D3": {SmallFiles: 500, LargeFiles: 2}, "D4": {SmallFiles: 500, LargeFiles: 2}, "D5": {SmallFiles: 500, LargeFiles: 2},
	}, nil)
	res := backupJSON(t, cfg, 0)
	want := map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}
	states := copyStates(res)
	for src, n := range want {
		if len(states[src]) != n {
			t.Fatalf("%s has copies %v, want %d", src, states[src], n)
		}
		for c := 1; c <= n; c++ {
			if states[src][c] != jobs.CopyGood {
				t.Fatalf("%s copy %d is %q", src, c, states[src][c])
			}
		}
	}
	if res.State != jobs.JobSuccess {
		t.Fatalf("job state %s", res.State)
	}
	for src, n := range want {
		for c := 1; c <= n; c++ {
			restoreAndCompare(t, dir, cfg, src, c)
		}
	}
	// A copy that does not exist is a clear usage error.
	code, _, errs := run(t, "-c", cfg, "restore", "--source", "D3", "--copy", "2", "--to", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "no good copy 2") {
		t.Fatalf("restore of a missing copy: exit %d, %q", code, errs)
	}
	// cat gives a tar stream that standard readers take.
	code, out, errs := run(t, "-c", cfg, "cat", res.Objects[0].Object)
	if code != 0 {
		t.Fatalf("cat: exit %d: %s", code, errs)
	}
	tr := tar.NewReader(strings.NewReader(out))
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("cat output is not a tar stream after %d entries: %v", n, err)
		}
		n++
	}
	if int64(n) != res.Objects[0].Files {
		t.Fatalf("cat gave %d tar entries, the backup recorded %d", n, res.Objects[0].Files)
	}
}

// Acceptance 2: a mirror device failing mid-backup fails only its copies.
func TestMirrorDeviceFailure(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 200, LargeFiles: 2, LargeSize: 6 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec, "D4": spec}, injectFault(t, "R5", 3<<20))
	res := backupJSON(t, cfg, ExitPartial)
	st := copyStates(res)
	if st["D2"][1] != jobs.CopyGood || st["D2"][2] != jobs.CopyFailed || st["D2"][3] != jobs.CopyGood {
		t.Fatalf("D2 copies %v: want 1 good, 2 failed (R5), 3 good", st["D2"])
	}
	if st["D4"][1] != jobs.CopyGood || st["D4"][2] != jobs.CopyFailed {
		t.Fatalf("D4 copies %v: want 1 good, 2 failed", st["D4"])
	}
	restoreAndCompare(t, dir, cfg, "D2", 1)
	restoreAndCompare(t, dir, cfg, "D2", 3)
	restoreAndCompare(t, dir, cfg, "D4", 1)
	code, out, _ := run(t, "-c", cfg, "--json", "ls", "copies")
	if code != 0 || !strings.Contains(out, `"state": "failed"`) {
		t.Fatalf("ls copies does not show the failed copy (exit %d):\n%s", code, out)
	}
}

// Acceptance 2: the primary device failing does not lose the mirror copies.
func TestPrimaryDeviceFailure(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 200, LargeFiles: 2, LargeSize: 6 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec, "D4": spec}, injectFault(t, "R1", 3<<20))
	// D3 has a single copy on R1, so the job has lost an object: failure.
	res := backupJSON(t, cfg, ExitFailure)
	st := copyStates(res)
	if st["D2"][1] != jobs.CopyFailed || st["D2"][2] != jobs.CopyGood || st["D2"][3] != jobs.CopyGood {
		t.Fatalf("D2 copies %v: want 1 failed (R1), 2 and 3 good", st["D2"])
	}
	if st["D4"][1] != jobs.CopyFailed || st["D4"][2] != jobs.CopyGood {
		t.Fatalf("D4 copies %v: want 1 failed, 2 good", st["D4"])
	}
	if st["D1"][1] != jobs.CopyGood || st["D5"][1] != jobs.CopyGood {
		t.Fatalf("sources on the other primary device were hit: D1 %v, D5 %v\n%+v", st["D1"], st["D5"], res)
	}
	restoreAndCompare(t, dir, cfg, "D2", 2)
	restoreAndCompare(t, dir, cfg, "D2", 0) // falls back past the failed copy 1
	restoreAndCompare(t, dir, cfg, "D4", 2)
}

// Acceptance 3: objects span volumes when a volume is smaller than the data.
func TestSpanningVolumes(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 300, LargeFiles: 3, LargeSize: 5 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, func(s string) string {
		return strings.ReplaceAll(s, "volume_capacity: 4GiB", "volume_capacity: 4MiB")
	})
	res := backupJSON(t, cfg, 0)
	var d2 jobs.ObjectOutcome
	for _, o := range res.Objects {
		if o.Source == "D2" {
			d2 = o
		}
	}
	for _, c := range d2.Copies {
		if len(c.Volumes) < 3 {
			t.Fatalf("D2 copy %d on volumes %v: %d MiB should span at least 3 volumes of 4 MiB", c.Number, c.Volumes, d2.Bytes>>20)
		}
	}
	for c := 1; c <= 3; c++ {
		restoreAndCompare(t, dir, cfg, "D2", c)
	}
	code, out, _ := run(t, "-c", cfg, "ls", "volumes", "--pool", "copy1")
	if code != 0 || strings.Count(out, " full ") < 2 {
		t.Fatalf("ls volumes shows fewer than 2 full volumes:\n%s", out)
	}
}

// A damaged block in copy 1: restoring that copy fails naming the volume
// and block; restoring without --copy falls back to copy 2 and says so.
func TestDamagedBlockFallsBack(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 100, LargeFiles: 2, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, nil)
	res := backupJSON(t, cfg, 0)
	var object string
	for _, o := range res.Objects {
		if o.Source == "D2" {
			object = o.Object
		}
	}
	// Flip one byte in the middle of D2's first extent on copy 1.
	cat, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	exts, err := cat.Extents(context.Background(), object, 1)
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents of D2 copy 1: %v %v", exts, err)
	}
	// The middle of D2's longest extent: not the block with its Begin
	// record, so that the scanner can still name the source.
	long := longestExtent(t, exts, 3)
	v, err := cat.Volume(context.Background(), long.VolumeID)
	cat.Close()
	if err != nil {
		t.Fatal(err)
	}
	vol := v.Label
	block := (long.FirstBlock+long.LastBlock)/2 + 1
	f, err := os.OpenFile(v.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := block*int64(v.BlockSize) + 4096
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()

	code, _, errs := run(t, "-c", cfg, "restore", "--source", "D2", "--copy", "1", "--to", t.TempDir())
	t.Logf("damaged copy: %s", errs)
	// Damage costs only what it touched: the restore goes on past the
	// block, names it and the file it lost, and exits 3.
	if code != ExitPartial || !strings.Contains(errs, vol) || !strings.Contains(errs, fmt.Sprintf("block %d", block)) || !strings.Contains(errs, "lost ") {
		t.Fatalf("restore of the damaged copy: exit %d, %q; want exit 3 naming volume %s, block %d and the file lost", code, errs, vol, block)
	}
	// The scanner names the damaged block, and the object and byte range
	// it took, without the catalog.
	code, out, _ := run(t, "scan", v.Path)
	if code != ExitPartial || !strings.Contains(out, fmt.Sprintf("DAMAGE block %d", block)) ||
		!strings.Contains(out, "object "+object+" (D2) copy 1") || !strings.Contains(out, "LOST bytes") {
		t.Fatalf("scan of the damaged volume: exit %d\n%s", code, out)
	}
	target := filepath.Join(t.TempDir(), "r")
	code, _, errs = run(t, "-c", cfg, "restore", "--source", "D2", "--to", target)
	if code != 0 || !strings.Contains(errs, "fell back") {
		t.Fatalf("restore with fallback: exit %d, %q", code, errs)
	}
	orig := filepath.Join(dir, "data", "D2")
	diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
	if err != nil || len(diffs) > 0 {
		t.Fatalf("fallback restore differs: %v %v", err, diffs)
	}
}
