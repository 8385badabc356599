package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// volumeFilesMatchCatalog checks that the pool directory holds exactly the
// catalog's volumes, each file as long as its complete sessions (the
// catalog's byte count), and returns the catalog's volumes.
func volumeFilesMatchCatalog(t *testing.T, catPath, pool, dir string) []catalog.Volume {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, catPath)
	if err != nil {
		t.Fatalf("open the catalog: %v", err)
	}
	defer cat.Close()
	vols, err := cat.Volumes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, v := range vols {
		known[filepath.Base(v.Path)] = true
		fi, err := os.Stat(v.Path)
		if err != nil {
			t.Fatalf("volume %s: %v", v.Label, err)
		}
		if fi.Size() != v.Bytes {
			t.Errorf("volume %s: the file has %d bytes, its complete sessions end at %d (%d blocks): the failed session's tail was not cut", v.Label, fi.Size(), v.Bytes, v.Blocks)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.vtape"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("volume file %s is in the pool directory but not in the catalog", f)
		}
	}
	return vols
}

// Issue 8 item 4: a backup that fills the disk holding the catalog and the
// pool fails cleanly, leaves no torn tail on its volume, does not keep the
// next job from starting and ending, and once there is room again a backup
// works and restores identical.
//
// With the default free_space the volumes stop before the filesystem is
// full; with free_space 0 they fill it (ENOSPC), and cutting the failed
// session is what gives the catalog room again.
func TestDiskFullDoesNotWedge(t *testing.T) {
	dir := t.TempDir() // the sources are not on the small disk
	if err := testtree.Make(filepath.Join(dir, "small"), testtree.Spec{Seed: 1, SmallFiles: 60, LargeFiles: 1, LargeSize: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	// Incompressible (the tree's large files are random), and larger than
	// the whole disk.
	if err := testtree.Make(filepath.Join(dir, "big"), testtree.Spec{Seed: 2, SmallFiles: 40, LargeFiles: 4, LargeSize: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Run("default free_space", func(t *testing.T) { diskFull(t, dir, "") })
	t.Run("free_space 0", func(t *testing.T) { diskFull(t, dir, "    free_space: 0\n") })
}

func diskFull(t *testing.T, dir, freeSpace string) {
	fsdir := testtree.MountTmpfs(t, "24m")
	catPath := filepath.Join(fsdir, "state", "catalog.db")
	poolDir := filepath.Join(fsdir, "volumes", "p")
	cfg := filepath.Join(t.TempDir(), "daisy.yaml")
	yaml := fmt.Sprintf(`catalog:
  sqlite: %s
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
sources:
  - name: small
    paths: [%s]
  - name: big
    paths: [%s]
pools:
  - name: p
    type: vtape
    directory: %s
    volume_capacity: 1GiB
%sdevices:
  - name: tape0
    type: vtape
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - name: B1
        source: small
      - name: B2
        source: big
`, catPath, filepath.Join(dir, "small"), filepath.Join(dir, "big"), poolDir, freeSpace)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	backup := func(source string) (int, jobs.BackupResult, string) {
		t.Helper()
		code, out, errs := run(t, "-c", cfg, "--json", "backup", "--source", source)
		var res jobs.BackupResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("backup --source %s: exit %d, no JSON result (%v)\nstdout: %s\nstderr: %s", source, code, err, out, errs)
		}
		return code, res, errs
	}
	copiesFailed := func(what string, res jobs.BackupResult) {
		t.Helper()
		if len(res.Objects) != 1 || len(res.Objects[0].Copies) != 1 {
			t.Fatalf("%s: want one object with one copy, got %+v", what, res.Objects)
		}
		if c := res.Objects[0].Copies[0]; c.State != jobs.CopyFailed {
			t.Fatalf("%s: the copy is %q, want failed", what, c.State)
		}
	}
	jobEnded := func(what string, id int64) {
		t.Helper()
		code, out, errs := run(t, "-c", cfg, "--json", "ls", "jobs")
		if code != 0 {
			t.Fatalf("ls jobs after %s: exit %d: %s", what, code, errs)
		}
		var js []catalog.Job
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatalf("ls jobs --json: %v\n%s", err, out)
		}
		for _, j := range js {
			if j.ID == id {
				if j.State == catalog.JobRunning || j.Finished.IsZero() {
					t.Fatalf("%s: job %d is recorded %s, finished %v: its end was not recorded", what, id, j.State, j.Finished)
				}
				return
			}
		}
		t.Fatalf("%s: job %d is not in the catalog:\n%s", what, id, out)
	}

	// A complete session on the volume first.
	if code, res, errs := backup("small"); code != 0 || res.State != jobs.JobSuccess {
		t.Fatalf("backup of small: exit %d, state %s\n%s", code, res.State, errs)
	}
	before := volumeFilesMatchCatalog(t, catPath, "p", poolDir)

	// The big source does not fit: the backup fails with a clear error.
	code, res, errs := backup("big")
	if code == 0 || res.State == jobs.JobSuccess {
		t.Fatalf("backup of big on a full disk: exit %d, state %s", code, res.State)
	}
	copiesFailed("backup on a full disk", res)
	t.Logf("backup on a full disk: exit %d: %s", code, errs)
	if msg := strings.ToLower(errs + res.Objects[0].Copies[0].Error); !strings.Contains(msg, "free") && !strings.Contains(msg, "space") {
		t.Errorf("the failure does not say that the disk is full:\nstderr: %s\ncopy: %s", errs, res.Objects[0].Copies[0].Error)
	}
	jobEnded("the backup on a full disk", res.Job)
	// The torn tail is cut: every volume ends with its last complete
	// session, which is where it ended before the failed backup.
	after := volumeFilesMatchCatalog(t, catPath, "p", poolDir)
	for i, v := range before {
		if i >= len(after) || after[i].Bytes != v.Bytes {
			t.Errorf("volume %s had %d bytes before the failed backup, now %+v", v.Label, v.Bytes, after)
		}
	}

	// The disk is still (nearly) full, but the next job starts, fails
	// cleanly and records its end; so does a job that needs no volume.
	code, res, errs = backup("big")
	if code == 0 {
		t.Fatalf("second backup of big on a full disk: exit 0")
	}
	copiesFailed("second backup on a full disk", res)
	jobEnded("the second backup on a full disk", res.Job)
	volumeFilesMatchCatalog(t, catPath, "p", poolDir)
	if code, out, errs := run(t, "-c", cfg, "verify"); code != 0 {
		t.Fatalf("verify on a full disk: exit %d\n%s%s", code, out, errs)
	}
	_ = errs

	// More space: the backup works and restores identical.
	testtree.ResizeTmpfs(t, fsdir, "160m")
	if code, res, errs := backup("big"); code != 0 || res.State != jobs.JobSuccess {
		t.Fatalf("backup of big with room: exit %d, state %s\n%s", code, res.State, errs)
	}
	volumeFilesMatchCatalog(t, catPath, "p", poolDir)
	for _, src := range []string{"big", "small"} {
		target := filepath.Join(t.TempDir(), "restore")
		if code, out, errs := run(t, "-c", cfg, "restore", "--source", src, "--to", target); code != 0 {
			t.Fatalf("restore %s: exit %d\n%s%s", src, code, out, errs)
		}
		orig := filepath.Join(dir, src)
		diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) > 0 {
			t.Fatalf("restore of %s differs:\n%s", src, strings.Join(diffs[:min(len(diffs), 20)], "\n"))
		}
	}
}
