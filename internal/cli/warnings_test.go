package cli

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
)

// moveD3 points source D3 of figure 2 at path (relative to the file) and
// adds extra lines to it.
func moveD3(path, extra string) func(string) string {
	return func(s string) string {
		old := "  - name: D3\n    paths: [data/D3]\n"
		if !strings.Contains(s, old) {
			panic("figure2.yaml changed shape: no source D3")
		}
		return strings.Replace(s, old, "  - name: D3\n    paths: ["+path+"]\n"+extra, 1)
	}
}

func outcomeOf(t *testing.T, res jobs.BackupResult, source string) jobs.ObjectOutcome {
	t.Helper()
	for _, o := range res.Objects {
		if o.Source == source {
			return o
		}
	}
	t.Fatalf("no object of %s in the result", source)
	return jobs.ObjectOutcome{}
}

// An unmounted disk is not an empty one: a source path that does not
// exist fails the source's object and the backup, while the other sources
// are backed up; check warns about it beforehand, and with may_be_absent
// the same backup succeeds.
func TestBackupMissingSourcePathFails(t *testing.T) {
	_, cfg := figure2(t, nil, moveD3("mnt/usb", ""))

	code, out, errs := run(t, "-c", cfg, "check")
	if code != 0 || !strings.Contains(out, "warning: source D3: path ") || !strings.Contains(out, "mnt/usb does not exist on this host") {
		t.Fatalf("check: exit %d, want 0 with a warning about D3\n%s%s", code, out, errs)
	}

	res := backupJSON(t, cfg, ExitFailure)
	if res.State != jobs.JobFailed {
		t.Fatalf("job state %s, want failed", res.State)
	}
	d3 := outcomeOf(t, res, "D3")
	if d3.State != jobs.ObjectFailed || !strings.Contains(d3.Error, "does not exist") || !strings.Contains(d3.Error, "may_be_absent") {
		t.Fatalf("D3: %s, error %q; want failed, naming the missing path and may_be_absent", d3.State, d3.Error)
	}
	for _, c := range d3.Copies {
		if c.State == jobs.CopyGood {
			t.Fatalf("D3 copy %d is good though its source is missing", c.Number)
		}
	}
	if d1 := outcomeOf(t, res, "D1"); d1.State != jobs.ObjectComplete {
		t.Fatalf("D1: %s (%s); the other sources are backed up", d1.State, d1.Error)
	}
	if _, objs := lsJSONObjects(t, cfg, "D3"); objs != 0 {
		t.Fatalf("D3 has %d complete object(s) in the catalog; want none", objs)
	}

	// Allowed to be absent: the backup succeeds and says so.
	_, cfg = figure2(t, nil, moveD3("mnt/usb", "    may_be_absent: true\n"))
	if code, out, errs := run(t, "-c", cfg, "check"); code != 0 || !strings.Contains(out, "may_be_absent") {
		t.Fatalf("check with may_be_absent: exit %d\n%s%s", code, out, errs)
	}
	res = backupJSON(t, cfg, 0)
	if d3 := outcomeOf(t, res, "D3"); res.State != jobs.JobSuccess || d3.State != jobs.ObjectComplete || res.Warnings != 0 {
		t.Fatalf("may_be_absent: job %s, D3 %s (%s), %d warnings; want success", res.State, d3.State, d3.Error, res.Warnings)
	}
}

// lsJSONObjects counts the complete objects of source in ls objects --json.
func lsJSONObjects(t *testing.T, cfg, source string) (int, int) {
	t.Helper()
	objs := lsJSON[[]catalog.Object](t, cfg, "objects")
	n, complete := 0, 0
	for _, o := range objs {
		if o.Source == source {
			n++
			if o.State == jobs.ObjectComplete {
				complete++
			}
		}
	}
	return n, complete
}

// TestBackupUnreadableFileWarns backs up a source with a file the backup
// cannot read: the job completes, is recorded with a warning (ls jobs and
// its JSON) and exits 3, so that a cron job sees that data was missed.
//
// The file has mode 000. Root reads it anyway (CAP_DAC_OVERRIDE), so as
// root the daisy binary runs as the user nobody over a tree that user owns:
// the open fails with EACCES, as it does for any backup run by a user, or
// by a root confined without that capability.
func TestBackupUnreadableFileWarns(t *testing.T) {
	dir, cfg := figure2(t, nil, nil)
	secret := filepath.Join(dir, "data", "D3", "secret")
	if err := os.WriteFile(secret, []byte("not for daisy"), 0o000); err != nil {
		t.Fatal(err)
	}
	var code int
	var out, errs string
	if os.Geteuid() != 0 {
		code, out, errs = run(t, "-c", cfg, "--json", "backup")
	} else {
		code, out, errs = runAsNobody(t, dir, "-c", cfg, "--json", "backup")
	}
	if code != ExitPartial {
		t.Fatalf("backup with an unreadable file: exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitPartial, out, errs)
	}
	var res jobs.BackupResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("backup --json: %v\n%s", err, out)
	}
	d3 := outcomeOf(t, res, "D3")
	if res.State != jobs.JobSuccess || res.Warnings != 1 || d3.Unread != 1 || d3.State != jobs.ObjectComplete {
		t.Fatalf("job %s with %d warnings, D3 %s with %d unread; want success with 1 warning, D3 complete", res.State, res.Warnings, d3.State, d3.Unread)
	}
	if len(d3.Warnings) != 1 || !strings.Contains(d3.Warnings[0], secret) || !strings.Contains(d3.Warnings[0], "permission denied") {
		t.Fatalf("D3 warnings %q; want one naming %s", d3.Warnings, secret)
	}
	if !strings.Contains(errs, "completed with warnings") || !strings.Contains(errs, "D3: 1 path(s) could not be read") {
		t.Fatalf("stderr does not say the job completed with warnings:\n%s", errs)
	}

	js := lsJSON[[]catalog.Job](t, cfg, "jobs")
	if len(js) == 0 || js[0].ID != res.Job || js[0].State != jobs.JobSuccess || js[0].Warnings != 1 {
		t.Fatalf("ls jobs --json: %+v; want job %d success with 1 warning", js, res.Job)
	}
	code, out, errs = run(t, "-c", cfg, "ls", "jobs")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 {
		t.Fatalf("ls jobs: exit %d\n%s%s", code, out, errs)
	}
	// The table is aligned: the job's warnings stand below WARNINGS.
	col := strings.Index(lines[0], "WARNINGS")
	if col < 0 || len(lines[1]) <= col || strings.Fields(lines[1][col:] + " -")[0] != "1" {
		t.Fatalf("ls jobs shows no WARNINGS 1 for the job:\n%s", out)
	}
}

// runAsNobody runs the daisy binary as the user nobody (65534) over dir,
// which it is given.
func runAsNobody(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	bin := buildDaisy(t, t.TempDir())
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(bin); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run %s as nobody: %v", bin, err)
	return 0, "", ""
}
