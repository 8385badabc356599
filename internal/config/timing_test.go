package config

import (
	"strings"
	"testing"
	"time"
)

// timing: a preset, a preset with overrides, all values, and each kind of
// mistake named with its line and column.
func TestDeviceTiming(t *testing.T) {
	c, err := Parse("daisy.yaml", []byte(`devices:
  - name: a
  - name: b
    timing: lto9
  - name: c
    timing: {preset: lto8, backhitch: 3s, buffer: 512MiB}
  - name: d
    timing: {native: 300MB/s, min_stream: 100MB/s, backhitch: 1.5s, locate: 40s, buffer: 256MiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Devices[0].Timing != nil {
		t.Errorf("device a: timing %+v without the key", c.Devices[0].Timing)
	}
	if g := c.Devices[1].Timing; g == nil || *g != TimingPresets["lto9"] || g.Native != 400e6 || g.MinStream != 177e6 {
		t.Errorf("device b: %+v, want the lto9 preset (SPEC: 400 and 177 MB/s)", g)
	}
	want := TimingPresets["lto8"]
	want.Backhitch, want.Buffer = 3*time.Second, 512*MiB
	if g := c.Devices[2].Timing; g == nil || *g != want {
		t.Errorf("device c: %+v, want %+v", g, want)
	}
	wantD := Timing{Native: 300e6, MinStream: 100e6, Backhitch: 1500 * time.Millisecond, Locate: 40 * time.Second, Buffer: 256 * MiB}
	if g := c.Devices[3].Timing; g == nil || *g != wantD {
		t.Errorf("device d: %+v, want %+v", g, wantD)
	}
	for _, tc := range []struct{ timing, want string }{
		{"lto7", `3:13: timing of device x: unknown preset "lto7"`},
		{"{preset: lto9, native: 400MB}", `3:36: native of timing of device x: rate "400MB" does not end in /s`},
		{"{preset: lto9, native: 100MB/s}", `3:28: timing of device x: min_stream 177MB/s is above native 100MB/s`},
		{"{native: 400MB/s, min_stream: 177MB/s, buffer: 1GiB}", `3:13: timing of device x has no backhitch`},
		{"{preset: lto9, backhitch: -1s}", `backhitch of timing of device x: a duration must not be negative`},
		{"{preset: lto9, backhitch: 2}", `backhitch of timing of device x: duration "2"`},
		{"{preset: lto9, buffer: 256KiB}", `timing of device x: buffer 256KiB holds less than two blocks of 256KiB`},
		{"{preset: lto9, bufer: 1GiB}", `unknown key "bufer" in timing of device x; did you mean "buffer"?`},
		{"[lto9]", `3:13: timing of device x must be a preset name`},
		{"{preset: lto9, native: 0MB/s}", `rate "0MB/s" is zero`},
	} {
		_, err := Parse("daisy.yaml", []byte("devices:\n  - name: x\n    timing: "+tc.timing+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("timing: %s: error %v, want %q", tc.timing, err, tc.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"400MB/s": 400e6, "60 MiB/s": 60 << 20, "1.5GB/s": 1.5e9, " 177MB/s ": 177e6} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/s", "400MB", "-1MB/s", "fast/s", "0/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
	if s := FormatRate(177e6); s != "177MB/s" {
		t.Errorf("FormatRate(177e6) = %s", s)
	}
}
