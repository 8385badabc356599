package jobs

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device/devices"
	"daisy/internal/device/fault"
	"daisy/internal/testtree"
)

// snapshot copies the source tree aside (cp -a) and returns where.
func snapshot(t *testing.T, src string) string {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "snap")
	if out, err := exec.Command("cp", "-a", src, snap).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	return snap
}

// restoreSame restores o (the latest of source S when o is zero) and
// compares the tree with want; it returns the object restored.
func restoreSame(t *testing.T, cat *catalog.Catalog, o RestoreOptions, src, want string) string {
	t.Helper()
	o.Target = filepath.Join(t.TempDir(), "r")
	res, err := Restore(context.Background(), cat, o)
	if err != nil {
		t.Fatalf("restore %+v: %v", o, err)
	}
	diffs, err := testtree.Compare(want, filepath.Join(o.Target, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("restore of %s differs:\n%s", res.Object, strings.Join(diffs, "\n"))
	}
	return res.Object
}

func objectState(t *testing.T, cat *catalog.Catalog, id string) string {
	t.Helper()
	o, err := cat.Object(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.State
}

const twoSourcesYAML = `catalog:
  sqlite: state/catalog.db
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
sources:
  - name: S
    paths: [data/S]
  - name: A
    paths: [data/A]
pools:
  - name: p
    type: vtape
    directory: state/volumes/p
devices:
  - {name: tape0, type: vtape}
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - {name: B1, source: S}
      - {name: B2, source: A}
`

// Issue 8 item 1: a backup whose only copy failed leaves its object failed
// in the catalog, not complete; the latest backup (restore --source,
// --at) is then the older one, which restores. Source S is small: it is
// all in its buffer, its stream ended well, before the device fails
// while it writes the large source A, so only the copy fails (as with a
// pool that cannot take a new volume).
func TestObjectFailsWithItsOnlyCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "daisy.yaml"), []byte(twoSourcesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "data", "S")
	if err := testtree.Make(src, testtree.Spec{Seed: 3, SmallFiles: 30}); err != nil {
		t.Fatal(err)
	}
	if err := testtree.Make(filepath.Join(dir, "data", "A"), testtree.Spec{Seed: 4, LargeFiles: 1, LargeSize: 24 << 20}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "daisy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(ctx, cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	want := snapshot(t, src)
	first, err := Backup(ctx, cfg, cat, BackupOptions{Sources: []string{"S"}})
	if err != nil || first.State != JobSuccess {
		t.Fatalf("first backup: %v %+v", err, first)
	}
	sh(t, src, `echo later > later.txt`)
	undo := devices.SetTestWrap(fault.Every(8 << 20)) // the device fails amid A
	second, err := Backup(ctx, cfg, cat, BackupOptions{})
	undo()
	if err != nil {
		t.Fatalf("second backup: %v", err)
	}
	var o ObjectOutcome
	for _, x := range second.Objects {
		if x.Source == "S" {
			o = x
		}
	}
	if second.State != JobFailed || o.State != ObjectFailed || o.Copies[0].State != CopyFailed {
		t.Fatalf("second backup: job %s, object %s, copy %s; want failed, failed, failed", second.State, o.State, o.Copies[0].State)
	}
	if got := objectState(t, cat, o.Object); got != ObjectFailed {
		t.Fatalf("the catalog has the object whose only copy failed as %s, want failed", got)
	}
	latest, err := cat.LatestObject(ctx, "S")
	if err != nil || latest.ID != first.Objects[0].Object {
		t.Fatalf("latest object %s, %v; want the first backup %s", latest.ID, err, first.Objects[0].Object)
	}
	at, err := cat.ObjectAt(ctx, "S", time.Now())
	if err != nil || at.ID != first.Objects[0].Object {
		t.Fatalf("object at now %s, %v; want the first backup %s", at.ID, err, first.Objects[0].Object)
	}
	if got := restoreSame(t, cat, RestoreOptions{Source: "S"}, src, want); got != first.Objects[0].Object {
		t.Fatalf("restore --source restored %s, want %s", got, first.Objects[0].Object)
	}
	// Nor is it a base: the next incremental is based on the first.
	inc, err := Backup(ctx, cfg, cat, BackupOptions{Sources: []string{"S"}, Level: LevelIncremental})
	if err != nil || inc.State != JobSuccess || inc.Objects[0].Base != first.Objects[0].Object {
		t.Fatalf("incremental: %v, %s, base %s; want based on %s", err, inc.State, inc.Objects[0].Base, first.Objects[0].Object)
	}
}

// Issue 8 item 2: when the file list of an object cannot be recorded (the
// catalog's disk full, here a trigger that refuses the rows), its copies
// are failed, not good, and the object is not the latest backup.
func TestUnrecordedFileListFailsTheCopies(t *testing.T) {
	ctx := context.Background()
	_, src, cfg, cat := weekSetup(t)
	want := snapshot(t, src)
	first, err := Backup(ctx, cfg, cat, BackupOptions{})
	if err != nil || first.State != JobSuccess {
		t.Fatalf("first backup: %v %+v", err, first)
	}
	db, err := sql.Open("sqlite", cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse_files BEFORE INSERT ON files
BEGIN SELECT RAISE(ABORT, 'database or disk is full (test trigger)'); END`); err != nil {
		t.Fatal(err)
	}
	sh(t, src, `echo later > later.txt`)
	second, err := Backup(ctx, cfg, cat, BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("backup with a catalog that refuses files: %v; want the AddFiles error", err)
	}
	o := second.Objects[0]
	if second.State != JobFailed || o.State != ObjectFailed {
		t.Fatalf("job %s, object %s; want failed", second.State, o.State)
	}
	cps, err := cat.Copies(ctx, o.Object)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if c.State != CopyFailed || !strings.Contains(c.Error, "file list") {
			t.Fatalf("copy %d is %s (%q); want failed because the file list was not recorded", c.Number, c.State, c.Error)
		}
	}
	if got := objectState(t, cat, o.Object); got != ObjectFailed {
		t.Fatalf("object in the catalog is %s, want failed", got)
	}
	if _, err := db.Exec(`DROP TRIGGER refuse_files`); err != nil {
		t.Fatal(err)
	}
	if got := restoreSame(t, cat, RestoreOptions{Source: "S"}, src, want); got != first.Objects[0].Object {
		t.Fatalf("restore --source restored %s, want the first backup %s", got, first.Objects[0].Object)
	}
}

// Issue 8 item 3: a backup whose context is cancelled (SIGINT, SIGTERM)
// still records its end: the job interrupted, no copy left writing, no
// object left writing.
func TestCancelledBackupIsRecorded(t *testing.T) {
	_, src, cfg, cat := weekSetup(t)
	if err := testtree.Make(filepath.Join(src, "big"), testtree.Spec{Seed: 9, LargeFiles: 2, LargeSize: 32 << 20}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Backup(ctx, cfg, cat, BackupOptions{Monitor: func(m *Monitor) {
		go func() {
			for m.Sources[0].Bytes.Load() < 4<<20 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v, want context.Canceled", err)
	}
	checkNothingUnfinished(t, cat)
	j, jerr := cat.Job(context.Background(), res.Job)
	if jerr != nil || j.State != JobInterrupted {
		t.Fatalf("job %d: %s, %v; want interrupted", res.Job, j.State, jerr)
	}
	// The next backup works.
	next, err := Backup(context.Background(), cfg, cat, BackupOptions{Level: LevelIncremental})
	if err != nil || next.State != JobSuccess {
		t.Fatalf("next backup: %v %+v", err, next)
	}
	// And a copy job cancelled in its run is recorded too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel2()
	}()
	cr, err := Copy(ctx2, cfg, cat, CopySelect{All: true}, Target{Pool: "m"}, CopyOptions{})
	if err == nil {
		t.Logf("the copy job finished before the cancel: %s", cr.State)
	} else if cr != nil {
		j, jerr := cat.Job(context.Background(), cr.Job)
		if jerr != nil || (j.State != JobInterrupted && j.State != JobFailed) {
			t.Fatalf("copy job %d: %s, %v; want interrupted", cr.Job, j.State, jerr)
		}
	}
	checkNothingUnfinished(t, cat)
}

// checkNothingUnfinished fails if a job is running, a copy or an object
// writing.
func checkNothingUnfinished(t *testing.T, cat *catalog.Catalog) {
	t.Helper()
	ctx := context.Background()
	js, err := cat.Jobs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.State == JobRunning {
			t.Fatalf("job %d (%s) still running", j.ID, j.Kind)
		}
	}
	cps, err := cat.CopiesByState(ctx, CopyWriting)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) > 0 {
		t.Fatalf("%d copies still writing, the first %s/%d", len(cps), cps[0].ObjectID, cps[0].Number)
	}
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{State: ObjectWriting})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) > 0 {
		t.Fatalf("%d objects still writing", len(objs))
	}
}

// Issue 8 item 8: an incremental is based only on a chain that restores.
// When an older member of the newest chain lost every copy, the next
// incremental is based on the newest object whose chain restores (here
// the full: it becomes a differential) and says so, and it restores.
func TestIncrementalBaseChainRestores(t *testing.T) {
	ctx := context.Background()
	_, src, cfg, cat := weekSetup(t)
	backup := func(level string) ObjectOutcome {
		t.Helper()
		res, err := Backup(ctx, cfg, cat, BackupOptions{Level: level})
		if err != nil || res.State != JobSuccess {
			t.Fatalf("%s backup: %v %+v", level, err, res)
		}
		return res.Objects[0]
	}
	full := backup(LevelFull)
	sh(t, src, `echo one > one.txt`)
	inc1 := backup(LevelIncremental)
	sh(t, src, `echo two > two.txt`)
	inc2 := backup(LevelIncremental)
	if inc2.Base != inc1.Object {
		t.Fatalf("second incremental based on %s, want %s", inc2.Base, inc1.Object)
	}
	// Every copy of the first incremental is lost (say verify found both
	// damaged): the chain full ← inc1 ← inc2 no longer restores.
	for _, c := range inc1.Copies {
		if err := cat.FailCopy(ctx, inc1.Object, c.Number, "damaged (test)"); err != nil {
			t.Fatal(err)
		}
	}
	sh(t, src, `echo three > three.txt`)
	want := snapshot(t, src)
	next := backup(LevelIncremental)
	if next.Base != full.Object || next.Level != LevelDifferential {
		t.Fatalf("incremental after a broken chain: %s based on %s; want a differential based on the full %s", next.Level, next.Base, full.Object)
	}
	if len(next.Warnings) == 0 || !strings.Contains(next.Warnings[0], inc1.Object) || !strings.Contains(next.Warnings[0], "differential") {
		t.Fatalf("warnings %q do not say why the base changed", next.Warnings)
	}
	restoreSame(t, cat, RestoreOptions{Object: next.Object}, src, want)

	// The full lost too: the next incremental is a full, and says so.
	for _, c := range full.Copies {
		if err := cat.FailCopy(ctx, full.Object, c.Number, "damaged (test)"); err != nil {
			t.Fatal(err)
		}
	}
	last := backup(LevelIncremental)
	if last.Level != LevelFull || last.Base != "" || len(last.Warnings) == 0 || !strings.Contains(last.Warnings[0], "this backup is a full") {
		t.Fatalf("incremental without a restorable chain: %s based on %q, warnings %q; want a full that says so", last.Level, last.Base, last.Warnings)
	}
	restoreSame(t, cat, RestoreOptions{Object: last.Object}, src, want)
}
