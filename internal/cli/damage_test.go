package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/records"
	"daisy/internal/testtree"
	"daisy/internal/volume"
)

// damageResult is what the damage tests read of restore --json (decoded
// here, not as damageResult, so that the tests build on a daisy
// without these fields, and fail there).
type damageResult struct {
	Attempts []struct {
		Copy  int
		Error string
	}
	Chain []struct {
		Mode, Hash string
	}
	Problems   []string
	LostRanges []struct {
		Object   string
		From, To int64
	} `json:"lost_ranges"`
	LostEntries []struct {
		Object, Path string
		Offset       int64
	} `json:"lost_entries"`
}

func damageJSON(t *testing.T, wantCode int, args ...string) damageResult {
	t.Helper()
	code, out, errs := run(t, append([]string{"--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("daisy %s: exit %d, want %d: %s", strings.Join(args, " "), code, wantCode, errs)
	}
	var rr damageResult
	if err := json.Unmarshal([]byte(out), &rr); err != nil {
		t.Fatalf("restore --json: %v\n%s", err, out)
	}
	return rr
}

// blockRec is a record in a block of a volume, as the damage tests see it.
type blockRec struct {
	Object        records.ID
	Type          records.Type
	Seq           uint32
	Offset, End   int64 // object bytes of a data record (End = Offset for others)
	Start, Finish int   // byte positions in the block
}

// readBlockRecs parses block n of a volume file: its header and records.
// ok is false when the block is no intact data block.
func readBlockRecs(t *testing.T, path string, bs int, n int64) (volume.BlockHeader, []blockRec, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, bs)
	if _, err := f.ReadAt(b, n*int64(bs)); err != nil {
		return volume.BlockHeader{}, nil, false
	}
	h, err := volume.CheckBlock(b)
	if err != nil || h.IsLabel() {
		return h, nil, false
	}
	var recs []blockRec
	p := b[volume.BlockHeaderSize : volume.BlockHeaderSize+int(h.Length)]
	for pos := 0; pos < len(p); {
		rh, payload, err := records.Decode(p[pos:])
		if err != nil {
			t.Fatalf("%s block %d: record at %d: %v", path, n, pos, err)
		}
		r := blockRec{Object: rh.Object, Type: rh.Type, Seq: rh.Seq, Offset: int64(rh.Offset), End: int64(rh.Offset),
			Start: volume.BlockHeaderSize + pos, Finish: volume.BlockHeaderSize + pos + rh.Size()}
		if rh.Type.IsData() {
			dl, err := records.DataLen(rh, payload)
			if err != nil {
				t.Fatal(err)
			}
			r.End += int64(dl)
		}
		recs = append(recs, r)
		pos += rh.Size()
	}
	return h, recs, true
}

// copyBlock is one block of a copy of an object.
type copyBlock struct {
	vol   catalog.Volume
	block int64
}

// copyBlocks lists the blocks of a copy's extents, in stream order.
func copyBlocks(t *testing.T, dir, object string, copyN int) []copyBlock {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	exts, err := cat.Extents(ctx, object, copyN)
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents of %s copy %d: %v %v", object, copyN, exts, err)
	}
	var out []copyBlock
	for _, e := range exts {
		v, err := cat.Volume(ctx, e.VolumeID)
		if err != nil {
			t.Fatal(err)
		}
		for b := e.FirstBlock; b <= e.LastBlock; b++ {
			if len(out) > 0 && out[len(out)-1].vol.ID == v.ID && out[len(out)-1].block == b {
				continue
			}
			out = append(out, copyBlock{v, b})
		}
	}
	return out
}

// seqRange returns the sequence numbers of object's records in a block
// (lo > hi when it has none) and their object bytes.
func seqRange(t *testing.T, cb copyBlock, object string) (lo, hi uint32, from, to int64) {
	t.Helper()
	_, recs, ok := readBlockRecs(t, cb.vol.Path, cb.vol.BlockSize, cb.block)
	if !ok {
		t.Fatalf("volume %s block %d is not an intact data block", cb.vol.Label, cb.block)
	}
	lo, hi, from, to = ^uint32(0), 0, -1, -1
	for _, r := range recs {
		if r.Object.String() != object || !r.Type.IsObject() {
			continue
		}
		lo, hi = min(lo, r.Seq), max(hi, r.Seq)
		if from < 0 && r.Type.IsData() {
			from = r.Offset
		}
		to = max(to, r.End)
	}
	return lo, hi, from, to
}

