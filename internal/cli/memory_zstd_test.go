package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/jobs"
)

// buildDaisy builds the daisy binary into dir, without the GOFLAGS the
// suite runs with (-race would multiply the binary's memory).
func buildDaisy(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "daisy")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/daisy")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// logText returns n bytes of log lines that differ only in their time
// stamp and source number: zstd shrinks each record's chunk about 60-fold
// (records of about 1 KiB), as with a verbose application log.
func logText(source, n int) []byte {
	b := make([]byte, 0, n+200)
	for line := 0; len(b) < n; line++ {
		b = fmt.Appendf(b, "2026-12-01T%02d:%02d:%02dZ host%d app: GET /api/v1/items request served\n", line/3600%24, line/60%60, line%60, source)
	}
	return b[:n]
}

// Issue 8, item 9: four sources of compressible text through four 8 MiB
// buffers on one media agent. A compressed record must count in its
// buffer for the memory it takes, so the peak RSS stays within the
// buffers plus the same 100 MiB as TestBackupMemoryBounded (docs/
// BENCHMARKS.md, Memory). DAISY_ZSTD_MEM_MIB sets the MiB per source
// (default 320).
func TestBackupMemoryBoundedZstd(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1.25 GiB; runs in the full suite (scripts/test runs it without -short)")
	}
	perSource := 320
	if v := os.Getenv("DAISY_ZSTD_MEM_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &perSource); err != nil || perSource < 1 {
			t.Fatalf("DAISY_ZSTD_MEM_MIB=%q: want a number of MiB", v)
		}
	}
	dir := t.TempDir()
	bin := buildDaisy(t, dir)
	const (
		sources    = 4
		bufferSize = 8 << 20
		chunk      = 8 << 20
	)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "defaults:\n  buffer_size: %d\nsources:\n", bufferSize)
	for i := 1; i <= sources; i++ {
		src := filepath.Join(dir, "data", fmt.Sprintf("S%d", i))
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		text := logText(i, chunk)
		f, err := os.Create(filepath.Join(src, "app.log"))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < perSource<<20; n += chunk {
			if _, err := f.Write(text); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  - name: S%d\n    paths: [data/S%d]\n    compression: zstd\n", i, i)
	}
	cfg.WriteString("pools:\n  - name: default\n    type: vtape\n    volume_capacity: 8GiB\ndevices:\n  - name: tape0\n    type: vtape\nbackup_group:\n  - name: bma0\n    device: tape0\n    buffers:\n")
	for i := 1; i <= sources; i++ {
		fmt.Fprintf(&cfg, "      - {name: B%d, source: S%d}\n", i, i)
	}
	cfgPath := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cfgPath, "--json", "backup")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=") // the binary sets its own limit
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	var res jobs.BackupResult
	if err := json.Unmarshal(out, &res); err != nil || res.State != jobs.JobSuccess {
		t.Fatalf("backup did not succeed (%v):\n%s", err, out)
	}
	var stored, length int64
	for _, o := range res.Objects {
		stored += o.Stored
		length += o.Bytes
	}
	if length == 0 || stored*4 > length {
		t.Fatalf("objects of %d bytes stored in %d: the data did not compress as the test needs", length, stored)
	}
	if res.PeakRSS <= 0 {
		t.Fatalf("backup reported no peak RSS:\n%s", out)
	}
	bound := int64(sources*bufferSize) + 100<<20
	t.Logf("%d MiB stored in %d MiB; peak RSS %d MiB, bound %d MiB (buffers %d MiB + 100 MiB)",
		length>>20, stored>>20, res.PeakRSS>>20, bound>>20, sources*bufferSize>>20)
	if res.PeakRSS > bound {
		t.Fatalf("peak RSS %d MiB exceeds the buffers plus 100 MiB (%d MiB)", res.PeakRSS>>20, bound>>20)
	}
}
