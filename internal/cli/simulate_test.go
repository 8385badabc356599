package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// daisy simulate on figure 2 with LTO-9 models: a report per drive, the
// SVG, JSON; bad flags exit 2 naming the flag.
func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "figure2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	text := string(data)
	i := strings.Index(text, "\ndevices:")
	text = text[:i] + strings.ReplaceAll(text[i:], "type: vtape\n", "type: vtape\n    timing: lto9\n")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "rates.svg")
	code, out, errs := run(t, "-c", cfg, "simulate", "--source", "D1=60MB/s:8GiB", "--source", "D2=200MB/s:2GiB", "--svg", svg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// D1's chain has three copies (R2, R8, R6), D2's three (R1, R5, R3).
	for _, want := range []string{"drive R2 (BMA126, lto9)", "drive R6 (BMA146, lto9)", "drive R1 (BMA124, lto9)", "D1 copy 3:", "D2 copy 2:", "SHOE-SHINING"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "R6 (BMA146") {
		t.Fatalf("svg: %v %.200s", err, b)
	}
	code, out, errs = run(t, "-c", cfg, "--json", "simulate", "--source", "D5=300MB/s:1GiB")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errs)
	}
	var r struct {
		Drives []struct {
			Device string `json:"device"`
			Timing struct {
				Bytes          int64   `json:"bytes"`
				StreamingShare float64 `json:"streaming_share"`
			} `json:"timing"`
		} `json:"drives"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Drives) != 6 {
		t.Fatalf("json %v: %s", err, out)
	}
	for _, d := range r.Drives {
		if (d.Device == "R2") != (d.Timing.Bytes > 1<<30) {
			t.Errorf("drive %s wrote %d bytes; only R2 carries D5", d.Device, d.Timing.Bytes)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate"}, "at least one --source"},
		{[]string{"simulate", "--source", "D1=60MB/s"}, `--source "D1=60MB/s": source D1: write NAME=RATE:SIZE`},
		{[]string{"simulate", "--source", "D1=60:1GiB"}, `--source "D1=60:1GiB": source D1: rate "60" does not end in /s`},
		{[]string{"simulate", "--source", "D1=60MB/s:lots"}, `--source "D1=60MB/s:lots": source D1: size "lots"`},
		{[]string{"simulate", "--source", "D9=60MB/s:1GiB"}, "source D9 is not in"},
		{[]string{"simulate", "--source", "D1=60MB/s:1GiB", "--timing", "lto5"}, `--timing "lto5"`},
		{[]string{"simulate", "--source", "D1=60MB/s:1GiB", "--hold", "soon"}, `--hold "soon"`},
		{[]string{"simulate", "--source", "D1=60MB/s:1GiB", "--extent-size", "1KiB"}, `--extent-size "1KiB"`},
	} {
		code, _, errs := run(t, append([]string{"-c", cfg}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// A backup to virtual tapes whose device has timing: reports per device
// what the modelled drive did with the blocks, at their real times.
func TestBackupReportsDeviceTiming(t *testing.T) {
	_, cfg := figure2(t, nil, func(s string) string {
		return strings.Replace(s, "  - name: R1\n    type: vtape\n", "  - name: R1\n    type: vtape\n    timing: {preset: lto9, load: 2s}\n", 1)
	})
	code, out, errs := run(t, "-c", cfg, "--json", "backup")
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errs)
	}
	var res struct {
		Devices []struct {
			Device      string  `json:"device"`
			MediaAgent  string  `json:"media_agent"`
			Model       string  `json:"model"`
			Bytes       int64   `json:"bytes"`
			Window      float64 `json:"window_seconds"`
			Share       float64 `json:"streaming_share"`
			Loads       int64   `json:"loads"`
			Backhitches *int64  `json:"backhitches"`
			Idle        float64 `json:"idle_seconds"`
		} `json:"device_timing"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 1 {
		t.Fatalf("device_timing %+v, want R1 alone", res.Devices)
	}
	d := res.Devices[0]
	// BMA124 writes D2, D3 and D4 (40 small files and 1 MiB each) plus
	// labels and marks: at least 3 MiB.
	if d.Device != "R1" || d.MediaAgent != "BMA124" || d.Model != "lto9" || d.Bytes < 3<<20 || d.Loads < 1 || d.Backhitches == nil {
		t.Fatalf("device_timing %+v", d)
	}
	if d.Window < 2 || d.Share <= 0 || d.Share > 1 {
		t.Fatalf("window %.3fs with a 2s load, share %.3f", d.Window, d.Share)
	}
}
