package config

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1", 1},
		{"1048576", 1 << 20},
		{"12B", 12},
		{"1KiB", 1024},
		{"256KiB", 256 << 10},
		{"64MiB", 64 << 20},
		{"64mib", 64 << 20},
		{"64 MiB", 64 << 20},
		{" 10GiB ", 10 << 30},
		{"2TiB", 2 << 40},
		{"1KB", 1000},
		{"1kb", 1000},
		{"5MB", 5000000},
		{"3GB", 3000000000},
		{"1TB", 1000000000000},
		{"1.5GiB", 3 << 29},
		{"0.5KiB", 512},
		{".5KiB", 512},
		{"8388607TiB", 8388607 << 40},
		{"9223372036854775807", 9223372036854775807},
	}
	for _, tc := range good {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "empty size; write a number of bytes or a number with a unit, e.g. 64MiB"},
		{"   ", "empty size; write a number of bytes or a number with a unit, e.g. 64MiB"},
		{"12XB", `size "12XB" has unknown unit "XB"; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 64MiB`},
		{"-1MiB", `size "-1MiB" is negative; sizes are 0 or more bytes, e.g. 64MiB`},
		{"99999999999TiB", `size "99999999999TiB" is too large; the largest size is 9223372036854775807 bytes`},
		{"9223372036854775808", `size "9223372036854775808" is too large; the largest size is 9223372036854775807 bytes`},
		{"8388608TiB", `size "8388608TiB" is too large; the largest size is 9223372036854775807 bytes`},
		{"MiB", `size "MiB" does not start with a number; write e.g. 64MiB`},
		{"+5", `size "+5" does not start with a number; write e.g. 64MiB`},
		{"1.2.3MiB", `size "1.2.3MiB" has unexpected ".3MiB" after the number; write a number and one unit, e.g. 64MiB`},
		{"5MiB5", `size "5MiB5" has unexpected "5" after the unit; write a number and one unit, e.g. 64MiB`},
		{"0.3B", `size "0.3B" is not a whole number of bytes`},
		{"1e6", `size "1e6" has unexpected "6" after the unit; write a number and one unit, e.g. 64MiB`},
		{"64M", `size "64M" has unknown unit "M"; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 64MiB`},
		{"0x10", `size "0x10" has unexpected "10" after the unit; write a number and one unit, e.g. 64MiB`},
		{".", `size "." does not start with a number; write e.g. 64MiB`},
	}
	for _, tc := range bad {
		got, err := ParseSize(tc.in)
		if err == nil {
			t.Fatalf("ParseSize(%q) = %d, want an error", tc.in, got)
		}
		if err.Error() != tc.msg {
			t.Fatalf("ParseSize(%q) error\n%s\nwant\n%s", tc.in, err, tc.msg)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 256 << 10: "256KiB", 64 << 20: "64MiB", 10 << 30: "10GiB", 3 << 40: "3TiB", 1536: "1536", 3 << 29: "1536MiB"} {
		if got := FormatSize(in); got != want {
			t.Fatalf("FormatSize(%d) = %q, want %q", in, got, want)
		}
		if back, err := ParseSize(FormatSize(in)); err != nil || back != in {
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", in, back, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
	}{
		{"0s", 0},
		{"45s", 45 * time.Second},
		{"90m", 90 * time.Minute},
		{"12h", 12 * time.Hour},
		{"30d", 30 * day},
		{"2w", 14 * day},
		{"1y", 365 * day},
		{"1d12h", 36 * time.Hour},
		{"1d 12h", 36 * time.Hour},
		{" 1.5h ", 90 * time.Minute},
		{"292y", 292 * 365 * day},
	}
	for _, tc := range good {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "empty duration; write a number with a unit, e.g. 30d"},
		{"30", `duration "30" has a number without a unit; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"30x", `duration "30x" has unknown unit "x"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"3M", `duration "3M" has unknown unit "M"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"30D", `duration "30D" has unknown unit "D"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"1ms", `duration "1ms" has unknown unit "ms"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`},
		{"-1d", `duration "-1d" is negative; write e.g. 30d`},
		{"d", `duration "d": expected a number at "d"; write e.g. 30d or 1d12h`},
		{"1d-2h", `duration "1d-2h": expected a number at "-2h"; write e.g. 30d or 1d12h`},
		{"293y", `duration "293y" is too long; the longest duration is about 292y`},
		{"99999999999999999999999s", `duration "99999999999999999999999s" is too long; the longest duration is about 292y`},
		{"0.0000000001s", `duration "0.0000000001s" is not a whole number of nanoseconds`},
	}
	for _, tc := range bad {
		got, err := ParseDuration(tc.in)
		if err == nil {
			t.Fatalf("ParseDuration(%q) = %v, want an error", tc.in, got)
		}
		if err.Error() != tc.msg {
			t.Fatalf("ParseDuration(%q) error\n%s\nwant\n%s", tc.in, err, tc.msg)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[time.Duration]string{0: "0s", time.Second: "1s", 30 * day: "30d", 14 * day: "14d", 36 * time.Hour: "1d12h", 365 * day: "1y", 90 * time.Minute: "1h30m"} {
		if got := FormatDuration(in); got != want {
			t.Fatalf("FormatDuration(%v) = %q, want %q", in, got, want)
		}
		if back, err := ParseDuration(FormatDuration(in)); err != nil || back != in {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v", in, back, err)
		}
	}
}
