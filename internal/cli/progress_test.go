package cli

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

// Issue 9, progress everywhere: a restore, verify or copy job's line fits
// the terminal whatever its width (a line that reaches the last column
// wraps), and shows the percentage and the time left where there is room.
func TestRenderProgressFitsWidth(t *testing.T) {
	const total = 3 << 30
	for _, label := range []string{"restore", "verify", "copy", "consolidate"} {
		for _, width := range []int{40, 200} {
			for _, done := range []int64{0, 1 << 20, total / 2, total - 1, total} {
				for _, elapsed := range []time.Duration{0, 90 * time.Second, 30 * time.Hour} {
					line := renderProgress(label, done, total, elapsed, width)
					if n := utf8.RuneCountInString(line); n > width-1 {
						t.Errorf("%s at width %d: %d characters, more than %d: %q", label, width, n, width-1, line)
					}
					if strings.ContainsAny(line, "\r\n") {
						t.Errorf("%s at width %d: line breaks in %q", label, width, line)
					}
					for _, want := range []string{label, "%", "ETA"} {
						if !strings.Contains(line, want) {
							t.Errorf("%s at width %d: no %q in %q", label, width, want, line)
						}
					}
					if width == 200 && (!strings.Contains(line, "[") || !strings.Contains(line, humanBytes(total))) {
						t.Errorf("%s at width 200: no bar or no total in %q", label, line)
					}
				}
			}
		}
	}
	if got := renderProgress("restore", total/2, total, 60*time.Second, 200); !strings.Contains(got, " 50%") || !strings.Contains(got, "ETA 1m00s") {
		t.Errorf("half done in a minute: %q, want 50%% and ETA 1m00s", got)
	}
	if got := etaString(99, 100, 10*time.Second); got != "1s" {
		t.Errorf("almost done: ETA %q, want 1s (never 0s before the end)", got)
	}
	for _, width := range []int{1, 5, 12} {
		if line := renderProgress("consolidate", 1, 2, time.Second, width); utf8.RuneCountInString(line) > max(width-1, 0) {
			t.Errorf("width %d: %q does not fit", width, line)
		}
	}
}

// The drawing loop, on a fake terminal of 40 columns: every redraw starts
// at the line's start, erases what was left and fits; the last one says
// 100 % and ends the line.
func TestDrawProgressFakeTerminal(t *testing.T) {
	var term bytes.Buffer
	p := &jobs.Progress{Job: "restore"}
	p.Total.Store(1 << 20)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { drawProgress(&term, func() int { return 40 }, "restore", p, time.Millisecond, stop) })
	for i := 0; i < 16; i++ {
		p.Done.Add(1 << 16)
		time.Sleep(2 * time.Millisecond)
	}
	p.Ended.Store(true)
	wg.Wait() // it stops by itself once the job ended
	out := term.String()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the last line is not ended: %q", out)
	}
	draws := strings.Split(strings.TrimSuffix(out, "\n"), "\r")[1:]
	if len(draws) < 2 {
		t.Fatalf("%d redraws, want several: %q", len(draws), out)
	}
	for _, d := range draws {
		line, ok := strings.CutSuffix(d, "\x1b[K")
		if !ok || utf8.RuneCountInString(line) > 39 || strings.Contains(line, "\n") {
			t.Errorf("redraw %q: not a line of at most 39 characters followed by erase", d)
		}
	}
	if last := draws[len(draws)-1]; !strings.Contains(last, "100%") {
		t.Errorf("last redraw %q does not say 100%%", last)
	}
	close(stop)
}

