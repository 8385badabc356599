package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

// The point in time of --at: a time (the latest complete backup of the
// source that started within what the time covers), a duration ago, or an
// object ID or its unique prefix.
//
// A time covers the whole of its last field: a date covers its day, a time
// to the minute that minute, to the second that second, and a fraction of
// a second its last digit. So the STARTED column of ls objects, which shows
// milliseconds, selects the backup of its row: a backup that started later
// within the same millisecond is the only other one it could select.

// startedLayout is how ls objects, ls jobs, find and prune show when a
// backup or a job started, in local time, to the millisecond: --at,
// --since and --until take it back.
const startedLayout = "2006-01-02 15:04:05.000"

// atRE splits a time into its date, its time of day (minutes, seconds and
// a fraction optional) and a zone.
var atRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(?:[Tt ]+(\d{1,2}:\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(.*)$`)

// zoneRE is a numeric zone offset: +01, +0100, +01:00.
var zoneRE = regexp.MustCompile(`^[+-]\d{2}(?::?\d{2})?$`)

// parseAtTime reads s as a time and returns the last instant it covers.
// isTime is false when s does not have the form of a time at all (it may
// be a duration or an object ID); err is set when it has the form of one
// but is not a valid time.
func parseAtTime(s string) (last time.Time, isTime bool, err error) {
	_, last, isTime, err = parseAtSpan(s)
	return last, isTime, err
}

// parseAtSpan is parseAtTime that also returns the first instant s
// covers (a date's midnight, a time to the second its start).
func parseAtSpan(s string) (first, last time.Time, isTime bool, err error) {
	m := atRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, time.Time{}, false, nil
	}
	date, hm, sec, frac, zone := m[1], m[2], m[3], m[4], strings.TrimSpace(m[5])
	loc := time.Local
	switch {
	case zone == "":
	case strings.EqualFold(zone, "Z") || strings.EqualFold(zone, "UTC") || strings.EqualFold(zone, "GMT"):
		loc = time.UTC
	case zoneRE.MatchString(zone):
		digits := strings.ReplaceAll(zone[1:], ":", "")
		h, _ := strconv.Atoi(digits[:2])
		mins := 0
		if len(digits) == 4 {
			mins, _ = strconv.Atoi(digits[2:])
		}
		if h > 23 || mins > 59 {
			return time.Time{}, time.Time{}, true, fmt.Errorf("zone offset %s is out of range", zone)
		}
		off := (h*60 + mins) * 60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone(zone, off)
	case isLetters(zone):
		// A zone name: only the local zone's (as ls would print it),
		// since other abbreviations are ambiguous.
	default:
		return time.Time{}, time.Time{}, true, fmt.Errorf("%q after the time is not a zone (give one as +01:00 or Z)", zone)
	}
	text, layout := date, time.DateOnly
	unit := time.Duration(0) // 0: a day
	if hm != "" {
		if len(hm) == 4 { // 8:00
			hm = "0" + hm
		}
		text, layout, unit = text+" "+hm, layout+" 15:04", time.Minute
		if sec != "" {
			text, layout, unit = text+":"+sec, layout+":05", time.Second
			if frac != "" {
				if len(frac) > 9 {
					return time.Time{}, time.Time{}, true, fmt.Errorf("more than 9 digits after the second")
				}
				text += "." + frac
				unit = time.Duration(1)
				for range 9 - len(frac) {
					unit *= 10
				}
			}
		}
	}
	t, err := time.ParseInLocation(layout, text, loc)
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			return time.Time{}, time.Time{}, true, errors.New(strings.TrimPrefix(pe.Message, ": "))
		}
		return time.Time{}, time.Time{}, true, fmt.Errorf("not a valid date and time")
	}
	if isLetters(zone) && loc == time.Local {
		if name, _ := t.Zone(); !strings.EqualFold(name, zone) {
			return time.Time{}, time.Time{}, true, fmt.Errorf("zone %s is not the local zone (%s); give the zone as an offset (+01:00) or Z", zone, name)
		}
	}
	if unit == 0 {
		return t, t.AddDate(0, 0, 1).Add(-time.Nanosecond), true, nil
	}
	return t, t.Add(unit - time.Nanosecond), true, nil
}

func isLetters(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// atHelp says what --at takes.
const atHelp = "a time as ls objects shows it (2026-11-01 08:00:00.250, local time, or with a zone: 2026-11-01T08:00:00+01:00), a date (2026-11-01), a duration ago (3d, 12h) or an object ID or its unique prefix"

// parseAtBound reads a time or a duration ago as the last instant it
// covers; isTime is false when s is neither.
func parseAtBound(flag, s string, now time.Time) (time.Time, bool, error) {
	t, isTime, err := parseAtTime(s)
	if err != nil {
		return time.Time{}, true, usageError("%s %q: %v", flag, s, err)
	}
	if isTime {
		return t, true, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d), true, nil
	}
	return time.Time{}, false, nil
}

// looksLikeID reports whether s may be (a prefix of) an object ID: hex
// digits and dashes.
func looksLikeID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return true
}

// resolveAt finds the object that --at (flag) names for source, which may
// be empty when s is an object ID.
func resolveAt(ctx context.Context, cat *jobs.Catalog, flag, source, s string) (jobs.Object, error) {
	bound, isTime, err := parseAtBound(flag, s, time.Now())
	if err != nil {
		return jobs.Object{}, err
	}
	if isTime {
		if source == "" {
			return jobs.Object{}, usageError("%s %q is a time: name the source too (--source S), or give an object ID", flag, s)
		}
		return objectAt(ctx, cat, source, bound)
	}
	if looksLikeID(s) {
		o, err := cat.Object(ctx, s)
		switch {
		case errors.Is(err, jobs.ErrAmbiguous):
			return o, usageError("%s %q: %v", flag, s, err)
		case errors.Is(err, jobs.ErrNotFound):
			return o, usageError("%s %q: no object ID starts with it, and it is not a time (daisy ls objects lists them); give %s", flag, s, atHelp)
		case err != nil:
			return o, err
		case source != "" && o.Source != source:
			return o, usageError("%s %q: object %s is a backup of source %q, not of %q", flag, s, o.ID, o.Source, source)
		}
		return o, nil
	}
	return jobs.Object{}, usageError("%s %q: give %s", flag, s, atHelp)
}

// objectAt is the catalog's ObjectAt with the command line's errors: a source
// without a backup at that time is a usage error, as in jobs.FindObject.
func objectAt(ctx context.Context, cat *jobs.Catalog, source string, at time.Time) (jobs.Object, error) {
	o, err := cat.ObjectAt(ctx, source, at)
	if errors.Is(err, jobs.ErrNotFound) {
		return o, usageError("source %q has no complete backup with a good copy started at or before %s (daisy ls objects --source %s lists them)",
			source, at.Local().Format(startedLayout), source)
	}
	return o, err
}

// chosen describes the backup that --at selected, for a message.
func chosen(o jobs.Object) string {
	return fmt.Sprintf("object %s (%s of %s, started %s)", o.ID, o.Level, o.Source, o.Started.Local().Format(startedLayout))
}
