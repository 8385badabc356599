package jobs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/testtree"
)

const weekYAML = `catalog:
  sqlite: state/catalog.db
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
sources:
  - name: S
    paths: [data/S]
pools:
  - name: p
    type: vtape
    directory: state/volumes/p
  - name: m
    type: vtape
    directory: state/volumes/m
devices:
  - {name: tape0, type: vtape}
  - {name: tape1, type: vtape}
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - {name: B1, source: S}
mirror_groups:
  - media_agents:
      - name: bma1
        device: tape1
        pool: m
        buffers:
          - {name: B1, follows: bma0.B1}
`

// weekSetup writes the week configuration and a tree into a new directory.
func weekSetup(t *testing.T) (dir, src string, cfg *config.Config, cat *catalog.Catalog) {
	t.Helper()
	dir = t.TempDir()
	cfgPath := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfgPath, []byte(weekYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	src = filepath.Join(dir, "data", "S")
	if err := testtree.Make(src, testtree.Spec{Seed: 7, SmallFiles: 60}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cat, err = catalog.Open(context.Background(), cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return dir, src, cfg, cat
}

// sh runs a shell script in dir and fails the test if it fails.
func sh(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-euc", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// Issue 4, acceptance 1: a scripted week. A full, then each day changes
// (new, modified, deleted and renamed files, mode changes, a directory
// removed, a file turned into a directory and back, links) and a backup:
// incrementals, a differential in the middle, incrementals after it. A
// restore --at each of the 8 points gives exactly the tree of that point,
// compared with a cp -a snapshot taken right after its backup.
func TestWeekOfIncrementals(t *testing.T) {
	ctx := context.Background()
	dir, src, cfg, cat := weekSetup(t)
	sh(t, src, `mkdir -p docs/old/deep keep && echo one > docs/a.txt && echo two > docs/b.txt && echo deep > docs/old/deep/x
		echo kept > keep/k && ln -s a.txt docs/link && echo same-size-1 > mod.txt && echo turn > turn && echo h > h1 && ln h1 h2`)

	days := []struct {
		level  string
		change string
	}{
		{LevelFull, ``},
		{LevelIncremental, `echo new > docs/new.txt; echo changed > docs/a.txt; rm docs/b.txt; echo same-size-2 > mod.txt`},
		{LevelIncremental, `mv docs/new.txt docs/renamed.txt; chmod 600 keep/k; mkdir -p fresh/sub && echo f > fresh/sub/f`},
		{LevelIncremental, `rm -r docs/old; rm turn; mkdir turn && echo inside > turn/t; ln -sf renamed.txt docs/link`},
		{LevelDifferential, `rm -r turn; echo file-again > turn; ln h1 h3; chmod 700 fresh`},
		{LevelIncremental, `touch -r mod.txt /dev/null; m=$(stat -c %y mod.txt); echo same-size-3 > mod.txt; touch -d "$m" mod.txt`},
		{LevelIncremental, `mv fresh moved; : > keep/k; rm h2`},
		{LevelIncremental, `echo back > docs/b.txt; mkdir -p docs/old && echo reborn > docs/old/y; rm docs/link`},
	}
	day0 := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Hour)
	var points []time.Time
	var objects []ObjectOutcome
	for day, d := range days {
		if d.change != "" {
			sh(t, src, d.change)
		}
		snap := filepath.Join(dir, "snap", fmt.Sprint(day))
		os.MkdirAll(filepath.Dir(snap), 0o755)
		if out, err := exec.Command("cp", "-a", src, snap).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v\n%s", err, out)
		}
		res, err := Backup(ctx, cfg, cat, BackupOptions{Level: d.level})
		if err != nil || res.State != JobSuccess {
			t.Fatalf("day %d: backup: %v, %+v", day, err, res)
		}
		o := res.Objects[0]
		if o.Level != d.level {
			t.Fatalf("day %d: backup level %s, want %s", day, o.Level, d.level)
		}
		when := day0.Add(time.Duration(day) * 24 * time.Hour)
		if err := cat.SetObjectStarted(ctx, o.Object, when); err != nil {
			t.Fatal(err)
		}
		points = append(points, when)
		objects = append(objects, o)
	}

	// What the levels hold: the incrementals little, the differential
	// everything since the full, each with its base.
	full := objects[0]
	for day, o := range objects[1:] {
		day++
		want := objects[day-1].Object
		if days[day].level == LevelDifferential {
			want = full.Object
		}
		if o.Base != want {
			t.Errorf("day %d: base %s, want %s", day, o.Base, want)
		}
		if o.Files >= full.Files/2 || o.Unchanged == 0 {
			t.Errorf("day %d: %s of %d entries (%d unchanged) against a full of %d", day, o.Level, o.Files, o.Unchanged, full.Files)
		}
	}
	if objects[1].Deleted != 1 || objects[3].Deleted != 3 {
		t.Errorf("deletions recorded: day 1 %d (want 1), day 3 %d (want 3: docs/old and the 2 paths below)", objects[1].Deleted, objects[3].Deleted)
	}
	// The differential holds day 1's change again; day 5 (after it) not.
	if !holds(t, cat, objects[4].Object, src+"/docs/a.txt") || holds(t, cat, objects[5].Object, src+"/docs/a.txt") {
		t.Errorf("docs/a.txt: the differential should hold it, the next incremental not")
	}
	// The mtime-preserving change of day 5 is seen (ctime changed).
	if !holds(t, cat, objects[5].Object, src+"/mod.txt") {
		t.Errorf("day 5: the change of mod.txt with its mtime put back was missed")
	}

	for day, when := range points {
		target := filepath.Join(t.TempDir(), "r")
		res, err := Restore(ctx, cat, RestoreOptions{Source: "S", At: when.Add(time.Hour), Target: target})
		if err != nil {
			t.Fatalf("restore --at day %d: %v", day, err)
		}
		if res.Object != objects[day].Object {
			t.Fatalf("restore --at day %d restored %s, want %s", day, res.Object, objects[day].Object)
		}
		diffs, err := testtree.Compare(filepath.Join(dir, "snap", fmt.Sprint(day)), filepath.Join(target, src))
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) > 0 {
			t.Fatalf("restore --at day %d (%s, chain of %d) differs:\n%s", day, days[day].level, len(res.Chain), strings.Join(diffs, "\n"))
		}
		if len(res.Problems) > 0 {
			t.Fatalf("restore --at day %d: problems: %v", day, res.Problems)
		}
	}

	// Every copy of the chain restores it: copy 2 (the mirror) of day 7.
	target := filepath.Join(t.TempDir(), "r")
	res, err := Restore(ctx, cat, RestoreOptions{Source: "S", Copy: 2, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chain) < 3 {
		t.Fatalf("day 7 restored from %d objects; its chain is full, differential, 3 incrementals", len(res.Chain))
	}
	for _, p := range res.Chain {
		if p.Copy != 2 {
			t.Fatalf("part %s read copy %d, want 2", p.Object, p.Copy)
		}
	}
	if diffs, _ := testtree.Compare(filepath.Join(dir, "snap", "7"), filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("copy 2 differs:\n%s", strings.Join(diffs, "\n"))
	}

	// consolidate copies the chain of day 7 (full, differential, the
	// incrementals after it), not what the differential made needless,
	// and the new copies restore day 7.
	cr, err := Consolidate(ctx, cfg, cat, "S", Target{Pool: "m"}, CopyOptions{})
	if err != nil || cr.State != JobSuccess {
		t.Fatalf("consolidate: %v %+v", err, cr)
	}
	var got []string
	for _, o := range cr.Objects {
		got = append(got, o.Object)
	}
	want := []string{objects[0].Object, objects[4].Object, objects[5].Object, objects[6].Object, objects[7].Object}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("consolidate copied %v, want the chain %v", got, want)
	}
	n := cr.Objects[0].Copies[0].Number
	target = filepath.Join(t.TempDir(), "r")
	if _, err := Restore(ctx, cat, RestoreOptions{Source: "S", Copy: n, Target: target}); err != nil {
		t.Fatalf("restore from the consolidated copy %d: %v", n, err)
	}
	if diffs, _ := testtree.Compare(filepath.Join(dir, "snap", "7"), filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("consolidated copy differs:\n%s", strings.Join(diffs, "\n"))
	}
}

// holds reports whether object id records path p itself.
func holds(t *testing.T, cat *catalog.Catalog, id, p string) bool {
	t.Helper()
	_, err := cat.File(context.Background(), id, p)
	return err == nil
}

// An incremental without a full to base on becomes a full and says so.
func TestIncrementalWithoutFull(t *testing.T) {
	_, _, cfg, cat := weekSetup(t)
	res, err := Backup(context.Background(), cfg, cat, BackupOptions{Level: LevelIncremental})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Objects[0]
	if o.Level != LevelFull || o.Base != "" {
		t.Fatalf("level %s base %q, want a full", o.Level, o.Base)
	}
	if len(o.Warnings) == 0 || !strings.Contains(o.Warnings[0], "this backup is a full") {
		t.Fatalf("warnings %q do not say the incremental became a full", o.Warnings)
	}
	if _, err := Backup(context.Background(), cfg, cat, BackupOptions{Level: "weekly"}); err == nil {
		t.Fatal("level weekly accepted")
	}
}

// A restore cut short can be resumed into the same target: what it had
// finished is neither read nor written again, a file it left half written
// is written over, and the tree comes out whole.
func TestRestoreResume(t *testing.T) {
	ctx := context.Background()
	dir, src, cfg, cat := weekSetup(t)
	writeBig := func(name string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeBig("big1", 3<<20)
	writeBig("big2", 3<<20)
	if _, err := Backup(ctx, cfg, cat, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "r")
	first, err := Restore(ctx, cat, RestoreOptions{Source: "S", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	// Make it look interrupted: big2 cut short (and so without its
	// mtime), a directory not created yet.
	restored := filepath.Join(target, src)
	if err := os.Truncate(filepath.Join(restored, "big2"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(restored, "d01")); err != nil {
		t.Fatal(err)
	}
	// Without --resume (and --overwrite) the existing files are kept.
	kept, err := Restore(ctx, cat, RestoreOptions{Source: "S", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Kept == 0 || kept.Entries >= first.Entries {
		t.Fatalf("a restore into a filled target kept %d existing files and restored %d entries (of %d): it must say what it kept", kept.Kept, kept.Entries, first.Entries)
	}
	res, err := Restore(ctx, cat, RestoreOptions{Source: "S", Target: target, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if diffs, err := testtree.Compare(src, restored); err != nil || len(diffs) > 0 {
		t.Fatalf("resumed restore differs: %v\n%s", err, strings.Join(diffs, "\n"))
	}
	if res.Resumed == 0 || len(res.Problems) > 0 {
		t.Fatalf("resume: %d entries found restored, problems %v", res.Resumed, res.Problems)
	}
	// big1 was done: the resumed restore read about big2 and d01 only.
	if res.BytesRead >= first.BytesRead*3/4 {
		t.Fatalf("resumed restore read %d bytes, the whole restore %d", res.BytesRead, first.BytesRead)
	}
	t.Logf("whole restore read %d bytes, resumed %d (%d entries already there)", first.BytesRead, res.BytesRead, res.Resumed)
}

// A file-level restore (seek mode) falls back to the next copy when the
// blocks it needs on the first copy are damaged, as a plain restore does.
func TestSeekRestoreFallsBack(t *testing.T) {
	ctx := context.Background()
	_, src, cfg, cat := weekSetup(t)
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	if err := os.WriteFile(filepath.Join(src, "y-big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(src, "z-small.txt")
	if err := os.WriteFile(small, []byte("the last entry of the stream\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Backup(ctx, cfg, cat, BackupOptions{})
	if err != nil || res.State != JobSuccess {
		t.Fatalf("backup: %v %+v", err, res)
	}
	// Damage the second half of copy 1's blocks: the end of y-big and
	// z-small.txt.
	exts, err := cat.Extents(ctx, res.Objects[0].Object, 1)
	if err != nil || len(exts) != 1 {
		t.Fatalf("extents of copy 1: %v %v", exts, err)
	}
	v, err := cat.Volume(ctx, exts[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(v.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for b := (exts[0].FirstBlock + exts[0].LastBlock) / 2; b <= exts[0].LastBlock; b++ {
		if _, err := f.WriteAt([]byte{0xde, 0xad}, b*int64(v.BlockSize)+1000); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	target := filepath.Join(t.TempDir(), "r")
	rr, err := Restore(ctx, cat, RestoreOptions{Source: "S", Paths: []string{small}, Target: target})
	if err != nil {
		t.Fatalf("restore --path with copy 1 damaged: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(target, small))
	if err != nil || string(got) != "the last entry of the stream\n" {
		t.Fatalf("restored %q, %v", got, err)
	}
	if !rr.FellBack() || rr.Copy != 2 || rr.Chain[0].Mode != "seek" {
		t.Fatalf("attempts %+v, copy %d, parts %+v: want a seek that fell back to copy 2", rr.Attempts, rr.Copy, rr.Chain)
	}
	// With only copy 1 allowed, the entry is lost, and the damage named
	// with the volume.
	rr, err = Restore(ctx, cat, RestoreOptions{Source: "S", Copy: 1, Paths: []string{small}, Target: t.TempDir()})
	if err != nil || len(rr.LostEntries) != 1 || rr.LostEntries[0].Path != small || len(rr.LostRanges) != 1 || !strings.Contains(rr.LostRanges[0].Error, v.Label) {
		t.Fatalf("restore --copy 1 of a damaged copy: %v, lost %+v in %+v", err, rr.LostEntries, rr.LostRanges)
	}
}

// A path taken out of a source is deleted by the next incremental: a
// restore of it does not bring the path back; one of the full still does.
func TestIncrementalDropsRemovedPath(t *testing.T) {
	ctx := context.Background()
	dir, src, cfg, cat := weekSetup(t)
	other := filepath.Join(dir, "data", "other")
	sh(t, dir, "mkdir -p data/other/sub && echo o > data/other/sub/o && echo p > data/other/p")
	cfg.Sources[0].Paths = append(cfg.Sources[0].Paths, other)
	full, err := Backup(ctx, cfg, cat, BackupOptions{})
	if err != nil || full.State != JobSuccess {
		t.Fatalf("full: %v %+v", err, full)
	}
	cfg.Sources[0].Paths = cfg.Sources[0].Paths[:1]
	inc, err := Backup(ctx, cfg, cat, BackupOptions{Level: LevelIncremental})
	if err != nil || inc.State != JobSuccess {
		t.Fatalf("incremental: %v %+v", err, inc)
	}
	if d := inc.Objects[0].Deleted; d != 4 {
		t.Fatalf("incremental deleted %d entries, want 4 (other, other/p, other/sub, other/sub/o)", d)
	}
	target := filepath.Join(t.TempDir(), "r")
	if _, err := Restore(ctx, cat, RestoreOptions{Source: "S", Target: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(target, other)); !os.IsNotExist(err) {
		t.Fatalf("the path taken out of the source came back: %v", err)
	}
	if diffs, _ := testtree.Compare(src, filepath.Join(target, src)); len(diffs) > 0 {
		t.Fatalf("the rest differs: %v", diffs)
	}
	target = filepath.Join(t.TempDir(), "r")
	if _, err := Restore(ctx, cat, RestoreOptions{Object: full.Objects[0].Object, Target: target}); err != nil {
		t.Fatal(err)
	}
	if diffs, _ := testtree.Compare(other, filepath.Join(target, other)); len(diffs) > 0 {
		t.Fatalf("the full's copy of the removed path differs: %v", diffs)
	}
}

// Issue 8, item 9: the base an incremental compares with gives the paths
// below a deleted directory directory by directory, so an incremental
// that deletes a directory of many files does not hold them all (it read
// the whole subtree of every object of the chain at once).
func TestBaseUnderBounded(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(id string, n int) []catalog.Object {
		if err := cat.AddObject(ctx, catalog.Object{ID: id, Source: "S", Client: "c", Level: "full", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		files := []catalog.File{{ObjectID: id, Path: "/data/", Type: '5', MTime: mt}}
		for i := range n {
			if i%100 == 0 {
				files = append(files, catalog.File{ObjectID: id, Path: fmt.Sprintf("/data/d%05d/", i/100), Type: '5', MTime: mt})
			}
			files = append(files, catalog.File{ObjectID: id, Path: fmt.Sprintf("/data/d%05d/file-%07d.txt", i/100, i), Type: '0', Size: 1, MTime: mt, Offset: int64(i)})
			if len(files) >= 20000 || i == n-1 {
				if err := cat.AddFiles(ctx, files); err != nil {
					t.Fatal(err)
				}
				files = files[:0]
			}
		}
		if err := cat.FinishObject(ctx, id, int64(n), int64(n), int64(n), "sha256:00", catalog.ObjectComplete, time.Now()); err != nil {
			t.Fatal(err)
		}
		o, err := cat.Object(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return []catalog.Object{o}
	}
	const n = 20000
	peak := func(chain []catalog.Object, n int) uint64 {
		got := 0
		p := testtree.PeakHeap(func() {
			err = chainBase(ctx, cat, chain).Under("/data", func(string) { got++ })
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := n + n/100; got != want {
			t.Fatalf("Under gave %d paths, want %d", got, want)
		}
		return p
	}
	a, b := mk("018f0000-0000-7000-8000-000000000001", n), mk("018f0000-0000-7000-8000-000000000002", 4*n)
	small, large := peak(a, n), peak(b, 4*n)
	t.Logf("heap peak %d KiB below a directory of %d files, %d KiB for %d", small>>10, n, large>>10, 4*n)
	if large > small+4<<20 {
		t.Fatalf("heap peak %d KiB below a directory of %d files, %d KiB for %d: grows with the files", small>>10, n, large>>10, 4*n)
	}
}
