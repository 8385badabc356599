package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Timing is a device's tape timing model ("timing:" of a device): what
// internal/device/timing needs to tell when a drive fed at some rate
// streams and when it stops and backhitches (shoe-shining). It has the
// fields of timing.Params, in the same order, so that one converts to the
// other.
type Timing struct {
	Preset    string        // the preset it started from ("lto9"), or ""
	Native    float64       // bytes per second at full speed
	MinStream float64       // slowest speed, bytes per second, the drive can stream at (it matches its speed to the feed down to this)
	Backhitch time.Duration // lost each time the drive stops and repositions
	Locate    time.Duration // an average positioning (a locate to another block)
	Load      time.Duration // loading (and threading) a cartridge
	Buffer    int64         // the drive's own buffer, bytes
}

// TimingPresets are the drives "timing: NAME" names. LTO-9 and LTO-10
// native and minimum streaming speeds are those of SPEC §5; LTO-8's and the
// buffers, locate and load times are round figures of the vendors' data
// sheets (1 GiB buffer; about 50 s average locate; about 15 s to load).
// The backhitch is a typical 2.5 s.
var TimingPresets = map[string]Timing{
	"lto8":  {Preset: "lto8", Native: 360e6, MinStream: 112e6, Backhitch: 2500 * time.Millisecond, Locate: 50 * time.Second, Load: 15 * time.Second, Buffer: GiB},
	"lto9":  {Preset: "lto9", Native: 400e6, MinStream: 177e6, Backhitch: 2500 * time.Millisecond, Locate: 50 * time.Second, Load: 15 * time.Second, Buffer: GiB},
	"lto10": {Preset: "lto10", Native: 400e6, MinStream: 157e6, Backhitch: 2500 * time.Millisecond, Locate: 50 * time.Second, Load: 15 * time.Second, Buffer: GiB},
}

// presetNames lists the presets for messages.
func presetNames() string {
	names := make([]string, 0, len(TimingPresets))
	for n := range TimingPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ParseRate parses a data rate: a size per second, e.g. "400MB/s",
// "60 MiB/s", "1.5GB/s" (the units of ParseSize followed by "/s").
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	body, ok := strings.CutSuffix(t, "/s")
	if !ok {
		return 0, fmt.Errorf("rate %q does not end in /s; write a size per second, e.g. 400MB/s", s)
	}
	if strings.TrimSpace(body) == "" {
		return 0, fmt.Errorf("rate %q has no size before /s; write e.g. 400MB/s", s)
	}
	// A rate may have a fraction of a byte per second ("0.5KB/s" is
	// whole; "1.5B/s" is not, and is refused as a size would be).
	n, err := ParseSize(body)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("rate %q is zero; write a rate above 0, e.g. 400MB/s", s)
	}
	return float64(n), nil
}

// FormatRate writes a rate in MB/s (powers of 1000, as drives are rated).
func FormatRate(r float64) string {
	return strconv.FormatFloat(math.Round(r/1e4)/100, 'f', -1, 64) + "MB/s"
}

// deviceTiming reads the "timing" key of a device: a preset name, or a
// mapping with an optional preset and the values it overrides (all of
// native, min_stream, backhitch and buffer without a preset). It returns
// nil when the key is absent or wrong (reported).
func (d *decoder) deviceTiming(im *mapping, blockSize int64) *Timing {
	f := im.get("timing")
	if f == nil || f.value == nil {
		return nil
	}
	what := "timing of " + im.label
	if s, ok := scalarText(f.value); ok {
		p, ok := TimingPresets[s]
		if !ok {
			d.errorf(f.vpos, "%s: unknown preset %q; use one of %s, or a mapping such as {preset: lto9, backhitch: 3s}", what, s, presetNames())
			return nil
		}
		return &p
	}
	m := d.mapping(f.value)
	if m == nil {
		d.errorf(f.vpos, "%s must be a preset name (%s) or a mapping, not %s; write e.g. timing: lto9", what, presetNames(), kindOf(f.value))
		return nil
	}
	m.label = what
	m.only("preset", "native", "min_stream", "backhitch", "locate", "load", "buffer")
	var t Timing
	good := true
	if s, at, ok := m.str("preset"); ok {
		p, known := TimingPresets[s]
		if !known {
			d.errorf(at, "%s: unknown preset %q; use one of %s", what, s, presetNames())
			return nil
		}
		t = p
	} else if m.missing("preset") {
		for _, k := range []string{"native", "min_stream", "backhitch", "buffer"} {
			if m.missing(k) && !m.misspelled(k) {
				d.errorf(m.keyPos(k, f.vpos), "%s has no %s; give %s, or start from a preset (preset: lto9)", what, k, k)
				good = false
			}
		}
	}
	rate := func(key string, into *float64) {
		if s, at, ok := m.str(key); ok {
			v, err := ParseRate(s)
			if err != nil {
				d.errorf(at, "%s: %v", m.of(key), err)
				good = false
				return
			}
			*into = v
		}
	}
	dur := func(key string, into *time.Duration) {
		if s, at, ok := m.str(key); ok {
			v, err := parseShortDuration(s)
			if err != nil {
				d.errorf(at, "%s: %v", m.of(key), err)
				good = false
				return
			}
			*into = v
		}
	}
	rate("native", &t.Native)
	rate("min_stream", &t.MinStream)
	dur("backhitch", &t.Backhitch)
	dur("locate", &t.Locate)
	dur("load", &t.Load)
	if v, _, ok := m.size("buffer"); ok {
		t.Buffer = v
	} else if !m.missing("buffer") {
		good = false
	}
	if !good {
		return nil
	}
	if t.MinStream > t.Native {
		d.errorf(m.keyPos("min_stream", m.keyPos("native", f.vpos)), "%s: min_stream %s is above native %s; a drive streams from min_stream up to native", what, FormatRate(t.MinStream), FormatRate(t.Native))
		return nil
	}
	if t.Buffer < 2*blockSize {
		d.errorf(m.keyPos("buffer", f.vpos), "%s: buffer %s holds less than two blocks of %s; a drive buffer is at least 2 blocks (drives have 1GiB or so)", what, FormatSize(t.Buffer), FormatSize(blockSize))
		return nil
	}
	return &t
}

// parseShortDuration reads a duration of a drive's operation: Go's syntax
// ("2.5s", "800ms", "1m30s"), not negative.
func parseShortDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("duration %q: write e.g. 2.5s, 800ms or 1m30s", s)
	}
	if v < 0 {
		return 0, errors.New("a duration must not be negative")
	}
	return v, nil
}