// flipIn flips one byte inside the records of a block.
func flipIn(t *testing.T, cb copyBlock) {
	t.Helper()
	flipByte(t, cb.vol.Path, cb.block*int64(cb.vol.BlockSize)+volume.BlockHeaderSize+100)
}

// sameContent compares the regular files and symlinks of two trees, but
// for the paths in skip (relative to the trees), and returns the
// differences.
func sameContent(t *testing.T, want, got string, skip map[string]bool) []string {
	t.Helper()
	w, err := testtree.Snapshot(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := testtree.Snapshot(got)
	if err != nil {
		g = map[string]testtree.Entry{}
	}
	var diffs []string
	for p, we := range w {
		if skip[p] || we.Type.IsDir() {
			continue
		}
		ge, ok := g[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": missing")
		case ge.Type != we.Type || ge.Size != we.Size || ge.Hash != we.Hash || ge.Link != we.Link || ge.Mode != we.Mode:
			diffs = append(diffs, p+": differs")
		}
	}
	for p, ge := range g {
		if _, ok := w[p]; !ok && !ge.Type.IsDir() {
			diffs = append(diffs, p+": not in the source")
		}
	}
	slices.Sort(diffs)
	return diffs
}

// lostPaths returns the paths a restore lost, relative to the source root
// src, and checks that each lost entry is of the object.
func lostPaths(t *testing.T, rr damageResult, src string) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, e := range rr.LostEntries {
		rel, err := filepath.Rel(src, e.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("lost entry %q is not under %s", e.Path, src)
		}
		m[rel] = true
	}
	return m
}

