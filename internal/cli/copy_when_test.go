package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"daisy/internal/jobs"
)

// Issue 9: copy's --since and --until take what --at takes for a time:
// the STARTED column of ls objects (local time with milliseconds), RFC
// 3339 with a fraction, a date, a duration ago. A bound covers the whole
// of what it names, so --since X --until X with X as ls shows an object's
// start selects that object, and a date both bounds give is that day.
func TestCopySinceUntilFormats(t *testing.T) {
	dir, cfg := figure5(t, nil)
	obj, err := jobs.FindObject(context.Background(), openCatalog(t, dir), "", "D3")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "-c", cfg, "ls", "objects")
	if code != 0 {
		t.Fatalf("ls objects: exit %d\n%s%s", code, out, errs)
	}
	var shown string // the STARTED column of D3's row, as the README's awk takes it
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == obj.ID {
			shown = f[3] + " " + f[4]
		}
	}
	if shown != obj.Started.Local().Format(startedLayout) {
		t.Fatalf("ls objects shows D3 started %q, want %q:\n%s", shown, obj.Started.Local().Format(startedLayout), out)
	}
	planned := func(args ...string) []string {
		t.Helper()
		res := copyJSON(t, 0, append([]string{"-c", cfg, "copy", "--to-pool", "copy3", "--dry-run"}, args...)...)
		var srcs []string
		for _, o := range res.Objects {
			srcs = append(srcs, o.Source)
		}
		slices.Sort(srcs)
		return srcs
	}
	day := obj.Started.Local().Format(time.DateOnly)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--source", "D3", "--since", shown, "--until", shown}, []string{"D3"}},
		{[]string{"--source", "D3", "--since", obj.Started.Format(time.RFC3339Nano), "--until", obj.Started.Format(time.RFC3339Nano)}, []string{"D3"}},
		{[]string{"--source", "D3", "--since", day, "--until", day}, []string{"D3"}},
		{[]string{"--source", "D3", "--since", "1h"}, []string{"D3"}},
		{[]string{"--source", "D3", "--until", "1h"}, nil},
		{[]string{"--source", "D3", "--since", obj.Started.Add(time.Millisecond).Local().Format(startedLayout)}, nil},
	} {
		if got := planned(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("copy %s: plans %v, want %v", strings.Join(c.args, " "), got, c.want)
		}
	}
	// What is not a time says what is.
	code, _, errs = run(t, "-c", cfg, "copy", "--to-pool", "copy3", "--source", "D3", "--since", "yesterday-ish")
	if code != ExitUsage || !strings.Contains(errs, "--since") || !strings.Contains(errs, "as ls objects shows it") {
		t.Errorf("--since yesterday-ish: exit %d, want %d naming the forms\n%s", code, ExitUsage, errs)
	}
}
