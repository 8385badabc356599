package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// withSchedules is figure5.yaml (sources D1..D5, all in the backup group,
// and the copy job figure5) with a source "loose" in no buffer and the
// given schedules block appended; it returns the data and the line of
// the file where the block starts.
func withSchedules(t *testing.T, block string) ([]byte, int) {
	t.Helper()
	base, err := os.ReadFile(figure5)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "sources:\n", "sources:\n  - {name: loose, paths: [data/loose], may_be_absent: true}\n", 1)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + block), strings.Count(s, "\n") + 1
}

func TestSchedulesParse(t *testing.T) {
	data, _ := withSchedules(t, `schedules:
  - {name: nightly, cron: "0 1 * * 1-6", job: backup}
  - name: weekly-full
    cron: "CRON_TZ=Europe/Paris 0 1 * * SUN"
    job: backup
    level: full
    sources: [D1, D2]
  - {name: often, cron: "*/10 * * * * *", job: verify, sources: [D5]}
  - {name: refresh, cron: "@weekly", job: copy, copy_job: figure5}
  - {name: expire, cron: "@daily", job: prune, reclaim: true}
  - {name: verify-all, cron: "@hourly", job: verify}
  - {name: mid, cron: "@midnight", job: prune}
`)
	c, err := Parse(figure5, data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Schedule{
		{Name: "nightly", Cron: "0 1 * * 1-6", Job: JobBackup, Level: LevelIncremental},
		{Name: "weekly-full", Cron: "CRON_TZ=Europe/Paris 0 1 * * SUN", Job: JobBackup, Level: LevelFull, Sources: []string{"D1", "D2"}},
		{Name: "often", Cron: "*/10 * * * * *", Job: JobVerify, Sources: []string{"D5"}},
		{Name: "refresh", Cron: "@weekly", Job: JobCopy, CopyJob: "figure5"},
		{Name: "expire", Cron: "@daily", Job: JobPrune, Reclaim: true},
		{Name: "verify-all", Cron: "@hourly", Job: JobVerify},
		{Name: "mid", Cron: "@midnight", Job: JobPrune},
	}
	if !reflect.DeepEqual(c.Schedules, want) {
		t.Fatalf("schedules\n%+v\nwant\n%+v", c.Schedules, want)
	}
	if s, ok := c.Schedule("refresh"); !ok || s.What() != "copy job figure5" {
		t.Fatalf("Schedule(refresh) = %+v %v", s, ok)
	}
	if got := c.Schedules[1].What(); got != "full of D1, D2" {
		t.Fatalf("What = %q", got)
	}
	if got := c.Schedules[0].What(); got != "incremental of all sources" {
		t.Fatalf("What = %q", got)
	}

	// The times of the lines.
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC) // a Wednesday
	for _, tc := range []struct {
		i    int
		want time.Time
	}{
		{0, time.Date(2026, 3, 5, 1, 0, 0, 0, time.Local)}, // Thursday 01:00 local
		{1, time.Date(2026, 3, 8, 1, 0, 0, 0, paris)},      // Sunday 01:00 in Paris
		{2, at.Add(10 * time.Second)},
		{3, time.Date(2026, 3, 8, 0, 0, 0, 0, time.Local)}, // @weekly: Sunday midnight
		{5, time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC)},
	} {
		if got := c.Schedules[tc.i].Next(at); !got.Equal(tc.want) {
			t.Errorf("%s (%q).Next(%s) = %s, want %s", c.Schedules[tc.i].Name, c.Schedules[tc.i].Cron, at, got, tc.want)
		}
	}
	if tc := (Schedule{Cron: "0 99 * * *"}); !tc.Next(at).IsZero() {
		t.Error("Next of a bad line is not zero")
	}
}

