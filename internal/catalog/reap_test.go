package catalog

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// setOwner rewrites the owner of a job, as another process would have
// recorded it.
func setOwner(t *testing.T, c *Catalog, id int64, o Owner) {
	t.Helper()
	if _, err := c.w.Exec(`UPDATE jobs SET owner_pid = ?, owner_boot = ?, owner_start = ? WHERE id = ?`, o.PID, o.Boot, o.Start, id); err != nil {
		t.Fatal(err)
	}
}

// goneProcess returns the owner of a process that ran and ended.
func goneProcess(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, _ := processStart(pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return Owner{PID: int64(pid), Boot: self.Boot, Start: start}
}

// Issue 8 item 3: the running jobs whose owner is gone are marked
// interrupted when the catalog is opened, with their unfinished copies
// and objects failed; jobs of live processes are left alone.
func TestReapInterrupted(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	liveStart, err := processStart(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	liveOwner := Owner{PID: int64(live.Process.Pid), Boot: self.Boot, Start: liveStart}
	owners := map[string]Owner{
		"mine":       self,
		"live":       liveOwner,
		"dead":       goneProcess(t),
		"reused":     {PID: liveOwner.PID, Boot: self.Boot, Start: liveStart + 1}, // the pid now runs another process
		"other-boot": {PID: self.PID, Boot: "00000000-0000-0000-0000-000000000000", Start: self.Start},
		"unknown":    {},
	}
	if self.Boot == "" {
		t.Skip("no boot id")
	}
	jobs := map[string]Job{}
	n := 0
	for name, o := range owners {
		j, err := c.StartJob(ctx, "backup")
		if err != nil {
			t.Fatal(err)
		}
		setOwner(t, c, j.ID, o)
		jobs[name] = j
		// Each job has an object being written with a copy being
		// written, and a complete object with one good copy and one
		// still being written.
		n++
		w, done := objectID(2*n), objectID(2*n+1)
		for _, id := range []string{w, done} {
			if err := c.AddObject(ctx, Object{ID: id, Source: "s", Client: "c", Level: "full", JobID: j.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.AddCopy(ctx, Copy{ObjectID: w, Number: 1, Role: RoleBackup, JobID: j.ID}); err != nil {
			t.Fatal(err)
		}
		if err := c.FinishObject(ctx, done, 10, 1, 1, "h", ObjectComplete, time.Time{}); err != nil {
			t.Fatal(err)
		}
		goodCopy(t, c, done, 10)
		if err := c.AddCopy(ctx, Copy{ObjectID: done, Number: 2, Role: RoleMirror, JobID: j.ID}); err != nil {
			t.Fatal(err)
		}
	}
	// A complete object whose copies are all unfinished: failed with them.
	bare := objectID(99)
	if err := c.AddObject(ctx, Object{ID: bare, Source: "s", Client: "c", Level: "full", JobID: jobs["dead"].ID}); err != nil {
		t.Fatal(err)
	}
	if err := c.FinishObject(ctx, bare, 10, 1, 1, "h", ObjectComplete, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddCopy(ctx, Copy{ObjectID: bare, Number: 1, Role: RoleBackup, JobID: jobs["dead"].ID}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reaped := map[int64]bool{}
	for _, j := range c.Interrupted() {
		reaped[j.ID] = true
	}
	wantGone := map[string]bool{"dead": true, "reused": true, "other-boot": true, "unknown": true}
	for name, j := range jobs {
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := JobRunning
		if wantGone[name] {
			want = JobInterrupted
		}
		if got.State != want || reaped[j.ID] != wantGone[name] {
			t.Errorf("job of owner %s (%+v): %s (reported %v), want %s", name, owners[name], got.State, reaped[j.ID], want)
		}
		if want == JobInterrupted && (!strings.Contains(got.Error, "interrupted") || got.Finished.IsZero()) {
			t.Errorf("job of owner %s: error %q, finished %v; want the reason and a time", name, got.Error, got.Finished)
		}
		if got.Owner != owners[name] {
			t.Errorf("job of owner %s: owner read back %+v", name, got.Owner)
		}
	}
	for _, cp := range mustCopies(t, c) {
		j := cp.JobID
		var name string
		for n, x := range jobs {
			if x.ID == j {
				name = n
			}
		}
		switch {
		case cp.Number == 1 && cp.ObjectID != bare && cp.State == CopyGood:
		case wantGone[name] && cp.State != CopyFailed:
			t.Errorf("copy %s/%d of the %s job: %s, want failed", cp.ObjectID, cp.Number, name, cp.State)
		case wantGone[name] && !strings.Contains(cp.Error, "interrupted"):
			t.Errorf("copy %s/%d of the %s job: error %q, want the reason", cp.ObjectID, cp.Number, name, cp.Error)
		case !wantGone[name] && cp.State != CopyWriting:
			t.Errorf("copy %s/%d of the %s job: %s, want writing (its job still runs)", cp.ObjectID, cp.Number, name, cp.State)
		}
	}
	objs, err := c.Objects(ctx, ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var name string
		for n, x := range jobs {
			if x.ID == o.JobID {
				name = n
			}
		}
		want := o.State
		switch {
		case o.ID == bare:
			want = ObjectFailed
		case wantGone[name] && o.Length == 0:
			want = ObjectFailed // was writing
		case !wantGone[name] && o.Length == 0:
			want = ObjectWriting
		default:
			want = ObjectComplete // has a good copy
		}
		if o.State != want {
			t.Errorf("object %s of the %s job: %s, want %s", o.ID, name, o.State, want)
		}
	}
	// A second open finds nothing more to do.
	c2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if len(c2.Interrupted()) != 0 {
		t.Errorf("the second open marked %d more jobs", len(c2.Interrupted()))
	}
}

func mustCopies(t *testing.T, c *Catalog) []Copy {
	t.Helper()
	cps, err := c.AllCopies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// Schema version 2 rebuilds jobs: a catalog of version 1 keeps its jobs
// (ids, states, the objects and copies that name them) and new jobs
// number on after the old ones.
func TestMigrateJobsToVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	// A database of schema version 1, as the program before wrote it.
	db, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(sqlCreateSchemaVersion)
	for _, q := range migrations[0].statements {
		exec(q)
	}
	exec(sqlInsertSchemaVersion, 1, migrations[0].description, 1)
	var ids []int64
	for range 3 {
		var id int64
		if err := db.QueryRow(`INSERT INTO jobs (kind, state, started) VALUES ('backup', 'running', 1) RETURNING id`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	exec(`UPDATE jobs SET state = 'success', finished = 2 WHERE id = ?`, ids[0])
	exec(`DELETE FROM jobs WHERE id = ?`, ids[2]) // AUTOINCREMENT: its id is never used again
	exec(`INSERT INTO clients (name, created) VALUES ('c', 1)`)
	exec(`INSERT INTO sources (name, client, created, updated) VALUES ('s', 'c', 1, 1)`)
	exec(`INSERT INTO objects (id, source, client, level, started, job_id, state) VALUES (?, 's', 'c', 'full', 1, ?, 'writing')`, objectID(1), ids[1])
	exec(`INSERT INTO copies (object_id, number, role, state, job_id, created, updated) VALUES (?, 1, 'backup', 'writing', ?, 1, 1)`, objectID(1), ids[1])
	db.Close()

	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(migrations))
	}
	j0, err := c.Job(ctx, ids[0])
	if err != nil || j0.State != JobSuccess {
		t.Fatalf("old job %d: %+v, %v", ids[0], j0, err)
	}
	// The running job of version 1 has no owner: interrupted, its copy
	// and object failed.
	j1, err := c.Job(ctx, ids[1])
	if err != nil || j1.State != JobInterrupted {
		t.Fatalf("old running job %d: %+v, %v; want interrupted", ids[1], j1, err)
	}
	if st, _ := copyState(t, c, objectID(1), 1); st != CopyFailed {
		t.Fatalf("copy of the old running job: %s, want failed", st)
	}
	j, err := c.StartJob(ctx, "verify")
	if err != nil || j.ID <= ids[2] {
		t.Fatalf("new job %d, %v; want an id after %d", j.ID, err, ids[2])
	}
	// Foreign keys are on again and still hold: an object cannot name a
	// job that does not exist.
	if err := c.AddObject(ctx, Object{ID: objectID(2), Source: "s", Client: "c", Level: "full", JobID: 9999}); err == nil {
		t.Fatal("an object naming a missing job was accepted")
	}
	if err := c.FinishJob(ctx, Job{ID: j.ID, State: JobInterrupted}); err != nil {
		t.Fatalf("finish a job interrupted: %v", err)
	}
}
