package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const schedulesBlock = `schedules:
  - {name: nightly, cron: "0 1 * * 1-6", job: backup}
  - {name: weekly-full, cron: "CRON_TZ=UTC 30 2 * * SUN", job: backup, level: full, sources: [S]}
  - {name: often, cron: "*/10 * * * * *", job: verify}
  - {name: expire, cron: "@daily", job: prune, reclaim: true}
`

func TestLsSchedules(t *testing.T) {
	dir := t.TempDir()
	cfg := oneSourceConfig(t, dir)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(text, schedulesBlock...), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 12, 0, 5, 0, time.UTC) // a Wednesday
	defer func(f func() time.Time) { lsNow = f }(lsNow)
	lsNow = func() time.Time { return now }

	code, out, errs := run(t, "-c", cfg, "ls", "schedules")
	if code != 0 {
		t.Fatalf("ls schedules: exit %d\n%s%s", code, out, errs)
	}
	local := func(t time.Time) string { return t.Local().Format(time.DateTime) }
	want := [][]string{
		{"NAME", "CRON", "JOB", "WHAT", "NEXT"},
		{"nightly", "0 1 * * 1-6", "backup", "incremental of all sources", local(time.Date(2026, 3, 5, 1, 0, 0, 0, time.Local))},
		{"weekly-full", "CRON_TZ=UTC 30 2 * * SUN", "backup", "full of S", local(time.Date(2026, 3, 8, 2, 30, 0, 0, time.UTC))},
		{"often", "*/10 * * * * *", "verify", "copies of all sources", local(now.Add(5 * time.Second))},
		{"expire", "@daily", "prune", "expire, reclaim", local(time.Date(2026, 3, 5, 0, 0, 0, 0, time.Local))},
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("ls schedules: %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	// Columns are aligned: each cell starts where the header's does.
	var starts []int
	for _, h := range want[0] {
		starts = append(starts, strings.Index(lines[0], h))
	}
	for i, row := range want {
		for j, cell := range row {
			end := len(lines[i])
			if j+1 < len(starts) {
				end = starts[j+1]
			}
			if got := strings.TrimSpace(lines[i][starts[j]:end]); got != cell {
				t.Errorf("line %d column %s = %q, want %q\n%s", i, want[0][j], got, cell, out)
			}
		}
	}

	code, out, errs = run(t, "-c", cfg, "--json", "ls", "schedules")
	var rows []scheduleRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 4 {
		t.Fatalf("ls schedules --json: exit %d\n%s%s", code, out, errs)
	}
	if r := rows[1]; r.Name != "weekly-full" || r.Level != "full" || len(r.Sources) != 1 || r.Sources[0] != "S" || !r.Next.Equal(time.Date(2026, 3, 8, 2, 30, 0, 0, time.UTC)) {
		t.Errorf("row %+v", r)
	}
	if r := rows[3]; r.Job != "prune" || !r.Reclaim || r.What != "expire, reclaim" {
		t.Errorf("row %+v", r)
	}

	// No schedules: an empty table, [] in JSON.
	if err := os.WriteFile(cfg, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, "-c", cfg, "--json", "ls", "schedules"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("ls schedules --json without schedules: exit %d %q %s", code, out, errs)
	}
}

// daisy check reports a bad schedule with file:line:column.
func TestCheckReportsBadSchedule(t *testing.T) {
	dir := t.TempDir()
	cfg := oneSourceConfig(t, dir)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := "schedules:\n  - {name: nightly, cron: \"0 25 * * *\", job: backup, sources: [T]}\n"
	if err := os.WriteFile(cfg, append(text, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(string(text), "\n") + 2
	_, entry, _ := strings.Cut(bad, "\n")
	col := func(s string) int { return strings.Index(entry, s) + 1 }
	code, out, errs := run(t, "-c", cfg, "check")
	if code == 0 {
		t.Fatalf("check of a bad schedule: exit 0\n%s%s", out, errs)
	}
	for _, w := range []string{
		fmt.Sprintf("%s:%d:%d: cron of schedule nightly: the hour field \"25\" is wrong", cfg, line, col(`"0 25`)),
		fmt.Sprintf("%s:%d:%d: schedule nightly names source T, which does not exist", cfg, line, col("T]")),
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("check: no %q in\n%s%s", w, out, errs)
		}
	}
}
