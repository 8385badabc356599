package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// smallCopy1Volumes lowers the volume capacity of pool copy1 to 4 MiB, so
// that the first copies span volumes.
func smallCopy1Volumes(s string) string {
	old := "directory: state/volumes/copy1\n    volume_capacity: 4GiB"
	if !strings.Contains(s, old) {
		panic("figure2.yaml changed shape: no pool copy1 with a 4GiB capacity")
	}
	return strings.Replace(s, old, "directory: state/volumes/copy1\n    volume_capacity: 4MiB", 1)
}

func lsJSON[T any](t *testing.T, cfg string, args ...string) T {
	t.Helper()
	code, out, errs := run(t, append([]string{"-c", cfg, "--json", "ls"}, args...)...)
	if code != 0 {
		t.Fatalf("ls %v: exit %d: %s", args, code, errs)
	}
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("ls %v --json: %v\n%s", args, err, out)
	}
	return v
}

func lsText(t *testing.T, cfg string, args ...string) string {
	t.Helper()
	code, out, errs := run(t, append([]string{"-c", cfg, "ls"}, args...)...)
	if code != 0 {
		t.Fatalf("ls %v: exit %d: %s", args, code, errs)
	}
	return out
}

func removeCatalog(t *testing.T, dir string) {
	t.Helper()
	db := filepath.Join(dir, "state", "catalog.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

func rebuildJSON(t *testing.T, cfg string, wantCode int, args ...string) jobs.RebuildResult {
	t.Helper()
	code, out, errs := run(t, append([]string{"-c", cfg, "--json", "scan", "--rebuild"}, args...)...)
	if code != wantCode {
		t.Fatalf("scan --rebuild %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errs)
	}
	var res jobs.RebuildResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("scan --rebuild --json: %v\n%s", err, out)
	}
	return res
}

// copyRow is what must survive a rebuild of a copy.
type copyRow struct {
	Object, Role, MediaAgent, Device, Pool, State string
	Number, Level                                 int
}

func copyRows(cps []catalog.Copy) []copyRow {
	out := make([]copyRow, len(cps))
	for i, c := range cps {
		out[i] = copyRow{c.ObjectID, c.Role, c.MediaAgent, c.Device, c.Pool, c.State, c.Number, c.Level}
	}
	return out
}

// fileRow is what must survive a rebuild of a file (ctime and inode are
// not in the tar stream).
type fileRow struct {
	Path, Link         string
	Type               byte
	Size, Mode, Offset int64
	UID, GID           int
	MTime              time.Time
}

func fileRows(fs []catalog.File) []fileRow {
	out := make([]fileRow, len(fs))
	for i, f := range fs {
		out[i] = fileRow{f.Path, f.Link, f.Type, f.Size, f.Mode, f.Offset, f.UID, f.GID, f.MTime.UTC()}
	}
	return out
}

func sameJSON(t *testing.T, what string, a, b any) {
	t.Helper()
	ja, _ := json.MarshalIndent(a, "", " ")
	jb, _ := json.MarshalIndent(b, "", " ")
	if string(ja) != string(jb) {
		t.Fatalf("%s differs after the rebuild:\nbefore: %s\nafter:  %s", what, ja, jb)
	}
}

// The catalog rebuilt from the volumes alone restores every copy, and
// knows the same objects, copies, volumes and files as the one it replaces.
func TestRebuildCatalog(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 100, LargeFiles: 2, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, smallCopy1Volumes)
	backup := backupJSON(t, cfg, 0)
	for _, o := range backup.Objects {
		if o.Source == "D2" && len(o.Copies[0].Volumes) < 2 {
			t.Fatalf("D2 copy 1 is on %v: the test needs it to span volumes", o.Copies[0].Volumes)
		}
	}
	copiesBefore := lsJSON[[]catalog.Copy](t, cfg, "copies")
	objectsBefore := lsJSON[[]catalog.Object](t, cfg, "objects")
	volumesBefore := lsJSON[[]catalog.Volume](t, cfg, "volumes")
	filesBefore := lsJSON[[]catalog.File](t, cfg, "files", "--source", "D1")
	filesText := lsText(t, cfg, "files", "--source", "D1")

	removeCatalog(t, dir)
	res := rebuildJSON(t, cfg, 0, "--files")
	if len(res.Objects) != 5 || res.CopiesGood != 10 || res.CopiesFailed != 0 || res.DamagedBlocks != 0 || len(res.Problems) != 0 {
		t.Fatalf("rebuild: %d objects, %d good, %d failed copies, %d damaged blocks, problems %v",
			len(res.Objects), res.CopiesGood, res.CopiesFailed, res.DamagedBlocks, res.Problems)
	}
	if len(res.Volumes) != len(volumesBefore) {
		t.Fatalf("rebuild read %d volumes, the catalog had %d", len(res.Volumes), len(volumesBefore))
	}

	sameJSON(t, "ls copies", copyRows(copiesBefore), copyRows(lsJSON[[]catalog.Copy](t, cfg, "copies")))
	objectsAfter := lsJSON[[]catalog.Object](t, cfg, "objects")
	type objRow struct {
		ID, Source, Client, Level, Hash, State string
		Length, Records, Files                 int64
		Started                                time.Time
	}
	objRows := func(os []catalog.Object) []objRow {
		out := make([]objRow, len(os))
		for i, o := range os {
			out[i] = objRow{o.ID, o.Source, o.Client, o.Level, o.Hash, o.State, o.Length, o.Records, o.Files, o.Started}
		}
		return out
	}
	sameJSON(t, "ls objects", objRows(objectsBefore), objRows(objectsAfter))
	type volRow struct {
		ID, Label, Pool, State, Path string
		BlockSize                    int
		Blocks, Bytes, Capacity      int64
	}
	volRows := func(vs []catalog.Volume) []volRow {
		out := make([]volRow, len(vs))
		for i, v := range vs {
			out[i] = volRow{v.ID, v.Label, v.Pool, v.State, v.Path, v.BlockSize, v.Blocks, v.Bytes, v.Capacity}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
		return out
	}
	sameJSON(t, "ls volumes", volRows(volumesBefore), volRows(lsJSON[[]catalog.Volume](t, cfg, "volumes")))
	sameJSON(t, "ls files --source D1", fileRows(filesBefore), fileRows(lsJSON[[]catalog.File](t, cfg, "files", "--source", "D1")))
	if after := lsText(t, cfg, "files", "--source", "D1"); after != filesText {
		t.Fatalf("ls files --source D1 differs after the rebuild:\nbefore:\n%s\nafter:\n%s", filesText, after)
	}
	jobsAfter := lsJSON[[]catalog.Job](t, cfg, "jobs")
	if len(jobsAfter) != 1 || jobsAfter[0].Kind != "scan" || jobsAfter[0].State != jobs.JobSuccess || jobsAfter[0].Files != res.Files {
		t.Fatalf("jobs after the rebuild: %+v", jobsAfter)
	}

	want := map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}
	for src, n := range want {
		for c := 1; c <= n; c++ {
			restoreAndCompare(t, dir, cfg, src, c)
		}
	}
	// Everything read back from the rebuilt catalog verifies.
	if v := verifyJSON(t, 0, "-c", cfg); v.OK != 10 {
		t.Fatalf("verify after the rebuild: %d ok", v.OK)
	}

	// A catalog with objects is not overwritten without --force.
	code, _, errs := run(t, "-c", cfg, "scan", "--rebuild")
	if code != ExitUsage || !strings.Contains(errs, "--force") {
		t.Fatalf("rebuild over a catalog with objects: exit %d, %q", code, errs)
	}

	// A missing volume in the middle of a spanning copy fails that copy
	// only, naming the volume.
	var spanned jobs.RebuiltCopy
	var spannedObj string
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			if len(c.Volumes) >= 3 {
				spanned, spannedObj = c, o.ID
			}
		}
	}
	if spannedObj == "" {
		t.Fatalf("no copy spans 3 volumes: %+v", res.Objects)
	}
	middle := spanned.Volumes[1]
	if err := os.Remove(filepath.Join(dir, "state", "volumes", "copy1", middle+".vtape")); err != nil {
		t.Fatal(err)
	}
	res2 := rebuildJSON(t, cfg, ExitPartial, "--force")
	if res2.MovedAside == "" {
		t.Fatal("--force did not say where the old catalog went")
	}
	if _, err := os.Stat(res2.MovedAside); err != nil {
		t.Fatalf("old catalog moved aside: %v", err)
	}
	// Every copy with records on the lost volume fails (one wholly on it
	// is not found at all); the others stay good.
	failed, gone := 0, 0
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			for _, v := range c.Volumes {
				if v == middle && len(c.Volumes) == 1 {
					gone++
				} else if v == middle {
					failed++
				}
			}
		}
	}
	if res2.CopiesFailed != failed || res2.CopiesGood != 10-failed-gone {
		t.Fatalf("rebuild without volume %s: %d good, %d failed copies; want %d failed, %d good", middle, res2.CopiesGood, res2.CopiesFailed, failed, 10-failed-gone)
	}
	c := findCopy(t, lsCopies(t, cfg), spannedObj, spanned.Copy)
	if c.State != jobs.CopyFailed || !strings.Contains(c.Error, middle) || !strings.Contains(c.Error, "not found") {
		t.Fatalf("copy %d of %s after losing %s: %s %q", spanned.Copy, spannedObj, middle, c.State, c.Error)
	}
}

