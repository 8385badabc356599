package catalog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func paths(fs []File) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Path)
	}
	return strings.Join(s, " ")
}

func TestFilesRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, -1)
	mt := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC)
	in := []File{
		{ObjectID: id, Path: "home/u/a.txt", Type: '0', Size: 1 << 40, Mode: 0o100644, UID: 1000, GID: 100,
			MTime: mt, CTime: mt.Add(time.Second), Inode: 1<<63 + 5, Offset: 512},
		{ObjectID: id, Path: "home/u/l", Type: '2', Mode: 0o120777, Link: "../../etc/passwd", Offset: 2048},
		{ObjectID: id, Path: "home/u/old", Type: 0, Offset: 3072}, // old NUL type flag
		{ObjectID: id, Path: "home/u/odd\n\xff name", Type: 'S', Offset: 4096},
	}
	if err := c.AddFiles(ctx, in); err != nil {
		t.Fatalf("AddFiles: %v", err)
	}
	for i, want := range in {
		got, err := c.File(ctx, id, want.Path)
		if err != nil {
			t.Fatalf("File %q: %v", want.Path, err)
		}
		if want.Type == 0 {
			want.Type = '0'
		}
		if !got.MTime.Equal(want.MTime) || !got.CTime.Equal(want.CTime) {
			t.Fatalf("file %d times = %v, %v; want %v, %v", i, got.MTime, got.CTime, want.MTime, want.CTime)
		}
		got.MTime, got.CTime = want.MTime, want.CTime
		if got != want {
			t.Fatalf("file %d = %+v\nwant %+v", i, got, want)
		}
	}
	// A path given again keeps the later entry.
	if err := c.AddFiles(ctx, []File{{ObjectID: id, Path: "home/u/l", Type: '0', Size: 7, Offset: 9999}}); err != nil {
		t.Fatalf("AddFiles again: %v", err)
	}
	if f, err := c.File(ctx, id, "home/u/l"); err != nil || f.Type != '0' || f.Size != 7 || f.Offset != 9999 || f.Link != "" {
		t.Fatalf("replaced file = %+v, %v", f, err)
	}
	// Also within one call, in one batch and across batches.
	var many []File
	for i := range 3*fileBatch + 5 {
		p := fmt.Sprintf("many/%04d", i)
		switch i {
		case 3, 10, 2*fileBatch + 1:
			p = "many/dup-far"
		case 11, 12:
			p = "many/dup-near"
		}
		many = append(many, File{ObjectID: id, Path: p, Type: '0', Offset: int64(i)})
	}
	if err := c.AddFiles(ctx, many); err != nil {
		t.Fatalf("AddFiles with duplicates: %v", err)
	}
	if f, err := c.File(ctx, id, "many/dup-far"); err != nil || f.Offset != 2*fileBatch+1 {
		t.Fatalf("many/dup-far = %+v, %v; want offset %d", f, err, 2*fileBatch+1)
	}
	if f, err := c.File(ctx, id, "many/dup-near"); err != nil || f.Offset != 12 {
		t.Fatalf("many/dup-near = %+v, %v; want offset 12", f, err)
	}
	if fs, err := c.Files(ctx, id, "many"); err != nil || len(fs) != len(many)-3 {
		t.Fatalf("Files(many) = %d files, %v; want %d", len(fs), err, len(many)-3)
	}
	if _, err := c.File(ctx, id, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("File(nope): %v; want ErrNotFound", err)
	}
	// A file of an unknown object fails the whole call.
	err := c.AddFiles(ctx, []File{{ObjectID: id, Path: "x1"}, {ObjectID: "nope", Path: "x2"}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddFiles with an unknown object: %v; want ErrNotFound", err)
	}
	if _, err := c.File(ctx, id, "x1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the failed AddFiles left x1 behind: %v", err)
	}
	if err := c.AddFiles(ctx, []File{{ObjectID: id}}); err == nil {
		t.Fatalf("AddFiles with an empty path succeeded")
	}
	if err := c.AddFiles(ctx, nil); err != nil {
		t.Fatalf("AddFiles(nil): %v", err)
	}
}