// Every bad schedule gets its error at line:column, saying what to write.
func TestScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		at    string // where the error points: first occurrence in the block
		want  []string
	}{
		{"not a list", "schedules: {name: x}\n", "{name", []string{"schedules must be a list"}},
		{"entry not a mapping", "schedules: [nightly]\n", "nightly", []string{"each entry of schedules must be a mapping"}},
		{"no name", "schedules:\n  - {cron: \"@daily\", job: prune}\n", "{cron", []string{"has no name"}},
		{"bad name", "schedules:\n  - {name: -x, cron: \"@daily\", job: prune}\n", "-x", []string{`invalid schedule name "-x"`}},
		{"duplicate name", "schedules:\n  - {name: n, cron: \"@daily\", job: prune}\n  - {name: n, cron: \"@hourly\", job: prune}\n", "n, cron: \"@hourly", []string{"duplicate schedule name n (first at line"}},
		{"no cron", "schedules:\n  - {name: n, job: prune}\n", "n, job", []string{"schedule n has no cron", "0 1 * * *"}},
		{"cron typo", "schedules:\n  - {name: n, corn: \"@daily\", job: prune}\n", "corn", []string{`unknown key "corn"`, `did you mean "cron"?`}},
		{"cron not a string", "schedules:\n  - {name: n, cron: [1], job: prune}\n", "[1]", []string{"cron of schedule n must be a string"}},
		{"empty cron", "schedules:\n  - {name: n, cron: \"\", job: prune}\n", `""`, []string{"cron line is empty"}},
		{"hour out of range", "schedules:\n  - {name: n, cron: \"0 25 * * *\", job: prune}\n", `"0 25`, []string{"cron of schedule n", `the hour field "25" is wrong`, "0-23"}},
		{"bad minute", "schedules:\n  - {name: n, cron: \"x 1 * * *\", job: prune}\n", `"x 1`, []string{`the minute field "x" is wrong`, "0-59"}},
		{"bad second", "schedules:\n  - {name: n, cron: \"60 0 1 * * *\", job: prune}\n", `"60 0`, []string{`the second field "60" is wrong`}},
		{"bad day of week", "schedules:\n  - {name: n, cron: \"0 1 * * FUN\", job: prune}\n", `"0 1`, []string{`the day-of-week field "FUN" is wrong`, "SUN-SAT"}},
		{"bad month", "schedules:\n  - {name: n, cron: \"0 1 * 13 *\", job: prune}\n", `"0 1`, []string{`the month field "13" is wrong`}},
		{"bad step", "schedules:\n  - {name: n, cron: \"*/0 * * * *\", job: prune}\n", `"*/0`, []string{`the minute field "*/0" is wrong`}},
		{"too few fields", "schedules:\n  - {name: n, cron: \"0 1 * *\", job: prune}\n", `"0 1`, []string{"has 4 field(s)", "write 5"}},
		{"too many fields", "schedules:\n  - {name: n, cron: \"0 0 1 * * * *\", job: prune}\n", `"0 0`, []string{"has 7 field(s)", "6 with a leading seconds field"}},
		{"never fires", "schedules:\n  - {name: n, cron: \"0 0 30 2 *\", job: prune}\n", `"0 0 30`, []string{"never fire"}},
		{"unknown descriptor", "schedules:\n  - {name: n, cron: \"@nightly\", job: prune}\n", `"@nightly`, []string{`unknown descriptor "@nightly"`, "@daily"}},
		{"every", "schedules:\n  - {name: n, cron: \"@every 1h\", job: prune}\n", `"@every`, []string{"not allowed", "restart"}},
		{"bad zone", "schedules:\n  - {name: n, cron: \"CRON_TZ=Mars/Olympus 0 1 * * *\", job: prune}\n", `"CRON_TZ`, []string{`unknown time zone "Mars/Olympus"`, "Europe/Paris"}},
		{"zone alone", "schedules:\n  - {name: n, cron: \"CRON_TZ=UTC\", job: prune}\n", `"CRON_TZ`, []string{"followed by no schedule"}},
		{"no job", "schedules:\n  - {name: n, cron: \"@daily\"}\n", "n, cron", []string{"schedule n has no job", "job: backup"}},
		{"unknown job", "schedules:\n  - {name: n, cron: \"@daily\", job: backpu}\n", "backpu", []string{`job "backpu" of schedule n is not known`, `did you mean "backup"?`}},
		{"bad level", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, level: fll}\n", "fll", []string{`level "fll" of schedule n is not a backup level`, `"full"`}},
		{"level on verify", "schedules:\n  - {name: n, cron: \"@daily\", job: verify, level: full}\n", "level", []string{"level of schedule n belongs to a backup job, not to a verify job"}},
		{"level on prune", "schedules:\n  - {name: n, cron: \"@daily\", job: prune, level: full}\n", "level", []string{"belongs to a backup job, not to a prune job"}},
		{"sources on copy", "schedules:\n  - {name: n, cron: \"@daily\", job: copy, copy_job: figure5, sources: [D1]}\n", "sources", []string{"sources of schedule n belongs to a backup or verify job"}},
		{"copy_job on backup", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, copy_job: figure5}\n", "copy_job", []string{"belongs to a copy job, not to a backup job"}},
		{"reclaim on backup", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, reclaim: true}\n", "reclaim", []string{"belongs to a prune job"}},
		{"unknown key", "schedules:\n  - {name: n, cron: \"@daily\", job: prune, when: now}\n", "when", []string{`unknown key "when" in schedule n`}},
		{"unknown source", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, sources: [D1, D9]}\n", "D9", []string{"schedule n names source D9, which does not exist", "D1, D2"}},
		{"unknown verify source", "schedules:\n  - {name: n, cron: \"@daily\", job: verify, sources: [nope]}\n", "nope", []string{"source nope, which does not exist"}},
		{"source outside the backup group", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, sources: [loose]}\n", "loose]", []string{"source loose, which is in no buffer of the backup group"}},
		{"empty sources", "schedules:\n  - {name: n, cron: \"@daily\", job: backup, sources: []}\n", "[]", []string{"empty list"}},
		{"no copy job", "schedules:\n  - {name: n, cron: \"@daily\", job: copy}\n", "n, cron", []string{"runs a copy job but names none", "copy_job: NAME"}},
		{"unknown copy job", "schedules:\n  - {name: n, cron: \"@daily\", job: copy, copy_job: figure6}\n", "figure6", []string{"copy job figure6, which does not exist", "figure5"}},
		{"reclaim not a boolean", "schedules:\n  - {name: n, cron: \"@daily\", job: prune, reclaim: maybe}\n", "maybe", []string{"reclaim of schedule n must be true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, first := withSchedules(t, tc.block)
			_, err := Parse(figure5, data)
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			line, col := 0, 0
			for i, l := range strings.Split(tc.block, "\n") {
				if j := strings.Index(l, tc.at); j >= 0 {
					line, col = first+i, j+1
					break
				}
			}
			e := es[0]
			if e.File != figure5 || e.Line != line || e.Column != col {
				t.Errorf("error at %s:%d:%d, want %s:%d:%d (%q): %v", e.File, e.Line, e.Column, figure5, line, col, tc.at, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Msg, w) {
					t.Errorf("error %q does not say %q", e.Msg, w)
				}
			}
		})
	}
}