// Issue 8 item 6: fallback goes both ways and per range. Copy 1 damaged
// at block 2 and copy 2 at block 8 restores whole, and so does any
// pattern where every range is intact on some copy; a range damaged on
// both is lost alone; cat --salvage of a damaged copy gives the rest.
func TestRestoreTwoCopyDamage(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 200, LargeFiles: 2, LargeSize: 2 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D4": spec}, nil)
	d4 := objectOf(t, backupJSON(t, cfg, 0), "D4")
	src := filepath.Join(dir, "data", "D4")
	b1, b2 := copyBlocks(t, dir, d4, 1), copyBlocks(t, dir, d4, 2)
	if len(b1) < 12 || len(b2) < 12 {
		t.Fatalf("copies of %d and %d blocks: too few for the test", len(b1), len(b2))
	}
	restore := func(t *testing.T, wantCode int, args ...string) (damageResult, string) {
		t.Helper()
		target := filepath.Join(t.TempDir(), "r")
		rr := damageJSON(t, wantCode, append([]string{"-c", cfg, "restore", "--object", d4, "--to", target}, args...)...)
		return rr, target
	}
	// damage flips a byte in each block, and back when the subtest ends.
	damage := func(t *testing.T, cbs ...copyBlock) {
		for _, cb := range cbs {
			flipIn(t, cb)
			t.Cleanup(func() { flipIn(t, cb) })
		}
	}

	t.Run("copy1-block2-copy2-block8", func(t *testing.T) {
		_, hi1, _, _ := seqRange(t, b1[2], d4)
		lo2, _, _, _ := seqRange(t, b2[8], d4)
		if hi1 >= lo2 {
			t.Fatalf("copy 1 block 2 holds records up to %d, copy 2 block 8 from %d: the ranges overlap", hi1, lo2)
		}
		damage(t, b1[2], b2[8])
		rr, target := restore(t, 0)
		if d := sameContent(t, src, filepath.Join(target, src), nil); len(d) > 0 {
			t.Fatalf("restore with copy 1 damaged at block 2 and copy 2 at block 8 differs: %v", d)
		}
		var copies []int
		for _, a := range rr.Attempts {
			copies = append(copies, a.Copy)
		}
		if !slices.Equal(copies, []int{1, 2, 1}) || rr.Chain[0].Hash == "" {
			t.Fatalf("attempts %+v (copies %v), want 1, 2, then 1 again, and the hash checked", rr.Attempts, copies)
		}
	})

	// Random patterns where every range is intact on some copy.
	t.Run("random-patterns", func(t *testing.T) {
		rounds := envInt(t, "DAISY_DAMAGE_PATTERNS", 4)
		rng := rand.New(rand.NewPCG(8, 6))
		for round := range rounds {
			var picked []copyBlock
			type span struct{ lo, hi uint32 }
			var taken []span
			overlaps := func(s span) bool {
				for _, o := range taken {
					if s.lo <= o.hi+1 && o.lo <= s.hi+1 {
						return true
					}
				}
				return false
			}
			for _, bs := range [][]copyBlock{b1, b2} {
				var mine []span
				for n := 1 + rng.IntN(3); n > 0; n-- {
					cb := bs[rng.IntN(len(bs))]
					lo, hi, _, _ := seqRange(t, cb, d4)
					if lo > hi || overlaps(span{lo, hi}) || slices.Contains(picked, cb) {
						continue
					}
					mine = append(mine, span{lo, hi})
					picked = append(picked, cb)
				}
				taken = append(taken, mine...)
			}
			for _, cb := range picked {
				flipIn(t, cb)
			}
			target := filepath.Join(t.TempDir(), "r")
			code, _, errs := run(t, "-c", cfg, "restore", "--object", d4, "--to", target)
			for _, cb := range picked {
				flipIn(t, cb)
			}
			if code != 0 {
				t.Fatalf("round %d: damage at %v: exit %d: %s", round, picked, code, errs)
			}
			if d := sameContent(t, src, filepath.Join(target, src), nil); len(d) > 0 {
				t.Fatalf("round %d: damage at %v: restore differs: %v", round, picked, d)
			}
		}
	})

	// The same range damaged on both copies: only its entries are lost.
	_, _, from, to := seqRange(t, b1[5], d4)
	t.Run("same-range-on-both", func(t *testing.T) {
		k := slices.IndexFunc(b2, func(cb copyBlock) bool {
			_, _, f, e := seqRange(t, cb, d4)
			return f <= from && e > from
		})
		if k < 0 {
			t.Fatalf("no block of copy 2 holds offset %d", from)
		}
		damage(t, b1[5], b2[k])
		rr, target := restore(t, ExitPartial)
		if len(rr.LostRanges) != 1 || len(rr.LostEntries) == 0 || rr.LostRanges[0].From != from || rr.LostRanges[0].To <= from || rr.LostRanges[0].To > to {
			t.Fatalf("lost ranges %+v, entries %+v; want the range at %d..%d", rr.LostRanges, rr.LostEntries, from, to)
		}
		if rr.Chain[0].Hash != "" {
			t.Fatalf("the hash is claimed (%s) although a range was lost", rr.Chain[0].Hash)
		}
		if d := sameContent(t, src, filepath.Join(target, src), lostPaths(t, rr, src)); len(d) > 0 {
			t.Fatalf("restore past the range lost on both copies differs beyond the entries it lists: %v", d)
		}
	})

	// cat --salvage of the damaged copy is copy 2's stream with zeros in
	// place of the range lost.
	t.Run("cat-salvage", func(t *testing.T) {
		damage(t, b1[5])
		code, good, errs := run(t, "-c", cfg, "cat", d4, "--copy", "2")
		if code != 0 {
			t.Fatalf("cat --copy 2: exit %d: %s", code, errs)
		}
		code, _, errs = run(t, "-c", cfg, "cat", d4, "--copy", "1")
		if code != ExitFailure {
			t.Fatalf("cat --copy 1 of a damaged copy: exit %d, want 1: %s", code, errs)
		}
		code, salv, errs := run(t, "-c", cfg, "cat", d4, "--copy", "1", "--salvage")
		if code != ExitPartial || len(salv) != len(good) || !strings.Contains(errs, "written as zeros") {
			t.Fatalf("cat --copy 1 --salvage: exit %d, %d bytes (want %d): %s", code, len(salv), len(good), errs)
		}
		for i := range salv {
			if salv[i] != good[i] && (int64(i) < from || int64(i) >= to || salv[i] != 0) {
				t.Fatalf("cat --salvage differs at offset %d, outside the range lost %d..%d", i, from, to)
			}
		}
	})
}

// envInt reads a count from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

