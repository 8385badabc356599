package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRetentionForms(t *testing.T) {
	cases := []struct {
		value  string
		age    time.Duration
		copies int
	}{
		{"30d", 30 * 24 * time.Hour, 0},
		{"1d12h", 36 * time.Hour, 0},
		{"30 d", 30 * 24 * time.Hour, 0},
		{"12 copies", 0, 12},
		{"1 copy", 0, 1},
		{"1 copies", 0, 1},
		{"3 copy", 0, 3},
		{"12copies", 0, 12},
		{`"  7   Copies "`, 0, 7},
		{"2 COPIES", 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			c, err := Parse("daisy.yaml", []byte("pools:\n  - name: p\n    retention: "+tc.value+"\n  - name: q\n"))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := c.Pool("p")
			if !ok {
				t.Fatal("no pool p")
			}
			if p.Retention != tc.age || p.RetentionCopies != tc.copies {
				t.Fatalf("retention %v, %d copies; want %v, %d copies", p.Retention, p.RetentionCopies, tc.age, tc.copies)
			}
			if !p.HasRetention() {
				t.Fatal("HasRetention is false")
			}
			if q, _ := c.Pool("q"); q.HasRetention() || q.Retention != 0 || q.RetentionCopies != 0 {
				t.Fatalf("pool q without retention: %+v", q)
			}
		})
	}
}

func TestRetentionErrors(t *testing.T) {
	cases := []struct {
		value string
		want  string // the message after "daisy.yaml:3:16: retention of pool p"
	}{
		{"0 copies", `: "0 copies" keeps nothing; keep at least 1 copy, e.g. 12 copies, or remove the key`},
		{"-3 copies", `: "-3 copies" is negative; keep at least 1 copy, e.g. 12 copies`},
		{"-1 copy", `: "-1 copy" is negative; keep at least 1 copy, e.g. 12 copies`},
		{"1.5 copies", `: "1.5 copies" is not a whole number of copies; write e.g. 12 copies`},
		{"99999999999999999999 copies", `: "99999999999999999999 copies" is too many copies; write e.g. 12 copies`},
		{"3 copies 2d", `: "3 copies 2d" has unexpected "2d" after "copies"; write a number of copies alone, e.g. 12 copies`},
		{"5 cats", `: "5 cats" has unknown unit "cats"; write a duration (units s, m (minutes), h, d, w or y (365 days)), e.g. 30d, or a number of copies, e.g. 12 copies`},
		{"30 days", `: "30 days" has unknown unit "days"; write a duration (units s, m (minutes), h, d, w or y (365 days)), e.g. 30d, or a number of copies, e.g. 12 copies`},
		{`" "`, `: empty retention; write a duration, e.g. 30d, or a number of copies, e.g. 12 copies`},
		{"copies", `: duration "copies": expected a number at "copies"; write e.g. 30d or 1d12h`},
		// The duration form reports as before.
		{"30x", `: duration "30x" has unknown unit "x"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"0s", ` must be longer than 0; write e.g. 30d, or remove the key`},
		{"-3d", `: duration "-3d" is negative; write e.g. 30d`},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			_, err := Parse("daisy.yaml", []byte("pools:\n  - name: p\n    retention: "+tc.value+"\n"))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v (%T); want *Errors", err, err)
			}
			want := "daisy.yaml:3:16: retention of pool p" + tc.want
			if err.Error() != want {
				t.Fatalf("error\n%s\nwant\n%s", err, want)
			}
		})
	}
}

// One key holds one form: a second retention key in the same pool is an
// error at its own line and column, not a way to set both forms.
func TestRetentionBothForms(t *testing.T) {
	_, err := Parse("daisy.yaml", []byte("pools:\n  - name: p\n    retention: 30d\n    retention: 3 copies\n"))
	if err == nil {
		t.Fatal("a pool with two retention keys was accepted")
	}
	if !strings.HasPrefix(err.Error(), "daisy.yaml:4:") || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("error %q does not point at the second retention key", err)
	}
}
