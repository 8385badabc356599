package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/records"
	"daisy/internal/testtree"
)

// catalogWithFiles makes a configuration whose catalog holds one complete
// full backup of source S with n files, 100 to a directory, and returns
// the configuration's path and the object's ID.
func catalogWithFiles(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - {name: S, paths: [/data]}\npools:\n  - {name: p, type: vtape}\n" +
		"devices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: bma\n    device: t\n    pool: p\n    buffers:\n      - {name: B, source: S}\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Dir(cfg.Catalog.SQLite), 0o755); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(ctx, cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	id := records.NewID().String()
	if err := cat.AddObject(ctx, catalog.Object{ID: id, Source: "S", Client: "c", Level: "full", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	files := []catalog.File{{ObjectID: id, Path: "/data/", Type: '5', Mode: 0o755, MTime: mt}}
	for i := range n {
		if i%100 == 0 {
			files = append(files, catalog.File{ObjectID: id, Path: fmt.Sprintf("/data/d%05d/", i/100), Type: '5', Mode: 0o755, MTime: mt, Offset: int64(len(files)) * 1024})
		}
		files = append(files, catalog.File{ObjectID: id, Path: fmt.Sprintf("/data/d%05d/file-%07d.txt", i/100, i), Type: '0', Size: 100, Mode: 0o644, MTime: mt, Offset: int64(len(files)) * 1024})
		if len(files) >= 20000 || i == n-1 {
			if err := cat.AddFiles(ctx, files); err != nil {
				t.Fatal(err)
			}
			files = files[:0]
		}
	}
	count := int64(n + n/100 + 1)
	if err := cat.FinishObject(ctx, id, count*1024, count, count, "sha256:00", catalog.ObjectComplete, time.Now()); err != nil {
		t.Fatal(err)
	}
	return cfgPath, id
}

// Issue 8, item 9: ls files -R writes what it lists as it walks the tree,
// directory by directory: the memory it takes does not grow with the
// number of files (it held the whole listing, and the table of it).
func TestLsFilesRecursiveBounded(t *testing.T) {
	const n = 20000
	type made struct{ cfg, id string }
	cats := map[int]made{}
	for _, k := range []int{n, 4 * n} {
		cfg, id := catalogWithFiles(t, k)
		cats[k] = made{cfg, id}
	}
	peak := func(n int, json bool) uint64 {
		args := []string{"-c", cats[n].cfg, "ls", "files", "--object", cats[n].id, "-R"}
		if json {
			args = append([]string{"--json"}, args...)
		}
		var lines countingWriter
		var errb bytes.Buffer
		code := -1
		p := testtree.PeakHeap(func() { code = Main(args, strings.NewReader(""), &lines, &errb) })
		if code != 0 {
			t.Fatalf("ls files -R: exit %d: %s", code, errb.String())
		}
		want := n + n/100 + 2 // and the header
		if json {
			want = 2 + 13*(n+n/100+1) // "[", "]" and 13 lines an entry
		}
		if lines.n != want {
			t.Fatalf("ls files -R (json %v) wrote %d lines, want %d", json, lines.n, want)
		}
		return p
	}
	for _, json := range []bool{false, true} {
		small, large := peak(n, json), peak(4*n, json)
		t.Logf("json %v: heap peak %d KiB listing %d files, %d KiB listing %d", json, small>>10, n, large>>10, 4*n)
		if large > small+4<<20 {
			t.Errorf("json %v: heap peak %d KiB listing %d files, %d KiB listing %d: grows with the files", json, small>>10, n, large>>10, 4*n)
		}
	}
}

// countingWriter counts the lines written to it and drops them.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// Issue 8, item 9: scan --rebuild --files records an object's entries in
// batches as it reads them, not after collecting the whole object: the
// memory it takes does not grow with the number of files. N is
// DAISY_MEMORY_FILES (more than 20,000, a batch) or 25,000.
func TestRebuildFilesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("backs up 125,000 files; runs in the full suite")
	}
	n := filesForMemoryTest(t, 25000) // more than a batch of entries (jobs.filesBatchLimit)
	peak := func(n int) uint64 {
		dir, cfg := backedUpFiles(t, n)
		removeCatalog(t, dir)
		var out, errb bytes.Buffer
		code := -1
		p := testtree.PeakHeap(func() {
			code = Main([]string{"-c", cfg, "--json", "scan", "--rebuild", "--files"}, strings.NewReader(""), &out, &errb)
		})
		if code != 0 {
			t.Fatalf("scan --rebuild --files: exit %d: %s", code, errb.String())
		}
		if want := fmt.Sprintf(`"files": %d,`, n+n/500+1); !strings.Contains(out.String(), want) {
			t.Fatalf("scan --rebuild --files: want %s in\n%s", want, out.String())
		}
		return p
	}
	small, large := peak(n), peak(4*n)
	t.Logf("heap peak %d KiB rebuilding %d files, %d KiB rebuilding %d", small>>10, n, large>>10, 4*n)
	if large > small+4<<20 {
		t.Fatalf("heap peak %d KiB rebuilding %d files, %d KiB rebuilding %d: grows with the files", small>>10, n, large>>10, 4*n)
	}
}

// backedUpFiles backs up a source of n empty files, 500 to a directory,
// and returns the directory of the setup and its configuration.
func backedUpFiles(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		d := filepath.Join(dir, "data", "S", fmt.Sprintf("d%04d", i/500))
		if i%500 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%07d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - {name: S, paths: [data/S]}\npools:\n  - {name: p, type: vtape}\n" +
		"devices:\n  - {name: t, type: vtape}\nbackup_group:\n  - name: bma\n    device: t\n    pool: p\n    buffers:\n      - {name: B, source: S}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	backupJSON(t, cfg, 0)
	return dir, cfg
}

// Issue 8, item 9: a restore that picks its entries from the catalog (a
// chain, --path, --resume) reads them from the catalog as it goes: the
// memory of the selection does not grow with the number of entries (it
// held a list of all of them).
func TestRestoreSelectionBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("backs up and restores 100,000 files; runs in the full suite")
	}
	n := filesForMemoryTest(t, 20000)
	peak := func(n int) uint64 {
		dir, cfg := backedUpFiles(t, n)
		target := filepath.Join(dir, "restored")
		var out, errb bytes.Buffer
		code := -1
		p := testtree.PeakHeap(func() {
			code = Main([]string{"-c", cfg, "--json", "restore", "--source", "S", "--to", target, "--resume"}, strings.NewReader(""), &out, &errb)
		})
		if code != 0 {
			t.Fatalf("restore --resume: exit %d: %s", code, errb.String())
		}
		if want := fmt.Sprintf(`"files": %d,`, n); !strings.Contains(out.String(), want) {
			t.Fatalf("restore --resume: want %s in\n%s", want, out.String())
		}
		return p
	}
	small, large := peak(n), peak(4*n)
	t.Logf("heap peak %d KiB restoring %d files, %d KiB restoring %d", small>>10, n, large>>10, 4*n)
	// The list of 4n entries took about 8 MiB.
	if large > small+3<<20 {
		t.Fatalf("heap peak %d KiB restoring %d files, %d KiB restoring %d: grows with the files", small>>10, n, large>>10, 4*n)
	}
}

// filesForMemoryTest is the N of a test that compares N and 4N files:
// def, or DAISY_MEMORY_FILES.
func filesForMemoryTest(t *testing.T, def int) int {
	v := os.Getenv("DAISY_MEMORY_FILES")
	if v == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		t.Fatalf("DAISY_MEMORY_FILES=%q: want a number of files", v)
	}
	return n
}