// A backup schedule of every source needs a source in the backup group.
func TestScheduleBackupWithoutBackupGroup(t *testing.T) {
	data := []byte(`sources: [{name: home, paths: [/tmp], may_be_absent: true}]
devices: [{name: tape0}]
backup_group: []
schedules:
  - {name: n, cron: "@daily", job: backup}
`)
	_, err := Parse("daisy.yaml", data)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want errors, got %v", err)
	}
	found := false
	for _, e := range es {
		if e.Line == 5 && strings.Contains(e.Msg, "no source is in a buffer of backup_group") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no error at line 5 about the backup group in %v", err)
	}
}

func TestParseCron(t *testing.T) {
	at := time.Date(2026, 3, 4, 12, 0, 7, 0, time.UTC)
	for _, tc := range []struct {
		line string
		want time.Time
	}{
		{"* * * * * *", at.Add(time.Second)},
		{"*/10 * * * * *", at.Add(3 * time.Second)},
		{"0 13 * * *", time.Date(2026, 3, 4, 13, 0, 0, 0, time.Local)},
		{"  TZ=UTC 0 13 * * *  ", time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC)},
		{"CRON_TZ=UTC @hourly", time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC)},
		{"CRON_TZ=UTC 0 0 1 jan *", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		c, err := ParseCron(tc.line)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tc.line, err)
			continue
		}
		if got := c.Next(at); !got.Equal(tc.want) || got.Location() != at.Location() {
			t.Errorf("ParseCron(%q).Next(%s) = %s, want %s", tc.line, at, got, tc.want)
		}
		if c.String() != tc.line {
			t.Errorf("String() = %q, want %q", c.String(), tc.line)
		}
	}
	// Lines the library itself would choke on are errors, not panics.
	for _, bad := range []string{"TZ=", "CRON_TZ=Europe/Paris", "CRON_TZ= * * * * *", "@", "* * * * * * *", "1-2-3 * * * *", "*/5/5 * * * *", "-1 * * * *"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("ParseCron(%q) succeeded", bad)
		}
	}
	if !(Cron{}).Next(at).IsZero() {
		t.Error("the zero Cron fires")
	}
}

// The commented-out schedules of daisy init work once uncommented.
func TestInitTemplateSchedules(t *testing.T) {
	out := string(InitTemplate(InitOptions{Host: "web1", Sources: []InitSource{{Name: "home", Path: "/home"}}}))
	_, rest, ok := strings.Cut(out, "\n# schedules:\n")
	if !ok {
		t.Fatalf("the template has no schedules example:\n%s", out)
	}
	block := "schedules:\n"
	for _, l := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(l, "#   - ") {
			break
		}
		block += strings.TrimPrefix(l, "#") + "\n"
	}
	c, err := Parse("/etc/daisy/daisy.yaml", []byte(out+block))
	if err != nil {
		t.Fatalf("the schedules example does not parse: %v\n%s", err, block)
	}
	if len(c.Schedules) != 3 || c.Schedules[1].Level != LevelFull || c.Schedules[2].Job != JobPrune {
		t.Fatalf("schedules of the example: %+v", c.Schedules)
	}
}

// No cron line crashes the parser: every input is a Cron or an error.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/10 * * * * *", "CRON_TZ=Europe/Paris 0 1 * * *", "TZ=", "@daily", "@every 1h", "0 0 30 2 *", "1-5/2,7 0-23/3 ? JAN-MAR MON-FRI", "TZ=UTC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCron(line)
		if err == nil && c.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			t.Fatalf("ParseCron(%q) accepted a line that never fires", line)
		}
	})
}
