package cli

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"daisy/internal/catalog"
)

// Issue 9: ls jobs shows when each job started as ls objects shows a
// backup's start, to the millisecond, so that two jobs of one second are
// told apart and the column can be given to --at, --since and --until.
func TestLsJobsStartedAsLsObjects(t *testing.T) {
	cfg, _ := restoreSetup(t) // one backup job
	if code, out, errs := run(t, "-c", cfg, "backup"); code != 0 {
		t.Fatalf("second backup: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := run(t, "-c", cfg, "--json", "ls", "jobs")
	var js []catalog.Job
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || len(js) < 2 {
		t.Fatalf("ls jobs --json: exit %d, %d jobs\n%s%s", code, len(js), out, errs)
	}
	code, out, errs = run(t, "-c", cfg, "ls", "jobs")
	if code != 0 {
		t.Fatalf("ls jobs: exit %d\n%s%s", code, out, errs)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 4 {
			rows[f[0]] = f[3] + " " + f[4]
		}
	}
	for _, j := range js {
		if got, want := rows[strconv.FormatInt(j.ID, 10)], j.Started.Local().Format(startedLayout); got != want {
			t.Errorf("job %d: STARTED %q, want %q (as ls objects shows a start)\n%s", j.ID, got, want, out)
		}
	}
}