// A damaged block on one copy: the rebuilt catalog has that copy failed,
// naming the volume, the block and the bytes lost, and the others good.
func TestRebuildDamagedCopy(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 100, LargeFiles: 2, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, nil)
	backup := backupJSON(t, cfg, 0)
	d2 := objectOf(t, backup, "D2")
	before := lsJSON[[]catalog.Copy](t, cfg, "copies")
	vol, block := damageCopy(t, dir, d2, 1)
	removeCatalog(t, dir)

	code, out, errs := run(t, "-c", cfg, "scan", "--rebuild")
	if code != ExitPartial {
		t.Fatalf("rebuild with a damaged block: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "1 failed") || !strings.Contains(out, "DAMAGE block") {
		t.Fatalf("rebuild summary:\n%s", out)
	}
	after := lsJSON[[]catalog.Copy](t, cfg, "copies")
	if len(after) != len(before) {
		t.Fatalf("%d copies before, %d after", len(before), len(after))
	}
	for _, c := range after {
		if c.ObjectID == d2 && c.Number == 1 {
			if c.State != jobs.CopyFailed || !strings.Contains(c.Error, "volume "+vol.Label) ||
				!strings.Contains(c.Error, "damaged block(s) "+itoa(block)) || !strings.Contains(c.Error, "lost") {
				t.Fatalf("damaged copy rebuilt as %s %q", c.State, c.Error)
			}
			continue
		}
		if c.State != jobs.CopyGood {
			t.Fatalf("copy %d of %s rebuilt as %s: %s", c.Number, c.ObjectID, c.State, c.Error)
		}
	}
	restoreAndCompare(t, dir, cfg, "D2", 0)
	restoreAndCompare(t, dir, cfg, "D2", 2)
	// Without --files the objects have no files, but are complete.
	objs := lsJSON[[]catalog.Object](t, cfg, "objects")
	for _, o := range objs {
		if o.State != catalog.ObjectComplete || o.Files != 0 {
			t.Fatalf("object %+v", o)
		}
	}

	// A catalog that cannot be read is moved aside with --force only; a
	// file that is not a volume is reported, not fatal.
	db := filepath.Join(dir, "state", "catalog.db")
	removeCatalog(t, dir)
	if err := os.WriteFile(db, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "state", "volumes", "copy1", "junk.vtape")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run(t, "-c", cfg, "scan", "--rebuild")
	if code != ExitFailure || !strings.Contains(errs, "--force") {
		t.Fatalf("rebuild over an unreadable catalog: exit %d, %q", code, errs)
	}
	res := rebuildJSON(t, cfg, ExitPartial, "--force")
	if res.MovedAside == "" || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], junk) || res.CopiesGood != len(before)-1 {
		t.Fatalf("forced rebuild: moved aside to %q, problems %q, %d good copies", res.MovedAside, res.Problems, res.CopiesGood)
	}
	if b, err := os.ReadFile(res.MovedAside); err != nil || !strings.HasPrefix(string(b), "not a database") {
		t.Fatalf("the unreadable catalog was not kept: %v", err)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// After a mirror device failed mid-backup, the rebuilt catalog keeps every
// good copy good and every copy it calls good restores identical; volume
// files given as arguments (here a pool's volumes moved elsewhere) are read
// too.
func TestRebuildAfterDeviceFailure(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 200, LargeFiles: 2, LargeSize: 6 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec, "D4": spec}, injectFault(t, "R5", 3<<20))
	backupJSON(t, cfg, ExitPartial)
	before := lsJSON[[]catalog.Copy](t, cfg, "copies")
	removeCatalog(t, dir)

	moved := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(filepath.Join(dir, "state", "volumes", "copy3"), moved); err != nil {
		t.Fatal(err)
	}
	extra, err := filepath.Glob(filepath.Join(moved, "*.vtape"))
	if err != nil || len(extra) == 0 {
		t.Fatalf("moved volumes: %v %v", extra, err)
	}
	// The failed device's records may still be on its volume (its copies
	// are then rebuilt as failed, unless every record made it), or the
	// next device to mount that volume cut them (the copies are then not
	// on any volume, and not in the rebuilt catalog).
	code, out, errs := run(t, append([]string{"-c", cfg, "scan", "--rebuild"}, extra...)...)
	if code != 0 && code != ExitPartial {
		t.Fatalf("rebuild after a device failure: exit %d\n%s%s", code, out, errs)
	}
	after := lsJSON[[]catalog.Copy](t, cfg, "copies")
	state := map[copyRow]string{}
	for _, c := range after {
		r := copyRows([]catalog.Copy{c})[0]
		r.State = ""
		state[r] = c.State
	}
	sources := map[string]string{}
	for _, o := range lsJSON[[]catalog.Object](t, cfg, "objects") {
		sources[o.ID] = o.Source
	}
	for _, c := range before {
		r := copyRows([]catalog.Copy{c})[0]
		r.State = ""
		got, ok := state[r]
		switch {
		case c.State == jobs.CopyGood && got != jobs.CopyGood:
			t.Fatalf("copy %d of %s (%s) was good, rebuilt as %q", c.Number, c.ObjectID, sources[c.ObjectID], got)
		case !ok && c.State == jobs.CopyGood:
			t.Fatalf("copy %d of %s lost in the rebuild", c.Number, c.ObjectID)
		}
	}
	for _, c := range after {
		if c.State == jobs.CopyGood {
			restoreAndCompare(t, dir, cfg, sources[c.ObjectID], c.Number)
		}
	}
	for _, v := range lsJSON[[]catalog.Volume](t, cfg, "volumes", "--pool", "copy3") {
		if filepath.Dir(v.Path) != moved {
			t.Fatalf("volume %s rebuilt with path %s, it was read from %s", v.Label, v.Path, moved)
		}
	}
}

