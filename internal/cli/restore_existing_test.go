package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/jobs"
)

// restoreSetup backs up source S of three files in sub/ and returns the
// configuration and the source's path.
func restoreSetup(t *testing.T) (cfg, src string) {
	t.Helper()
	dir := t.TempDir()
	src = filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := os.WriteFile(filepath.Join(src, "sub", fmt.Sprintf("f%d", i)), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg = oneSourceConfig(t, dir)
	if code, out, errs := run(t, "-c", cfg, "backup"); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errs)
	}
	return cfg, src
}

// Issue 9, restore into an existing tree: a restore that finds every file
// already there keeps them, says how many, points to --overwrite and
// --resume and exits 1 (nothing restored), not 3 (which is for damage);
// one that finds some keeps them, says so and exits 0.
func TestRestoreIntoExistingTree(t *testing.T) {
	cfg, src := restoreSetup(t)
	target := filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target); code != 0 {
		t.Fatalf("first restore: exit %d\n%s%s", code, out, errs)
	}
	// Everything exists: nothing restored.
	code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target)
	if code != ExitFailure {
		t.Errorf("restore into the same target again: exit %d, want %d\n%s%s", code, ExitFailure, out, errs)
	}
	for _, want := range []string{"nothing restored", "3 files exist there and were kept", "--overwrite", "--resume", target} {
		if !strings.Contains(errs, want) {
			t.Errorf("restore into a full target: stderr does not say %q:\n%s", want, errs)
		}
	}
	if strings.Contains(out, "restored") || strings.Contains(errs, "exists, not overwritten") {
		t.Errorf("restore into a full target: it lists each kept file or claims it restored:\n%s%s", out, errs)
	}
	rr := restoreJSON(t, ExitFailure, "-c", cfg, "restore", "--source", "S", "--to", target)
	if rr.Kept != 3 || rr.Entries != 0 || len(rr.Problems) != 0 {
		t.Errorf("restore --json into a full target: kept %d, entries %d, problems %q; want 3 kept, 0 restored, no problems", rr.Kept, rr.Entries, rr.Problems)
	}
	// Some exist: the others restored, the kept ones counted, exit 0.
	if err := os.Remove(filepath.Join(target, src, "sub", "f2")); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "-c", cfg, "restore", "--source", "S", "--to", target)
	if code != 0 || !strings.Contains(out, ": 1 entries") || !strings.Contains(out, "2 entries existed in "+target+" and were kept") || !strings.Contains(out, "--overwrite") {
		t.Errorf("restore into a partly filled target: exit %d\n%s%s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(target, src, "sub", "f2")); err != nil || string(b) != "2" {
		t.Errorf("f2 restored as %q, %v", b, err)
	}
	// --overwrite restores them all.
	rr = restoreJSON(t, 0, "-c", cfg, "restore", "--source", "S", "--to", target, "--overwrite")
	if rr.Kept != 0 || rr.Entries != 5 {
		t.Errorf("restore --overwrite: kept %d, entries %d; want 0 and 5", rr.Kept, rr.Entries)
	}
}

// Issue 9: a restore into a target it cannot write fails (exit 1) with the
// paths and the reason; it does not report the entries as restored.
func TestRestoreUnwritableTarget(t *testing.T) {
	cfg, src := restoreSetup(t)
	target := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	reason := "permission denied"
	if os.Geteuid() == 0 {
		// root writes through modes: a read-only file system.
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", target).CombinedOutput(); err != nil {
			t.Fatalf("mount a read-only tmpfs: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", target).Run() })
		reason = "read-only file system"
	} else if err := os.Chmod(target, 0o555); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target)
	if code != ExitFailure {
		t.Errorf("restore into an unwritable target: exit %d, want %d\n%s%s", code, ExitFailure, out, errs)
	}
	if strings.Contains(out, "restored") {
		t.Errorf("restore into an unwritable target claims it restored:\n%s", out)
	}
	if !strings.Contains(errs, "restore into "+target+" failed") || !strings.Contains(errs, filepath.Join(target, src)) || !strings.Contains(errs, reason) {
		t.Errorf("restore into an unwritable target: stderr does not name the target, the path and %q:\n%s", reason, errs)
	}
	var rr jobs.RestoreResult
	code, out, _ = run(t, "-c", cfg, "--json", "restore", "--source", "S", "--to", target)
	if err := json.Unmarshal([]byte(out), &rr); err != nil || code != ExitFailure || rr.Failed == 0 || rr.Entries != 0 {
		t.Errorf("restore --json into an unwritable target: exit %d, failed %d, entries %d (%v)\n%s", code, rr.Failed, rr.Entries, err, out)
	}
}

// Issue 9: --at takes an object ID prefix without --source, in restore and
// ls files, and ls files says on stderr which backup --at chose.
func TestAtObjectPrefix(t *testing.T) {
	cfg, src := restoreSetup(t)
	code, out, errs := run(t, "-c", cfg, "--json", "ls", "objects")
	var objs []struct {
		ID    string `json:"id"`
		Level string `json:"level"`
	}
	if err := json.Unmarshal([]byte(out), &objs); code != 0 || err != nil || len(objs) != 1 {
		t.Fatalf("ls objects: exit %d, %v\n%s%s", code, err, out, errs)
	}
	prefix := objs[0].ID[:13]
	code, out, errs = run(t, "-c", cfg, "ls", "files", "--at", prefix)
	if code != 0 || !strings.Contains(out, src) || !strings.Contains(errs, "object "+objs[0].ID+" ("+objs[0].Level+" of S, started ") {
		t.Errorf("ls files --at %s: exit %d\n%s%s", prefix, code, out, errs)
	}
	target := filepath.Join(t.TempDir(), "r")
	rr := restoreJSON(t, 0, "-c", cfg, "restore", "--at", prefix, "--to", target)
	if rr.Object != objs[0].ID || rr.Entries != 5 {
		t.Errorf("restore --at %s: object %s, %d entries; want %s, 5", prefix, rr.Object, rr.Entries, objs[0].ID)
	}
	if code, _, errs := run(t, "-c", cfg, "restore", "--at", "nonsense", "--source", "S", "--to", target); code != ExitUsage || !strings.Contains(errs, `--at "nonsense"`) {
		t.Errorf("restore --at nonsense: exit %d, %s", code, errs)
	}
}
