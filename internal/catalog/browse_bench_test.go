package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The catalog at 1,000,000 files (issue 4, acceptance 4): recording a
// backup's file entries, and browsing an object that large. Figures are in
// docs/BENCHMARKS.md, "Catalog at 1,000,000 files". Run with
//
//	go test -run '^$' -bench '1M' -benchtime 1x ./internal/catalog/

const (
	bench1MFiles = 1_000_000
	bench1MDirs  = 1_000
	// benchBatch is what a backup hands AddFiles at a time
	// (jobs.filesBatchLimit).
	benchBatch = 20_000
)

// bench1MFile is file i of the benchmark object: 1,000 directories
// /home/user/dNNNN of 999 small files each (the directory's own entry
// takes the place of the 1,000th), in archive order.
func bench1MFile(id string, i int, mt time.Time) File {
	d, n := i/bench1MDirs, i%bench1MDirs
	f := File{ObjectID: id, Type: '0', Size: int64(100 + i%4000), Mode: 0o100644, UID: 1000, GID: 1000,
		MTime: mt, CTime: mt, Inode: uint64(1_000_000 + i), Offset: int64(i) * 1536}
	if n == 0 {
		f.Path, f.Type, f.Size, f.Mode = fmt.Sprintf("/home/user/d%04d", d), '5', 0, 0o40755
	} else {
		f.Path = fmt.Sprintf("/home/user/d%04d/file%06d.dat", d, i)
	}
	return f
}

// add1M records the benchmark object's 1,000,000 files as a backup does:
// in batches of benchBatch, one AddFiles transaction each.
func add1M(b *testing.B, c *Catalog, id string, files []File) {
	ctx := context.Background()
	for start := 0; start < len(files); start += benchBatch {
		if err := c.AddFiles(ctx, files[start:min(start+benchBatch, len(files))]); err != nil {
			b.Fatalf("AddFiles: %v", err)
		}
	}
}

func make1M(id string) []File {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	files := make([]File, bench1MFiles)
	for i := range files {
		files[i] = bench1MFile(id, i, mt)
	}
	return files
}

// BenchmarkAddFiles1M records 1,000,000 file entries into one object per
// iteration, in backup-sized batches. Goal: >= 100,000 files/s.
func BenchmarkAddFiles1M(b *testing.B) {
	c := openTest(b)
	files := make1M("")
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		id := objectID(n)
		addObject(b, c, id, -1)
		for i := range files {
			files[i].ObjectID = id
		}
		b.StartTimer()
		add1M(b, c, id, files)
	}
	b.ReportMetric(float64(n*bench1MFiles)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkFiles1M builds, once, a catalog holding one complete object of
// 1,000,000 files (and a small second object), then times browsing it:
// listing one directory of 999 files (ls files PATH, goal < 200 ms), the top
// of the tree (ls files without PATH), and find with a path pattern (a key
// range) and a base-name pattern (a full scan).
func BenchmarkFiles1M(b *testing.B) {
	ctx := context.Background()
	dbPath := filepath.Join(b.TempDir(), "catalog.db")
	c, err := Open(ctx, dbPath)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	id := objectID(1)
	addObject(b, c, id, -1)
	t0 := time.Now()
	add1M(b, c, id, make1M(id))
	build := time.Since(t0)
	if err := c.FinishObject(ctx, id, 1<<30, 1, bench1MFiles, "sha256:00", ObjectComplete, time.Time{}); err != nil {
		b.Fatal(err)
	}
	addObjectAt(b, c, objectID(2), "home", time.Now(), ObjectComplete, "/home/user/", "/home/user/x.dat")
	if _, err := c.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(dbPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d files in %v (%.0f files/s); catalog file %d bytes (%.1f MiB)",
		bench1MFiles, build.Round(time.Millisecond), bench1MFiles/build.Seconds(), st.Size(), float64(st.Size())/(1<<20))

	ms := func(b *testing.B) {
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
		b.ReportMetric(float64(st.Size())/(1<<20), "catalog-MiB")
	}
	b.Run("ListDir", func(b *testing.B) {
		for b.Loop() {
			fs, err := c.Files(ctx, id, "/home/user/d0500")
			if err != nil || len(fs) != bench1MDirs-1 {
				b.Fatalf("Files = %d files, %v", len(fs), err)
			}
		}
		ms(b)
	})
	b.Run("ListParent", func(b *testing.B) {
		for b.Loop() {
			fs, err := c.Files(ctx, id, "/home/user")
			if err != nil || len(fs) != bench1MDirs {
				b.Fatalf("Files = %d files, %v", len(fs), err)
			}
		}
		ms(b)
	})
	b.Run("Top", func(b *testing.B) {
		for b.Loop() {
			fs, err := c.Roots(ctx, id)
			if err != nil || len(fs) != bench1MDirs {
				b.Fatalf("Roots = %d files, %v", len(fs), err)
			}
		}
		ms(b)
	})
	b.Run("FindPath", func(b *testing.B) {
		for b.Loop() {
			fs, _, err := c.Find(ctx, FindQuery{Pattern: "/home/user/d0777/*7.dat"})
			if err != nil || len(fs) != 100 {
				b.Fatalf("Find = %d files, %v", len(fs), err)
			}
		}
		ms(b)
	})
	b.Run("FindBase", func(b *testing.B) {
		for b.Loop() {
			fs, _, err := c.Find(ctx, FindQuery{Pattern: "file12345*.dat", Limit: 1000})
			if err != nil || len(fs) != 10 {
				b.Fatalf("Find = %d files, %v", len(fs), err)
			}
		}
		ms(b)
	})
}