// expectedLost returns the entries of an object a range [from, to) of its
// stream takes with it: each entry from the one holding from to the one
// holding to-1, by the catalog's offsets.
func expectedLost(t *testing.T, dir, object string, from, to, length int64) []string {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	obj, err := cat.Object(ctx, object)
	if err != nil {
		t.Fatal(err)
	}
	var fs []catalog.File
	if err := cat.ChainEntries(ctx, []catalog.Object{obj}, 0, func(f catalog.File) error { fs = append(fs, f); return nil }); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, f := range fs {
		end := length
		if i+1 < len(fs) {
			end = fs[i+1].Offset
		}
		if f.Offset < to && end > from {
			out = append(out, f.Path)
		}
	}
	return out
}

// Issue 8 item 6: one flipped byte in a block of a single-copy object
// costs the files of that block only: restore goes on past it, restores
// every other file, lists exactly the files lost and exits 3. After verify
// marked the copy failed, restore and cat refuse it, and --salvage reads
// it all the same.
func TestRestoreSingleCopyDamage(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 300, LargeFiles: 1, LargeSize: 1 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D3": spec}, nil)
	d3 := objectOf(t, backupJSON(t, cfg, 0), "D3")
	src := filepath.Join(dir, "data", "D3")
	bs := copyBlocks(t, dir, d3, 1)
	if len(bs) < 8 {
		t.Fatalf("copy of %d blocks: too few for the test", len(bs))
	}
	objs := lsJSON[[]catalog.Object](t, cfg, "objects", "--source", "D3")
	length := objs[0].Length
	var lost []string
	for _, k := range []int{3, len(bs)/2 + 1} {
		_, _, from, to := seqRange(t, bs[k], d3)
		lost = append(lost, expectedLost(t, dir, d3, from, to, length)...)
		flipIn(t, bs[k])
	}
	if len(lost) < 2 {
		t.Fatalf("the damaged blocks hold %d entries; the test wants more", len(lost))
	}
	check := func(rr damageResult, target string) {
		t.Helper()
		var got []string
		for _, e := range rr.LostEntries {
			got = append(got, e.Path)
		}
		// The entry before a range may have ended in it with only its
		// padding lost: then it is restored, and must be intact.
		extra := map[string]bool{}
		for _, p := range lost {
			if !slices.Contains(got, p) {
				extra[p] = true
			}
		}
		for _, p := range got {
			if !slices.Contains(lost, p) {
				t.Fatalf("lost %v, want %v: %s is not in a damaged block", got, lost, p)
			}
		}
		if len(extra) > 2 || len(rr.LostRanges) != 2 {
			t.Fatalf("lost %v in ranges %+v, want %v in 2 ranges", got, rr.LostRanges, lost)
		}
		if d := sameContent(t, src, filepath.Join(target, src), lostPaths(t, rr, src)); len(d) > 0 {
			t.Fatalf("restore past damaged blocks differs beyond the entries it lists as lost: %v", d)
		}
	}
	target := filepath.Join(t.TempDir(), "r")
	rr := damageJSON(t, ExitPartial, "-c", cfg, "restore", "--source", "D3", "--copy", "1", "--to", target)
	check(rr, target)
	code, _, errs := run(t, "-c", cfg, "restore", "--source", "D3", "--to", t.TempDir())
	if code != ExitPartial || !strings.Contains(errs, "lost "+lost[len(lost)-1]) {
		t.Fatalf("restore: exit %d, want 3 with the files lost listed: %s", code, errs)
	}
	// A restore of some files, by seeking: the damaged one is lost, the
	// others restored.
	k := slices.IndexFunc(lost[1:], func(p string) bool { fi, err := os.Lstat(p); return err == nil && fi.Mode().IsRegular() })
	if k < 0 {
		t.Fatalf("no regular file among the lost %v", lost)
	}
	file := lost[1+k]
	target = filepath.Join(t.TempDir(), "r")
	rr = damageJSON(t, ExitPartial, "-c", cfg, "restore", "--source", "D3", "--path", file, "--path", filepath.Join(src, "d00"), "--to", target)
	if len(rr.LostEntries) != 1 || rr.LostEntries[0].Path != file || rr.Chain[0].Mode != "seek" {
		t.Fatalf("restore --path: lost %+v, parts %+v, want %s lost, by seeking", rr.LostEntries, rr.Chain, file)
	}
	if d := sameContent(t, filepath.Join(src, "d00"), filepath.Join(target, src, "d00"), nil); len(d) > 0 {
		t.Fatalf("restore --path of an intact directory beside a lost file differs: %v", d)
	}

	verifyJSON(t, ExitPartial, "-c", cfg, "--source", "D3")
	code, _, errs = run(t, "-c", cfg, "restore", "--source", "D3", "--copy", "1", "--to", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "--salvage") {
		t.Fatalf("restore --copy 1 of a failed copy: exit %d, want 2 pointing at --salvage: %s", code, errs)
	}
	target = filepath.Join(t.TempDir(), "r")
	rr = damageJSON(t, ExitPartial, "-c", cfg, "restore", "--source", "D3", "--copy", "1", "--salvage", "--to", target)
	check(rr, target)
	if code, _, errs := run(t, "-c", cfg, "cat", d3, "--copy", "1"); code != ExitUsage {
		t.Fatalf("cat --copy 1 of a failed copy: exit %d, want 2: %s", code, errs)
	}
	code, out, errs := run(t, "-c", cfg, "cat", d3, "--salvage")
	if code != ExitPartial || int64(len(out)) != length || strings.Count(errs, "written as zeros") != 2 {
		t.Fatalf("cat --salvage: exit %d, %d bytes of %d: %s", code, len(out), length, errs)
	}
}

