package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseRetention parses the value of a pool's "retention" key, which has
// one of two forms: a duration as ParseDuration reads it ("30d", "1y"),
// returned as age, or a number of copies ("12 copies", "1 copy"; the word
// is case-insensitive), returned as copies. A number of copies is a whole
// number of at least 1. An age of 0 is returned as such: the caller says
// that a retention must be longer than that.
func parseRetention(s string) (age time.Duration, copies int, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, 0, errors.New("empty retention; write a duration, e.g. 30d, or a number of copies, e.g. 12 copies")
	}
	num, rest, ok := splitNumber(strings.TrimPrefix(t, "-"))
	if !ok {
		return parseRetentionAge(s)
	}
	unit, tail := splitUnit(strings.TrimLeft(rest, " \t"))
	if !isCopiesUnit(unit) {
		return parseRetentionAge(s)
	}
	if tail = strings.TrimSpace(tail); tail != "" {
		return 0, 0, fmt.Errorf("%q has unexpected %q after %q; write a number of copies alone, e.g. 12 copies", s, tail, unit)
	}
	if strings.HasPrefix(t, "-") {
		return 0, 0, fmt.Errorf("%q is negative; keep at least 1 copy, e.g. 12 copies", s)
	}
	n, err := strconv.Atoi(num)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, 0, fmt.Errorf("%q is too many copies; write e.g. 12 copies", s)
	case err != nil:
		return 0, 0, fmt.Errorf("%q is not a whole number of copies; write e.g. 12 copies", s)
	case n == 0:
		return 0, 0, fmt.Errorf("%q keeps nothing; keep at least 1 copy, e.g. 12 copies, or remove the key", s)
	}
	return 0, n, nil
}

// parseRetentionAge parses the duration form of a retention. A value
// shaped like the other form, a number and a word apart ("5 cats"), whose
// word is no unit of either form, gets an error that names both forms.
func parseRetentionAge(s string) (time.Duration, int, error) {
	d, err := ParseDuration(s)
	if err == nil {
		return d, 0, nil
	}
	if fields := strings.Fields(s); len(fields) == 2 {
		_, rest, ok := splitNumber(strings.TrimPrefix(fields[0], "-"))
		unit, tail := splitUnit(fields[1])
		if _, known := durationUnits[unit]; ok && rest == "" && unit != "" && tail == "" && !known {
			return 0, 0, fmt.Errorf("%q has unknown unit %q; write a duration (units %s), e.g. 30d, or a number of copies, e.g. 12 copies",
				s, unit, durationUnitList)
		}
	}
	return 0, 0, err
}

// isCopiesUnit reports whether unit is the word of a number of copies.
func isCopiesUnit(unit string) bool {
	return strings.EqualFold(unit, "copies") || strings.EqualFold(unit, "copy")
}