// The jobs give their totals from the catalog before any data moves, and
// count up to them.
func TestJobProgressTotals(t *testing.T) {
	dir, cfgPath := figure5(t, nil)
	ctx := context.Background()
	cat := openCatalog(t, dir)
	obj, err := jobs.FindObject(ctx, cat, "", "D3")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, p *jobs.Progress, total int64) {
		t.Helper()
		if p == nil {
			t.Fatalf("%s: the progress callback was not called", what)
		}
		if p.Total.Load() != total || !p.Ended.Load() {
			t.Errorf("%s: total %d (ended %v), want %d", what, p.Total.Load(), p.Ended.Load(), total)
		}
		if d := p.Done.Load(); d < total || d > total+total/10+1<<20 {
			t.Errorf("%s: done %d of %d", what, d, total)
		}
	}
	var seen int64 = -1
	var rp *jobs.Progress
	_, err = jobs.Restore(ctx, cat, jobs.RestoreOptions{Object: obj.ID, Target: filepath.Join(t.TempDir(), "r"), Progress: func(p *jobs.Progress) {
		rp, seen = p, p.Done.Load()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 0 {
		t.Errorf("restore: progress handed over after %d bytes, want before any", seen)
	}
	check("restore", rp, obj.Length)

	var vp *jobs.Progress
	vres, err := jobs.Verify(ctx, cat, jobs.VerifyOptions{Objects: []string{obj.ID}, Progress: func(p *jobs.Progress) { vp = p }})
	if err != nil {
		t.Fatal(err)
	}
	check("verify", vp, obj.Length*int64(len(vres.Copies)))

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cp *jobs.Progress
	cres, err := jobs.CopyJob(ctx, cfg, cat, cfg.CopyJobs[0].Name, jobs.CopyOptions{Progress: func(p *jobs.Progress) { cp = p }})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, o := range cres.Objects {
		want += o.Bytes * int64(len(o.NewCopies))
	}
	if want == 0 {
		t.Fatal("the copy job copied nothing")
	}
	check("copy", cp, want)
}

// Issue 9: --log-level debug says what each stage of a restore does.
func TestRestoreDebugLog(t *testing.T) {
	cfg, _ := restoreSetup(t)
	code, out, errs := run(t, "-c", cfg, "--log-level", "debug", "restore", "--source", "S", "--to", filepath.Join(t.TempDir(), "r"))
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"level=DEBUG", "restore: resolving", "restore: resolved", "opened volume", "restore: reading object", "restore: object done", "restore: target closed"} {
		if !strings.Contains(errs, want) {
			t.Errorf("--log-level debug: no %q in stderr:\n%s", want, errs)
		}
	}
	// At the default level none of it.
	_, _, errs = run(t, "-c", cfg, "restore", "--source", "S", "--to", filepath.Join(t.TempDir(), "r2"))
	if strings.Contains(errs, "DEBUG") {
		t.Errorf("default log level prints debug lines:\n%s", errs)
	}
}

// Issue 9: a backup warning (a path it skipped or could not read) is
// printed once, not in the log on stderr and again in the result.
func TestBackupWarningPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A socket is skipped by anyone, root included.
	sock := filepath.Join(src, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	paths := []string{sock}
	if os.Geteuid() != 0 {
		locked := filepath.Join(src, "locked")
		if err := os.WriteFile(locked, []byte("secret"), 0o000); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, locked)
	}
	cfg := oneSourceConfig(t, dir)
	code, out, errs := run(t, "-c", cfg, "backup")
	if code != ExitOK && code != ExitPartial {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errs)
	}
	for _, p := range paths {
		if n := strings.Count(out+errs, p); n != 1 {
			t.Errorf("the warning about %s is printed %d times, want once:\nstdout:\n%s\nstderr:\n%s", p, n, out, errs)
		}
	}
}

// Issue 9: --log-level debug says what each stage of a backup does: the
// object registered, the media agent and the source's agent started, the
// volumes mounted and spanned from, the catalog batches of file entries,
// the stream's end and each copy committed.
func TestBackupDebugLog(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 10<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(big) // incompressible
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := oneSourceConfig(t, dir)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Volumes of 4 MiB: the 10 MiB file spans them.
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(text), "volume_capacity: 64MiB", "volume_capacity: 4MiB")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "-c", cfg, "--log-level", "debug", "backup")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"level=DEBUG", "backup: object registered", "backup: media agent started", "backup: agent started",
		"backup: mounted volume", "backup: volume full, spanning to the next", "backup: file entries recorded",
		"backup: object stream ended", "backup: released volume", "backup: media agent done", "backup: copy committed"} {
		if !strings.Contains(errs, want) {
			t.Errorf("--log-level debug: no %q in stderr:\n%s", want, errs)
		}
	}
	// At the default level none of it.
	if _, _, errs = run(t, "-c", cfg, "backup"); strings.Contains(errs, "DEBUG") {
		t.Errorf("default log level prints debug lines:\n%s", errs)
	}
}
