package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pools"
	"daisy/internal/testtree"
)

// catalogTally is what a refused job must leave as it was.
type catalogTally struct {
	counts catalog.Counts
	jobs   int
}

func tally(t *testing.T, cat *catalog.Catalog) catalogTally {
	t.Helper()
	ctx := context.Background()
	n, err := cat.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	js, err := cat.Jobs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return catalogTally{n, len(js)}
}

// holdPool takes the lock of pool name of cfg as another daisy process
// would, with the function the jobs use; the returned func releases it.
func holdPool(t *testing.T, cfg, name string) func() {
	t.Helper()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Pool(name)
	if !ok {
		t.Fatalf("no pool %s in %s", name, cfg)
	}
	f, err := pools.LockDir(p)
	if err != nil {
		t.Fatal(err)
	}
	var done bool
	release := func() {
		if !done {
			done = true
			pools.Unlock(f)
		}
	}
	t.Cleanup(release)
	return release
}

// Issue 9, "two jobs at once": a job that writes a pool another daisy
// process holds refuses before it records or reads anything, naming the
// pool and the holder; with --wait it waits, says so, and runs once the
// pool is free.
func TestSecondJobOnBusyPool(t *testing.T) {
	small := testtree.Spec{SmallFiles: 10, LargeFiles: 1, LargeSize: 256 << 10}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D1": small, "D2": small, "D3": small, "D4": small, "D5": small}, nil)
	if code, out, errs := run(t, "-c", cfg, "backup"); code != 0 {
		t.Fatalf("first backup: exit %d\n%s%s", code, out, errs)
	}
	cat := openCatalog(t, dir)
	before := tally(t, cat)
	release := holdPool(t, cfg, "copy1")
	wantInErr := []string{"in use by another daisy process", "pool copy1", filepath.Join(dir, "state", "volumes", "copy1"), fmt.Sprintf("pid %d", os.Getpid()), "--wait"}
	for _, args := range [][]string{
		{"backup"},
		{"backup", "--source", "D1"},
		{"migrate", "--from-pool", "copy1", "--to-pool", "copy3"}, // changes copy1's volumes afterwards
		{"prune"},
	} {
		code, out, errs := run(t, append([]string{"-c", cfg}, args...)...)
		if code != ExitFailure {
			t.Errorf("%s while copy1 is held: exit %d, want %d\n%s%s", args, code, ExitFailure, out, errs)
		}
		for _, w := range wantInErr {
			if !strings.Contains(errs, w) {
				t.Errorf("%s while copy1 is held: stderr does not say %q:\n%s", args, w, errs)
			}
		}
		if strings.Contains(errs+out, "consumer") {
			t.Errorf("%s while copy1 is held: it started reading:\n%s%s", args, out, errs)
		}
		if after := tally(t, cat); after != before {
			t.Errorf("%s while copy1 is held changed the catalog: %+v, before %+v", args, after, before)
		}
	}

	// --wait: the holder lets go after a second; the backup waits and runs.
	go func() {
		time.Sleep(time.Second)
		release()
	}()
	code, out, errs := run(t, "-c", cfg, "backup", "--wait", "5s")
	if code != 0 {
		t.Fatalf("backup --wait 5s: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "pool copy1") || !strings.Contains(errs, "waiting") {
		t.Errorf("backup --wait 5s did not say it waited for copy1:\n%s", errs)
	}
	after := tally(t, cat)
	if after.jobs != before.jobs+1 || after.counts.Objects != before.counts.Objects+5 {
		t.Errorf("backup --wait 5s: catalog %+v, before %+v: want one more job and 5 more objects", after, before)
	}

	// --wait that runs out, and a negative one.
	holdPool(t, cfg, "copy2")
	code, _, errs = run(t, "-c", cfg, "backup", "--wait", "300ms")
	if code != ExitFailure || !strings.Contains(errs, "pool copy2") || !strings.Contains(errs, "waited 300ms") {
		t.Errorf("backup --wait 300ms with copy2 held: exit %d\n%s", code, errs)
	}
	if code, _, errs := run(t, "-c", cfg, "backup", "--wait", "-1s"); code != ExitUsage {
		t.Errorf("backup --wait -1s: exit %d, want %d\n%s", code, ExitUsage, errs)
	}
	if got := tally(t, cat); got != after {
		t.Errorf("refused backups changed the catalog: %+v, before %+v", got, after)
	}
}
