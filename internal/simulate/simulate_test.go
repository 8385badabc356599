package simulate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/config"
)

// oneDrive is a backup group of one media agent with four buffers on one
// LTO-9 drive, on cartridges of 18 TB.
const oneDrive = `sources:
  - {name: D1, paths: [/d1]}
  - {name: D2, paths: [/d2]}
  - {name: D3, paths: [/d3]}
  - {name: D4, paths: [/d4]}
pools:
  - {name: p, directory: vol, volume_capacity: 18TB}
devices:
  - {name: R1, timing: lto9}
backup_group:
  - name: BMA1
    device: R1
    pool: p
    buffers:
      - {name: B1, source: D1}
      - {name: B2, source: D2}
      - {name: B3, source: D3}
      - {name: B4, source: D4}
`

func loadConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "daisy.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sources(t *testing.T, specs ...string) []Source {
	var out []Source
	for _, s := range specs {
		x, err := ParseSource(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// simSize is the size of each source in the acceptance runs; the figures
// in docs/BENCHMARKS.md are of 500GiB; 50GiB keeps the test to a second (DAISY_SIM_SIZE changes it).
func simSize() string {
	if s := os.Getenv("DAISY_SIM_SIZE"); s != "" {
		return s
	}
	return "50GiB"
}

// Acceptance 5: four sources at 60 MB/s multiplexed onto one LTO-9 drive
// stream at least 95 % of the window; one source at 60 MB/s alone
// shoe-shines.
func TestAcceptanceFourSourcesStreamOneShoeShines(t *testing.T) {
	cfg := loadConfig(t, oneDrive)
	size := simSize()
	start := time.Now()
	four, err := Run(cfg, Options{Sources: sources(t, "D1=60MB/s:"+size, "D2=60MB/s:"+size, "D3=60MB/s:"+size, "D4=60MB/s:"+size)})
	if err != nil {
		t.Fatal(err)
	}
	d := four.Drives[0]
	t.Logf("4×60MB/s: %+v (simulated in %v)", d.Stats, time.Since(start))
	for _, o := range d.Objects {
		t.Logf("  %s copy %d: %d bytes in %d extents", o.Source, o.Copy, o.Bytes, o.Extents)
	}
	if d.Stats.StreamingShare < 0.95 {
		t.Errorf("four sources at 60MB/s: streaming share %.3f, want at least 0.95", d.Stats.StreamingShare)
	}
	if d.ShoeShining {
		t.Errorf("four sources at 60MB/s: reported as shoe-shining (%d backhitches)", d.Stats.Backhitches)
	}
	sz, _ := config.ParseSize(size)
	if want := 4 * sz; d.Stats.Bytes < want {
		t.Errorf("drive wrote %d bytes, the sources hold %d", d.Stats.Bytes, want)
	}

	one, err := Run(cfg, Options{Sources: sources(t, "D1=60MB/s:"+size)})
	if err != nil {
		t.Fatal(err)
	}
	d = one.Drives[0]
	t.Logf("1×60MB/s: %+v", d.Stats)
	if !d.ShoeShining || d.Stats.Backhitches < 10 {
		t.Errorf("one source at 60MB/s: %d backhitches, shoe-shining %v; want it reported", d.Stats.Backhitches, d.ShoeShining)
	}
	if share := 60e6 / 177e6; d.Stats.StreamingShare > share+0.02 {
		t.Errorf("one source at 60MB/s: streaming share %.3f, above what 60 of 177MB/s allows (%.3f)", d.Stats.StreamingShare, share)
	}
	if o := d.Objects[0]; o.Extents != 1 {
		t.Errorf("one source alone in %d extents, want 1", o.Extents)
	}
}

func TestParseSourceErrors(t *testing.T) {
	for in, want := range map[string]string{
		"D1":                 "write NAME=RATE:SIZE",
		"=60MB/s:1GiB":       "write NAME=RATE:SIZE",
		"D1=60MB/s":          "source D1: write NAME=RATE:SIZE",
		"D1=60MB:1GiB":       `source D1: rate "60MB" does not end in /s`,
		"D1=60MB/s:1GB/s":    `source D1: size "1GB/s"`,
		"D1=60MB/s:0":        "source D1: size 0",
		"D1=fast/s:1GiB":     `source D1: rate "fast/s"`,
		"D1=60MB/s:-1GiB":    "negative",
		"D1=60MB/s:1GiB:xyz": `size "1GiB:xyz"`,
	} {
		_, err := ParseSource(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSource(%q): %v, want %q", in, err, want)
		}
	}
}

// A hold shorter than the time between two records ends (the agent woken
// at its end sees it over) and cuts the runs: every block then holds
// records of all four objects, so each copy is one long extent that a
// restore reads four times over.
func TestShortHoldEndsAndInterleaves(t *testing.T) {
	cfg := loadConfig(t, oneDrive)
	done := make(chan *Result, 1)
	go func() {
		r, err := Run(cfg, Options{HoldRun: 100 * time.Microsecond, Sources: sources(t, "D1=60MB/s:1GiB", "D2=60MB/s:1GiB", "D3=60MB/s:1GiB", "D4=60MB/s:1GiB")})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r == nil {
			return
		}
		d := r.Drives[0]
		for _, o := range d.Objects {
			if read := float64(o.Blocks*int64(d.BlockSize)) / float64(o.Bytes); read < 3.5 {
				t.Errorf("%s: a restore reads %.2f× the object; with runs cut at every record it reads about 4×", o.Source, read)
			}
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the simulation does not end: an agent holds forever")
	}
}