// A copy job that appends a second copy of an object to the volume that
// holds its first: the rebuild tells the two copies apart by their copy
// marks.
func TestRebuildTwoCopiesOnOneVolume(t *testing.T) {
	dir, cfg := figure5(t, nil)
	// Every object gets a new copy in copy1 itself: they go onto one of the
	// two copy1 volumes, which already holds the first copies of some.
	res := copyJSON(t, 0, "-c", cfg, "copy", "--to-pool", "copy1", "--from-pool", "copy1", "--all")
	shared := 0
	for _, o := range res.Objects {
		if len(o.NewCopies) != 1 || o.Copies[0].State != jobs.CopyGood {
			t.Fatalf("%s: %+v", o.Source, o)
		}
		if volumeOf(t, dir, o.Source, o.FromCopy) == volumeOf(t, dir, o.Source, o.NewCopies[0]) {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("no object has two copies on one volume: the test does not test what it should")
	}
	before := copyRows(lsJSON[[]catalog.Copy](t, cfg, "copies"))
	removeCatalog(t, dir)
	rebuildJSON(t, cfg, 0)
	// The device of a copy that an ad-hoc copy job wrote (its media agent
	// BMA is not in the configuration, and the volume does not record the
	// device) is not known to a rebuild: it comes back blank.
	for i := range before {
		if before[i].MediaAgent == "BMA" {
			before[i].Device = ""
		}
	}
	sameJSON(t, "ls copies", before, copyRows(lsJSON[[]catalog.Copy](t, cfg, "copies")))
	for _, o := range res.Objects {
		restoreAndCompare(t, dir, cfg, o.Source, o.FromCopy)
		restoreAndCompare(t, dir, cfg, o.Source, o.NewCopies[0])
	}
}

// The block holding an object's Begin record and its first copy mark is
// damaged: the copy marks repeated in every block still tell which copy
// the rest of the records belong to, so the copy is rebuilt as failed, not
// lost from the catalog.
func TestRebuildFirstBlockDamaged(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 100, LargeFiles: 2, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, nil)
	d2 := objectOf(t, backupJSON(t, cfg, 0), "D2")
	cat := openCatalog(t, dir)
	exts, err := cat.Extents(context.Background(), d2, 1)
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents: %v %v", exts, err)
	}
	v, err := cat.Volume(context.Background(), exts[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	cat.Close()
	flipByte(t, v.Path, exts[0].FirstBlock*int64(v.BlockSize)+100)
	removeCatalog(t, dir)
	if code, out, errs := run(t, "-c", cfg, "scan", "--rebuild"); code != ExitPartial {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out, errs)
	}
	states := map[int]string{}
	for _, c := range lsJSON[[]catalog.Copy](t, cfg, "copies") {
		if c.ObjectID == d2 {
			states[c.Number] = c.State
		}
	}
	if states[1] != jobs.CopyFailed || states[2] != jobs.CopyGood || states[3] != jobs.CopyGood {
		t.Fatalf("D2 copies after the rebuild: %v; want 1 failed, 2 and 3 good", states)
	}
	restoreAndCompare(t, dir, cfg, "D2", 0)
}
