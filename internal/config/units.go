package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Size units, powers of 1024 and of 1000. Sizes are case-insensitive.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kib": KiB,
	"mib": MiB,
	"gib": GiB,
	"tib": TiB,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
}

const sizeUnitList = "B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"

// Duration units. They are case-sensitive so that "m" (minutes) is never
// taken for months.
var durationUnits = map[string]time.Duration{
	"s": time.Second,
	"m": time.Minute,
	"h": time.Hour,
	"d": 24 * time.Hour,
	"w": 7 * 24 * time.Hour,
	"y": 365 * 24 * time.Hour,
}

const durationUnitList = "s, m (minutes), h, d, w or y (365 days)"

// splitNumber splits s at the end of a leading decimal number (digits with
// at most one '.'), and reports whether it found one.
func splitNumber(s string) (num, rest string, ok bool) {
	i, digits, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			digits++
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		break
	}
	if digits == 0 {
		return "", s, false
	}
	return s[:i], s[i:], true
}

// splitUnit splits s at the end of its leading run of ASCII letters.
func splitUnit(s string) (unit, rest string) {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return s[:i], s[i:]
}

var maxInt64 = new(big.Rat).SetInt64(math.MaxInt64)

// ParseSize parses a size in bytes: a plain number of bytes ("1048576") or a
// number with a unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB,
// TB (powers of 1000), e.g. "256KiB", "1.5GiB", "64 MiB". Units are
// case-insensitive. Negative sizes, fractions of a byte and sizes beyond
// 2^63-1 bytes are errors.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size; write a number of bytes or a number with a unit, e.g. 64MiB")
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("size %q is negative; sizes are 0 or more bytes, e.g. 64MiB", s)
	}
	num, rest, ok := splitNumber(t)
	if !ok {
		return 0, fmt.Errorf("size %q does not start with a number; write e.g. 64MiB", s)
	}
	rest = strings.TrimLeft(rest, " \t")
	unit, tail := splitUnit(rest)
	if tail != "" {
		if unit == "" {
			return 0, fmt.Errorf("size %q has unexpected %q after the number; write a number and one unit, e.g. 64MiB", s, tail)
		}
		return 0, fmt.Errorf("size %q has unexpected %q after the unit; write a number and one unit, e.g. 64MiB", s, tail)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q has unknown unit %q; use %s, e.g. 64MiB", s, unit, sizeUnitList)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q has a malformed number; write e.g. 64MiB", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if r.Cmp(maxInt64) > 0 {
		return 0, fmt.Errorf("size %q is too large; the largest size is %d bytes", s, int64(math.MaxInt64))
	}
	return r.Num().Int64(), nil
}

// FormatSize writes n with the largest binary unit that divides it exactly
// ("256KiB", "10GiB"), or as a plain number of bytes.
func FormatSize(n int64) string {
	units := []struct {
		name string
		v    int64
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}
	if n != 0 {
		for _, u := range units {
			if n%u.v == 0 {
				return fmt.Sprintf("%d%s", n/u.v, u.name)
			}
		}
	}
	return fmt.Sprintf("%d", n)
}

// ParseDuration parses a duration written as one or more numbers with a
// unit: s (seconds), m (minutes), h (hours), d (days), w (weeks) and y (years
// of 365 days), e.g. "30d", "1d12h", "1.5h". Units are case-sensitive.
// Negative durations and durations beyond about 292 years are errors.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration; write a number with a unit, e.g. 30d")
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("duration %q is negative; write e.g. 30d", s)
	}
	total := new(big.Rat)
	for t != "" {
		num, rest, ok := splitNumber(t)
		if !ok {
			return 0, fmt.Errorf("duration %q: expected a number at %q; write e.g. 30d or 1d12h", s, t)
		}
		rest = strings.TrimLeft(rest, " \t")
		unit, tail := splitUnit(rest)
		if unit == "" {
			return 0, fmt.Errorf("duration %q has a number without a unit; use %s, e.g. 30d", s, durationUnitList)
		}
		mult, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("duration %q has unknown unit %q; use %s, e.g. 30d", s, unit, durationUnitList)
		}
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			return 0, fmt.Errorf("duration %q has a malformed number; write e.g. 30d", s)
		}
		total.Add(total, r.Mul(r, new(big.Rat).SetInt64(int64(mult))))
		if total.Cmp(maxInt64) > 0 {
			return 0, fmt.Errorf("duration %q is too long; the longest duration is about 292y", s)
		}
		t = strings.TrimLeft(tail, " \t")
	}
	if !total.IsInt() {
		return 0, fmt.Errorf("duration %q is not a whole number of nanoseconds", s)
	}
	return time.Duration(total.Num().Int64()), nil
}

// FormatDuration writes d with the units ParseDuration reads, in years,
// days, hours, minutes and seconds, e.g. "30d", "1d12h"; parts below a
// second are dropped.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		v    time.Duration
	}{{"y", durationUnits["y"]}, {"d", durationUnits["d"]}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d >= u.v {
			fmt.Fprintf(&b, "%d%s", d/u.v, u.name)
			d %= u.v
		}
	}
	return b.String()
}