// Issue 8 item 7: a restore checks what it restored against the catalog:
// the entry count recorded, the file rows, the offsets and the hash. A
// damaged catalog fails it loudly, saying what is missing.
func TestRestoreCatalogDamage(t *testing.T) {
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": {SmallFiles: 60, LargeFiles: 1, LargeSize: 1 << 20}}, nil)
	d2 := objectOf(t, backupJSON(t, cfg, 0), "D2")
	src := filepath.Join(dir, "data", "D2")
	db, err := sql.Open("sqlite", filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	restoreFails := func(what, want string, args ...string) {
		t.Helper()
		code, out, errs := run(t, append([]string{"-c", cfg, "restore", "--source", "D2", "--to", t.TempDir()}, args...)...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Fatalf("%s: restore exit %d, want a failure saying %q\n%s%s", what, code, want, out, errs)
		}
	}
	// Baseline: all is well.
	target := filepath.Join(t.TempDir(), "r")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "D2", "--to", target); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}

	// The recorded entry count.
	exec(`UPDATE objects SET files = files + 3 WHERE id = ?`, d2)
	restoreFails("entry count changed", "the stream held")
	restoreFails("entry count changed, --path", "the catalog lists", "--path", filepath.Join(src, "d01"))
	exec(`UPDATE objects SET files = files - 3 WHERE id = ?`, d2)

	// File rows deleted: a restore of a directory would leave them out.
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM files WHERE object_id = ? AND path LIKE ?`, d2, "%/d02/%").Scan(&n); err != nil || n < 2 {
		t.Fatalf("rows under d02: %d %v", n, err)
	}
	exec(`CREATE TABLE saved AS SELECT * FROM files WHERE object_id = ? AND path LIKE ?`, d2, "%/d02/%")
	exec(`DELETE FROM files WHERE object_id = ? AND path LIKE ?`, d2, "%/d02/e1%")
	restoreFails("rows deleted, --path", "the catalog lists", "--path", filepath.Join(src, "d02"))
	exec(`DELETE FROM files WHERE object_id = ? AND path LIKE ?`, d2, "%/d02/%")
	exec(`INSERT INTO files SELECT * FROM saved`)

	// An offset moved: the entry is not where the catalog says.
	var p string
	var off int64
	if err := db.QueryRow(`SELECT path, tar_offset FROM files WHERE object_id = ? AND type = '0' AND size > 0 ORDER BY tar_offset LIMIT 1 OFFSET 5`, d2).Scan(&p, &off); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE files SET tar_offset = tar_offset + 512 WHERE object_id = ? AND path = ?`, d2, p)
	restoreFails("offset moved, seek", "not in the object as it says", "--path", p)
	restoreFails("offset moved, stream", "not in the object as it says", "--path", src)
	exec(`UPDATE files SET tar_offset = ? WHERE object_id = ? AND path = ?`, off, d2, p)

	// The hash: the stream's End record and the catalog disagree.
	exec(`UPDATE objects SET hash = 'sha256:00' || substr(hash, 10) WHERE id = ?`, d2)
	restoreFails("hash changed", "the catalog records sha256:00")
}
