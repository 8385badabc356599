package jobs

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
)

// Issue 8, item 9: restore --path of a few paths reads the catalog ranges
// that can match them, not every entry of the chain: what it looks at
// does not grow with the chain's entries. The selection stays the same:
// the matches, the directories above them and their hard links' targets,
// each from the object of the chain that holds it in the tree.
func TestPathSelectionReadsOnlyItsRange(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	add := func(id, base string, files []catalog.File) catalog.Object {
		n++
		level := "full"
		if base != "" {
			level = "incremental"
		}
		if err := cat.AddObject(ctx, catalog.Object{ID: id, Source: "S", Client: "c", Level: level, Base: base, Started: mt.Add(time.Duration(n) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			files[i].ObjectID, files[i].MTime, files[i].Offset = id, mt, int64(i)*1024
		}
		for start := 0; start < len(files); start += 20000 {
			if err := cat.AddFiles(ctx, files[start:min(start+20000, len(files))]); err != nil {
				t.Fatal(err)
			}
		}
		l := int64(len(files))
		if err := cat.FinishObject(ctx, id, l*1024, l, l, "sha256:00", catalog.ObjectComplete, time.Now()); err != nil {
			t.Fatal(err)
		}
		o, err := cat.Object(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	chainOf := func(k, entries int) []catalog.Object {
		full := []catalog.File{{Path: "/data/", Type: '5'}, {Path: "/data/docs/", Type: '5'},
			{Path: "/data/docs/a.txt", Type: '0'}, {Path: "/data/docs/b.txt", Type: '0'}, {Path: "/data/other/", Type: '5'},
			{Path: "/data/other/target", Type: '0'}}
		for i := range entries {
			if i%100 == 0 {
				full = append(full, catalog.File{Path: fmt.Sprintf("/data/m%05d/", i/100), Type: '5'})
			}
			full = append(full, catalog.File{Path: fmt.Sprintf("/data/m%05d/f%07d", i/100, i), Type: '0'})
		}
		f := add(fmt.Sprintf("018f0000-0000-7000-8000-%012d", 2*k), "", full)
		// The incremental changes a.txt and adds a hard link to a file
		// outside the selected directory.
		inc := add(fmt.Sprintf("018f0000-0000-7000-8000-%012d", 2*k+1), f.ID, []catalog.File{{Path: "/data/", Type: '5'}, {Path: "/data/docs/", Type: '5'},
			{Path: "/data/docs/a.txt", Type: '0'}, {Path: "/data/docs/link", Type: '1', Link: "data/other/target"}})
		return []catalog.Object{f, inc}
	}
	sel := func(chain []catalog.Object) (string, int64) {
		filter, err := newPathFilter([]string{"/data/docs"})
		if err != nil {
			t.Fatal(err)
		}
		want, err := filter.wanted(ctx, cat, chain)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for p := range want.wanted {
			got = append(got, p)
		}
		sort.Strings(got)
		return strings.Join(got, " "), filter.visited
	}
	const entries = 5000
	small, large := chainOf(1, entries), chainOf(2, 4*entries)
	gotSmall, visitedSmall := sel(small)
	gotLarge, visitedLarge := sel(large)
	const want = "/data /data/docs /data/docs/a.txt /data/docs/b.txt /data/docs/link /data/other /data/other/target"
	if gotSmall != want || gotLarge != want {
		t.Fatalf("selection:\n %s\n %s\nwant\n %s", gotSmall, gotLarge, want)
	}
	t.Logf("the selection looked at %d entries of a chain of %d, %d of %d", visitedSmall, entries, visitedLarge, 4*entries)
	if visitedLarge > visitedSmall+10 {
		t.Fatalf("the selection looked at %d entries of a chain of %d, %d of %d: it grows with the chain", visitedSmall, entries, visitedLarge, 4*entries)
	}
}
