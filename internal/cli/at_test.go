package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
)

// Issue 9, points in time: what --at takes and the last instant it covers.
func TestParseAtTime(t *testing.T) {
	local := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.Local)
	}
	plus1 := time.FixedZone("+01:00", 3600)
	localZone, _ := local(2026, 11, 20, 8, 0, 0, 0).Zone()
	cases := []struct {
		in   string
		want time.Time
	}{
		// As ls objects shows it: local time, milliseconds, the whole
		// millisecond covered.
		{"2026-11-20 08:15:42.123", local(2026, 11, 20, 8, 15, 42, 123999999)},
		// To the second: that whole second.
		{"2026-11-20 08:15:42", local(2026, 11, 20, 8, 15, 42, 999999999)},
		{"2026-11-20T08:15:42", local(2026, 11, 20, 8, 15, 42, 999999999)},
		// To the minute, a date: the whole minute, the whole day.
		{"2026-11-20 08:15", local(2026, 11, 20, 8, 15, 59, 999999999)},
		{"2026-11-20", local(2026, 11, 20, 23, 59, 59, 999999999)},
		// Fractions of any length up to nanoseconds.
		{"2026-11-20 08:15:42.5", local(2026, 11, 20, 8, 15, 42, 599999999)},
		{"2026-11-20 08:15:42,123456789", local(2026, 11, 20, 8, 15, 42, 123456789)},
		// With a zone: RFC 3339, and the ls format followed by one.
		{"2026-11-20T08:15:42Z", time.Date(2026, 11, 20, 8, 15, 42, 999999999, time.UTC)},
		{"2026-11-20T08:15:42.25+01:00", time.Date(2026, 11, 20, 8, 15, 42, 259999999, plus1)},
		{"2026-11-20 08:15:42.123 +0100", time.Date(2026, 11, 20, 8, 15, 42, 123999999, plus1)},
		{"2026-11-20 08:15:42 UTC", time.Date(2026, 11, 20, 8, 15, 42, 999999999, time.UTC)},
		{"2026-11-20 08:15:42 " + localZone, local(2026, 11, 20, 8, 15, 42, 999999999)},
	}
	for _, tc := range cases {
		got, isTime, err := parseAtTime(tc.in)
		if err != nil || !isTime || !got.Equal(tc.want) {
			t.Errorf("parseAtTime(%q) = %v, %v, %v; want %v", tc.in, got, isTime, err, tc.want)
		}
	}
	for _, bad := range []string{"2026-13-01", "2026-11-20 25:00", "2026-11-31", "2026-11-20 08:15:42 +25:00", "2026-11-20 08:15:42 nonsense!", "2026-11-20 08:15:42.1234567891"} {
		if _, isTime, err := parseAtTime(bad); err == nil || !isTime {
			t.Errorf("parseAtTime(%q) = %v, %v; want an error", bad, isTime, err)
		}
	}
	for _, notTime := range []string{"3d", "0193ab", "yesterday", ""} {
		if _, isTime, err := parseAtTime(notTime); isTime || err != nil {
			t.Errorf("parseAtTime(%q) = %v, %v; want not a time", notTime, isTime, err)
		}
	}
}

// Issue 9: --at takes a duration ago, an object ID or its unique prefix,
// and says what is wrong (naming the flag) when it is none of these.
func TestResolveAt(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ids := []string{"0193aaaa-0000-7000-8000-000000000001", "0193aaab-0000-7000-8000-000000000002", "0193aaab-0000-7000-8000-000000000003"}
	for i, id := range ids {
		src := "home"
		if i == 2 {
			src = "etc"
		}
		if err := cat.AddObject(ctx, catalog.Object{ID: id, Source: src, Client: "alpha", Level: "full", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ at, source, want string }{
		{"0193aaaa", "", ids[0]},
		{"0193AAAA", "home", ids[0]},
		{ids[2], "", ids[2]},
		{"0193aaab-0000-7000-8000-000000000002", "home", ids[1]},
	} {
		o, err := resolveAt(ctx, cat, "--at", tc.source, tc.at)
		if err != nil || o.ID != tc.want {
			t.Errorf("resolveAt(%q, source %q) = %s, %v; want %s", tc.at, tc.source, o.ID, err, tc.want)
		}
	}
	for _, tc := range []struct{ at, source, want string }{
		{"0193aaab", "", "matches"},                         // ambiguous prefix
		{"0193", "home", "matches"},                         // ambiguous prefix
		{ids[2], "home", `source "etc"`},                    // another source's object
		{"0193ffff", "home", "no object ID starts with it"}, // no such object
		{"yesterday", "home", "give a time as ls objects shows it"},
		{"2026-11-20 08:15:62", "home", "out of range"},
		{"3d", "", "name the source"},
	} {
		_, err := resolveAt(ctx, cat, "--at", tc.source, tc.at)
		if err == nil || !strings.Contains(err.Error(), "--at") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolveAt(%q, source %q) = %v; want an error naming --at that says %q", tc.at, tc.source, err, tc.want)
		} else if exitCode(err) != ExitUsage {
			t.Errorf("resolveAt(%q): exit %d, want %d (usage)", tc.at, exitCode(err), ExitUsage)
		}
	}
}
