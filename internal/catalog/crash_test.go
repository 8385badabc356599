package catalog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Child processes of the crash tests run the test binary with these
// variables set; TestMain runs their part and exits.
const (
	childModeEnv = "DAISY_CATALOG_TEST_CHILD"
	childPathEnv = "DAISY_CATALOG_TEST_PATH"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if err := runChild(mode, os.Getenv(childPathEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is the child side of the crash tests. It never returns normally
// in the modes that simulate a crash: it is killed, or kills itself.
func runChild(mode, path string) error {
	ctx := context.Background()
	c, err := Open(ctx, path)
	if err != nil {
		return err
	}
	switch mode {
	case "mid-commit":
		// The writes of CommitCopy, in a transaction that never commits:
		// the process dies with it open.
		id := objectID(1)
		tx, err := c.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlAddExtent, id, 1, 0, "v1", 0, 3, 0, 1000, 5, 1000); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlGoodCopy, time.Now().UnixNano(), id, 1); err != nil {
			return err
		}
		fmt.Println("in transaction")
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		select {}
	case "loop":
		// Commit copies as fast as possible until killed.
		for n := 1; ; n++ {
			id := objectID(n)
			if err := c.AddObject(ctx, Object{ID: id, Source: "s", Client: "c", Level: "full"}); err != nil {
				return err
			}
			files := make([]File, 200)
			for i := range files {
				files[i] = File{ObjectID: id, Path: fmt.Sprintf("f%04d", i), Type: '0'}
			}
			if err := c.AddFiles(ctx, files); err != nil {
				return err
			}
			if err := c.FinishObject(ctx, id, 3000, 3, 200, "h", ObjectComplete, time.Time{}); err != nil {
				return err
			}
			if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 1, Role: RoleBackup}); err != nil {
				return err
			}
			ext := []Extent{
				{VolumeID: "v1", FirstOffset: 0, EndOffset: 1000},
				{VolumeID: "v1", FirstOffset: 1000, EndOffset: 2000},
				{VolumeID: "v1", FirstOffset: 2000, EndOffset: 3000},
			}
			if err := c.CommitCopy(ctx, id, 1, ext); err != nil {
				return err
			}
			fmt.Println("committed", n)
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// startChild runs the test binary as a child in the given mode on the
// catalog at path.
func startChild(t *testing.T, mode, path string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	return cmd, bufio.NewScanner(out)
}

// setupCrash creates a catalog with volume v1 and returns its path.
func setupCrash(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	addVolumes(t, c, "v1")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCrashBeforeCommitCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	id := objectID(1)
	addObject(t, c, id, 1000)
	addVolumes(t, c, "v1")
	addCopy(t, c, id, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer c.Close()
	if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
		t.Fatalf("after reopen: copy %s with %d extents; want writing with none", st, n)
	}
	if good, err := c.CopiesByState(ctx, CopyGood); err != nil || len(good) != 0 {
		t.Fatalf("good copies after reopen: %d, %v", len(good), err)
	}
}

// TestCrashMidCommit kills a process while it holds the CommitCopy writes
// in an open transaction: none of them may survive.
func TestCrashMidCommit(t *testing.T) {
	ctx := context.Background()
	path := setupCrash(t)
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	id := objectID(1)
	addObject(t, c, id, 1000)
	addCopy(t, c, id, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	cmd, out := startChild(t, "mid-commit", path)
	watchdog := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	if !out.Scan() || out.Text() != "in transaction" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not reach the transaction: %q, %v", out.Text(), out.Err())
	}
	err = cmd.Wait()
	if err == nil || cmd.ProcessState.Success() {
		t.Fatalf("child exited normally (%v); it should have been killed", err)
	}

	c, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer c.Close()
	if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
		t.Fatalf("after crash: copy %s with %d extents; want writing with none", st, n)
	}
	checkIntegrity(t, c)
}

// TestCrashLoop kills a process that commits copies in a loop, at an
// arbitrary moment, and checks that every good copy is complete.
func TestCrashLoop(t *testing.T) {
	ctx := context.Background()
	path := setupCrash(t)
	cmd, out := startChild(t, "loop", path)
	// A stuck child is killed, which ends the scan below.
	watchdog := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	const want = 10
	seen := 0
	for seen < want && out.Scan() {
		if strings.HasPrefix(out.Text(), "committed") {
			seen++
		}
	}
	time.Sleep(7 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if seen < want {
		t.Fatalf("child committed only %d copies before it stopped", seen)
	}

	c, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer c.Close()
	copies, err := c.AllCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := 0
	for _, cp := range copies {
		o, err := c.Object(ctx, cp.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		ext, err := c.Extents(ctx, cp.ObjectID, cp.Number)
		if err != nil {
			t.Fatal(err)
		}
		switch cp.State {
		case CopyGood:
			good++
			if o.State != ObjectComplete {
				t.Fatalf("good copy %s/%d of a %s object", cp.ObjectID, cp.Number, o.State)
			}
			if err := checkExtents(cp.ObjectID, cp.Number, o.Length, ext); err != nil {
				t.Fatalf("good copy %s/%d: %v", cp.ObjectID, cp.Number, err)
			}
		case CopyWriting:
			if len(ext) != 0 {
				t.Fatalf("writing copy %s/%d has %d extents", cp.ObjectID, cp.Number, len(ext))
			}
		default:
			t.Fatalf("copy %s/%d is %s", cp.ObjectID, cp.Number, cp.State)
		}
	}
	if good < seen {
		t.Fatalf("%d good copies after the crash, but the child reported %d commits", good, seen)
	}
	checkIntegrity(t, c)
}

// checkIntegrity runs SQLite's own consistency checks.
func checkIntegrity(t *testing.T, c *Catalog) {
	t.Helper()
	ctx := context.Background()
	var res string
	if err := c.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q, %v", res, err)
	}
	rows, err := c.r.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatalf("foreign_key_check reports violations")
	}
}

// TestConcurrent drives one catalog from several goroutines; run it with
// -race.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	addVolumes(t, c, "v1", "v2")
	const workers, perWorker = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers {
		wg.Go(func() {
			job, err := c.StartJob(ctx, "backup")
			if err != nil {
				errs <- err
				return
			}
			for i := range perWorker {
				id := objectID(w*1000 + i)
				steps := []func() error{
					func() error {
						return c.AddObject(ctx, Object{ID: id, Source: fmt.Sprintf("src%d", w), Client: "cl", Level: "full", JobID: job.ID})
					},
					func() error {
						return c.AddFiles(ctx, []File{{ObjectID: id, Path: "a"}, {ObjectID: id, Path: "a/b"}})
					},
					func() error { return c.FinishObject(ctx, id, 100, 1, 2, "h", ObjectComplete, time.Time{}) },
					func() error { return c.AddCopy(ctx, Copy{ObjectID: id, Number: 1, Role: RoleBackup, JobID: job.ID}) },
					func() error { return c.AddCopy(ctx, Copy{ObjectID: id, Number: 2, Role: RoleMirror, Level: 1}) },
					func() error {
						return c.CommitCopy(ctx, id, 1, []Extent{{VolumeID: "v1", EndOffset: 60}, {VolumeID: "v2", FirstOffset: 60, EndOffset: 100}})
					},
					func() error { return c.FailCopy(ctx, id, 2, "drive gone") },
					func() error {
						_, err := c.Object(ctx, id[:len(id)-2])
						_ = err // may be ambiguous; must not race
						_, err = c.Files(ctx, id, "a")
						return err
					},
					func() error { _, err := c.Volumes(ctx, ""); return err },
					func() error { _, err := c.Jobs(ctx, 5); return err },
					func() error { _, err := c.LatestObject(ctx, fmt.Sprintf("src%d", w)); return err },
				}
				for s, f := range steps {
					if err := f(); err != nil {
						errs <- fmt.Errorf("worker %d object %d step %d: %w", w, i, s, err)
						return
					}
				}
			}
			if err := c.FinishJob(ctx, Job{ID: job.ID, State: JobPartial, Files: perWorker * 2}); err != nil {
				errs <- err
			}
		})
	}
	// A reader that runs alongside the writers.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.AllCopies(ctx); err != nil {
				errs <- err
				return
			}
			if _, err := c.Objects(ctx, ObjectFilter{State: ObjectComplete}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	good, err := c.CopiesByState(ctx, CopyGood)
	if err != nil || len(good) != workers*perWorker {
		t.Fatalf("%d good copies, %v; want %d", len(good), err, workers*perWorker)
	}
	failed, err := c.CopiesByState(ctx, CopyFailed)
	if err != nil || len(failed) != workers*perWorker {
		t.Fatalf("%d failed copies, %v; want %d", len(failed), err, workers*perWorker)
	}
	jobs, err := c.Jobs(ctx, 0)
	if err != nil || len(jobs) != workers {
		t.Fatalf("%d jobs, %v", len(jobs), err)
	}
	for _, j := range jobs {
		if j.State != JobPartial {
			t.Fatalf("job %d is %s", j.ID, j.State)
		}
	}
}
