package catalog

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkFixture is a catalog with one volume of 10 blocks and one complete
// object of 100 bytes, 3 file entries and a good copy on that volume:
// everything Check checks is consistent.
func checkFixture(t *testing.T) (*Catalog, string) {
	t.Helper()
	ctx := context.Background()
	c := openTest(t)
	addVolumes(t, c, "v1")
	if err := c.UpdateVolume(ctx, Volume{ID: "v1", State: VolumeAppendable, Blocks: 10, Bytes: 10 << 18}); err != nil {
		t.Fatal(err)
	}
	id := objectID(1)
	addObject(t, c, id, 100)
	addCopy(t, c, id, 1)
	if err := c.CommitCopy(ctx, id, 1, []Extent{
		{VolumeID: "v1", FirstBlock: 1, LastBlock: 2, FirstOffset: 0, EndOffset: 60, Records: 1, Bytes: 60},
		{VolumeID: "v1", FirstBlock: 4, LastBlock: 5, FirstOffset: 60, EndOffset: 100, Records: 1, Bytes: 40},
	}); err != nil {
		t.Fatal(err)
	}
	var files []File
	for _, p := range []string{"/a", "/a/b", "/a/c"} {
		files = append(files, File{ObjectID: id, Path: p, Type: '0', MTime: time.Now()})
	}
	if err := c.AddFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	return c, id
}

// exec runs raw SQL on the writer, with foreign keys off so that a test
// can make what only damage or a bug makes.
func (c *Catalog) execRaw(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range append([]string{"PRAGMA foreign_keys = OFF"}, stmts...) {
		if _, err := c.w.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestCheckConsistent(t *testing.T) {
	c, _ := checkFixture(t)
	rep, err := c.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := CheckCounts{Objects: 1, Copies: 1, Extents: 2, Volumes: 1, Files: 3}
	if rep.SQLite != "ok" || len(rep.Problems) != 0 || rep.Checked != want {
		t.Fatalf("%+v, want no problem and %+v checked", rep, want)
	}
	if err := c.QuickCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Each of daisy's own checks finds the inconsistency it is for, names the
// object, copy or volume, and says what to do.
func TestCheckFindsInconsistencies(t *testing.T) {
	id := objectID(1)
	for _, tc := range []struct {
		name, kind, says string
		tamper           []string
	}{
		{"gap", ProblemExtents, "do not cover", []string{`UPDATE extents SET first_offset = 70 WHERE seq = 1`}},
		{"short", ProblemExtents, "do not cover", []string{`UPDATE objects SET length = 200`}},
		{"no extents", ProblemExtents, "no extents", []string{`DELETE FROM extents`}},
		{"missing volume", ProblemMissingVolume, "does not have", []string{`DELETE FROM volumes`}},
		{"recyclable", ProblemVolumeState, "recyclable", []string{`UPDATE volumes SET state = 'recyclable'`}},
		{"volume ends before", ProblemVolumeState, "has 3 blocks", []string{`UPDATE volumes SET blocks = 3`}},
		{"file list short", ProblemFiles, "file list 2", []string{`DELETE FROM files WHERE path = '/a/c'`}},
		{"no file list", ProblemFiles, "no file list", []string{`DELETE FROM files`}},
		{"missing base", ProblemMissingBase, "is based on", []string{`UPDATE objects SET base = '` + objectID(9) + `', level = 'incremental'`}},
		{"orphans", ProblemOrphan, "does not have", []string{`DELETE FROM objects`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := checkFixture(t)
			c.execRaw(t, tc.tamper...)
			rep, err := c.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, p := range rep.Problems {
				if p.Kind == tc.kind && p.Object == id && strings.Contains(p.Problem, tc.says) && strings.Contains(p.Fix, "daisy ") {
					found = true
				}
				if p.Kind == ProblemSQLite {
					t.Errorf("SQLite damage reported for a consistent file: %v", p)
				}
			}
			if !found {
				t.Errorf("no %s problem saying %q about %s in %+v", tc.kind, tc.says, id, rep.Problems)
			}
		})
	}
}

// A check lists at most MaxProblems of a kind and counts the rest.
func TestCheckBoundsProblems(t *testing.T) {
	c, _ := checkFixture(t)
	ctx := context.Background()
	for i := 2; i < MaxProblems+12; i++ {
		addObject(t, c, objectID(i), 10)
	}
	rep, err := c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each new object has 3 entries and no file list.
	if len(rep.Problems) != MaxProblems || rep.More != 10 {
		t.Errorf("%d problems listed, %d more; want %d and 10", len(rep.Problems), rep.More, MaxProblems)
	}
}

// BenchmarkQuickCheck1M is what the quick check costs a job, and the full
// check `daisy catalog check`, on a catalog of DAISY_BENCH_OBJECTS (default
// 1) objects of 1,000,000 file entries each. Figures are in
// docs/BENCHMARKS.md, "Catalog checks". Run with
//
//	go test -run '^$' -bench 'Check1M' -benchtime 1x ./internal/catalog/
func BenchmarkQuickCheck1M(b *testing.B) { benchCheck(b, true) }

// BenchmarkCheck1M: see BenchmarkQuickCheck1M.
func BenchmarkCheck1M(b *testing.B) { benchCheck(b, false) }

func benchCheck(b *testing.B, quick bool) {
	ctx := context.Background()
	c := openTest(b)
	n := 1
	if s := os.Getenv("DAISY_BENCH_OBJECTS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			b.Fatalf("DAISY_BENCH_OBJECTS=%q: give a number of objects", s)
		}
	}
	files := make1M("")
	for k := 1; k <= n; k++ {
		id := objectID(k)
		addObject(b, c, id, -1)
		for i := range files {
			files[i].ObjectID = id
		}
		add1M(b, c, id, files)
		if err := c.FinishObject(ctx, id, 1<<30, 1, bench1MFiles, "sha256:00", ObjectComplete, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(c.Path())
	if err != nil {
		b.Fatal(err)
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for b.Loop() {
		if quick {
			err = c.QuickCheck(ctx)
		} else {
			var rep *CheckReport
			rep, err = c.Check(ctx)
			if err == nil && len(rep.Problems) > 0 {
				err = fmt.Errorf("problems: %v", rep.Problems)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / time.Duration(b.N)
	b.ReportMetric(cpu.Seconds(), "cpu-s/op")
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	b.ReportMetric(float64(n*bench1MFiles), "files")
}