func TestFilesListing(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, -1)
	var fs []File
	for _, p := range []string{
		"etc/", "etc/passwd", "etc/ssh/", "etc/ssh/sshd_config",
		"home/", "home/a/", "home/a/x.txt", "home/a/y/", "home/a/y/z", "home/a.txt", "home/b", "home/b/c",
		"home/c/d", // a directory without an entry of its own
		"homer",
		"/abs", "/abs/one", "/top",
	} {
		fs = append(fs, File{ObjectID: id, Path: p, Type: '0'})
	}
	if err := c.AddFiles(ctx, fs); err != nil {
		t.Fatalf("AddFiles: %v", err)
	}
	for _, tc := range []struct{ dir, want string }{
		{"home", "home/a.txt home/a/ home/b"},
		{"home/", "home/a.txt home/a/ home/b"},
		{"home/a", "home/a/x.txt home/a/y/"},
		{"home/a/y", "home/a/y/z"},
		{"home/c", "home/c/d"},
		{"home/b", "home/b/c"},
		{"etc", "etc/passwd etc/ssh/"},
		{".", "etc/ home/ homer"},
		{"/", "/abs /top"},
		{"/abs", "/abs/one"},
		{"nowhere", ""},
		{"home/a.txt", ""},
	} {
		got, err := c.Files(ctx, id, tc.dir)
		if err != nil || paths(got) != tc.want {
			t.Fatalf("Files(%q) = [%s], %v; want [%s]", tc.dir, paths(got), err, tc.want)
		}
	}
	all, err := c.Files(ctx, id, "")
	if err != nil || len(all) != len(fs) || !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Path < all[j].Path }) {
		t.Fatalf("Files(\"\") = %d files, %v; want %d in path order", len(all), err, len(fs))
	}
	under, err := c.FilesUnder(ctx, id, "home/a")
	if err != nil || paths(under) != "home/a/ home/a/x.txt home/a/y/ home/a/y/z" {
		t.Fatalf("FilesUnder(home/a) = [%s], %v", paths(under), err)
	}
	under, err = c.FilesUnder(ctx, id, "home/b")
	if err != nil || paths(under) != "home/b home/b/c" {
		t.Fatalf("FilesUnder(home/b) = [%s], %v", paths(under), err)
	}
	if _, err := c.Files(ctx, "nope", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Files of a missing object: %v; want ErrNotFound", err)
	}
	if _, err := c.Files(ctx, "nope", "home"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Files of a missing object: %v; want ErrNotFound", err)
	}
}

// TestFilesListingRandom compares Files(dir) with a brute-force listing on a
// random tree, including names that sort around '/'.
func TestFilesListingRandom(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, -1)
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "a.b", "a-", "a0", "ab", "-", ".x", "z"}
	set := map[string]bool{}
	dirs := map[string]bool{".": true}
	for len(set) < 800 {
		depth := 1 + rng.IntN(4)
		var parts []string
		for range depth {
			parts = append(parts, names[rng.IntN(len(names))])
		}
		p := strings.Join(parts, "/")
		for i := 1; i < len(parts); i++ {
			dirs[strings.Join(parts[:i], "/")] = true
		}
		if rng.IntN(5) == 0 {
			p += "/"
		}
		set[p] = true
	}
	var fs []File
	for p := range set {
		fs = append(fs, File{ObjectID: id, Path: p, Type: '0'})
	}
	if err := c.AddFiles(ctx, fs); err != nil {
		t.Fatalf("AddFiles: %v", err)
	}
	for dir := range dirs {
		var want []string
		for p := range set {
			parent := "."
			q := strings.TrimSuffix(p, "/")
			if i := strings.LastIndexByte(q, '/'); i >= 0 {
				parent = q[:i]
			}
			if parent == dir {
				want = append(want, p)
			}
		}
		sort.Strings(want)
		got, err := c.Files(ctx, id, dir)
		if err != nil || paths(got) != strings.Join(want, " ") {
			t.Fatalf("Files(%q) = [%s], %v\nwant [%s]", dir, paths(got), err, strings.Join(want, " "))
		}
	}
}

func BenchmarkAddFiles(b *testing.B) {
	const perOp = 100_000
	ctx := context.Background()
	c := openTest(b)
	mt := time.Now()
	files := make([]File, perOp)
	for i := range files {
		files[i] = File{Path: fmt.Sprintf("home/user%02d/projects/p%03d/src/file%06d.go", i%50, i%1000, i),
			Type: '0', Size: int64(i * 100), Mode: 0o100644, UID: 1000, GID: 1000, MTime: mt, CTime: mt,
			Inode: uint64(1_000_000 + i), Offset: int64(i) * 1536}
	}
	cpu0 := cpuTime()
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		id := objectID(n + 1)
		addObject(b, c, id, -1)
		for i := range files {
			files[i].ObjectID = id
		}
		b.StartTimer()
		if err := c.AddFiles(ctx, files); err != nil {
			b.Fatalf("AddFiles: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "files/s")
	// On a shared machine the process's CPU time is steadier than the
	// wall clock (it includes the untimed setup, so it errs low).
	b.ReportMetric(float64(b.N*perOp)/(cpuTime()-cpu0).Seconds(), "files/cpu-s")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
