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
	"daisy/internal/testtree"
)

// Acceptance 4: the peak RSS of a backup of 2 GiB from 5 sources stays
// within the configured buffer sizes plus 100 MiB. It runs the real binary
// in its own process so that the kernel's peak RSS figure is the backup's.
func TestBackupMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 GiB; runs in the full suite (scripts/test runs it without -short)")
	}
	dir := t.TempDir()
	bin := buildDaisy(t, dir)
	const (
		sources    = 5
		bufferSize = 16 << 20
	)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "defaults:\n  buffer_size: %d\nsources:\n", bufferSize)
	for i := 1; i <= sources; i++ {
		src := filepath.Join(dir, "data", fmt.Sprintf("S%d", i))
		// 4 files of 100 MiB + small files: about 410 MiB per source.
		if err := testtree.Make(src, testtree.Spec{Seed: uint64(i), SmallFiles: 200, LargeFiles: 4, LargeSize: 100 << 20}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  - name: S%d\n    paths: [data/S%d]\n", i, i)
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
	// The process's own VmHWM: the rusage of a child started from this
	// (large) test process would include the test process's size, which
	// the child inherits through vfork+exec.
	maxRSS := res.PeakRSS
	if maxRSS <= 0 {
		t.Fatalf("backup reported no peak RSS:\n%s", out)
	}
	bound := int64(sources*bufferSize) + 100<<20
	t.Logf("peak RSS %d MiB, bound %d MiB (buffers %d MiB + 100 MiB)", maxRSS>>20, bound>>20, sources*bufferSize>>20)
	if maxRSS > bound {
		t.Fatalf("peak RSS %d MiB exceeds the buffers plus 100 MiB (%d MiB)", maxRSS>>20, bound>>20)
	}
}
