package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
	"daisy/internal/volume"
)

// objectOf returns the object ID of a source in a backup result.
func objectOf(t *testing.T, res jobs.BackupResult, source string) string {
	t.Helper()
	for _, o := range res.Objects {
		if o.Source == source {
			return o.Object
		}
	}
	t.Fatalf("no object of %s in the backup result", source)
	return ""
}

// damageCopy flips one byte in the middle of the first extent of a copy
// and returns the volume and the block.
func damageCopy(t *testing.T, dir, object string, copyN int) (catalog.Volume, int64) {
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
	// The middle of the longest extent: inside the object's data, not in
	// the block with its Begin record.
	long := longestExtent(t, exts, 1)
	v, err := cat.Volume(ctx, long.VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	block := (long.FirstBlock + long.LastBlock + 1) / 2
	flipByte(t, v.Path, block*int64(v.BlockSize)+4096)
	return v, block
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	xorByte(t, path, off, 0xff)
}

// xorByte changes the byte at off of a file by XOR with mask.
func xorByte(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func verifyJSON(t *testing.T, wantCode int, args ...string) jobs.VerifyResult {
	t.Helper()
	code, out, errs := run(t, append([]string{"--json", "verify"}, args...)...)
	if code != wantCode {
		t.Fatalf("verify %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errs)
	}
	var res jobs.VerifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	return res
}

func lsCopies(t *testing.T, cfg string) []catalog.Copy {
	t.Helper()
	code, out, errs := run(t, "-c", cfg, "--json", "ls", "copies")
	if code != 0 {
		t.Fatalf("ls copies: exit %d: %s", code, errs)
	}
	var cps []catalog.Copy
	if err := json.Unmarshal([]byte(out), &cps); err != nil {
		t.Fatalf("ls copies --json: %v\n%s", err, out)
	}
	return cps
}

func findCopy(t *testing.T, cps []catalog.Copy, object string, n int) catalog.Copy {
	t.Helper()
	for _, c := range cps {
		if c.ObjectID == object && c.Number == n {
			return c
		}
	}
	t.Fatalf("no copy %d of %s in %+v", n, object, cps)
	return catalog.Copy{}
}

// verify reads every copy back; a damaged block is reported with the
// object, copy, volume, block and byte range, and the copy is marked failed
// so that restores use the next one; once the damage is repaired, verify
// marks it good again; --volume and --pool select copies; a missing volume
// file makes its copies unavailable, not damaged, and once it is back they
// verify.
func TestVerify(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 100, LargeFiles: 2, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, nil)
	backup := backupJSON(t, cfg, 0)
	d2 := objectOf(t, backup, "D2")

	// Everything verifies.
	res := verifyJSON(t, 0, "-c", cfg)
	if len(res.Copies) != 10 || res.OK != 10 || res.Damaged != 0 || res.State != jobs.JobSuccess {
		t.Fatalf("verify of a fresh backup: %d copies, %d ok, %d damaged, state %s", len(res.Copies), res.OK, res.Damaged, res.State)
	}
	for _, c := range res.Copies {
		if c.State != jobs.VerifyOK || c.Bytes <= 0 || c.BytesRead < c.Bytes {
			t.Fatalf("copy %+v", c)
		}
	}
	// Selections.
	if r := verifyJSON(t, 0, "-c", cfg, "--source", "D4"); len(r.Copies) != 2 {
		t.Fatalf("verify --source D4 read %d copies, want 2", len(r.Copies))
	}
	if r := verifyJSON(t, 0, "-c", cfg, "--object", d2[:13]); len(r.Copies) != 3 {
		t.Fatalf("verify --object D2 read %d copies, want 3", len(r.Copies))
	}
	if r := verifyJSON(t, 0, "-c", cfg, "--pool", "copy3"); len(r.Copies) != 2 {
		t.Fatalf("verify --pool copy3 read %d copies, want 2 (D1 and D2)", len(r.Copies))
	}
	if code, _, errs := run(t, "-c", cfg, "verify", "--volume", "no-such-volume"); code != ExitUsage {
		t.Fatalf("verify of an unknown volume: exit %d, %s", code, errs)
	}

	vol, block := damageCopy(t, dir, d2, 1)

	// --no-mark reports, and changes nothing.
	res = verifyJSON(t, ExitPartial, "-c", cfg, "--no-mark")
	if res.Damaged != 1 || res.OK != 9 {
		t.Fatalf("verify after damage: %d ok, %d damaged", res.OK, res.Damaged)
	}
	var bad jobs.CopyVerify
	for _, c := range res.Copies {
		if c.State == jobs.VerifyDamaged {
			bad = c
		}
	}
	if bad.Object != d2 || bad.Copy != 1 || bad.Source != "D2" || bad.Marked || len(bad.Damage) != 1 {
		t.Fatalf("damaged copy %+v: want D2 copy 1, not marked, one damage", bad)
	}
	d := bad.Damage[0]
	if d.Volume != vol.Label || len(d.Blocks) != 1 || d.Blocks[0] != block || d.ToUnknown() || d.To <= d.From || d.To-d.From > uint64(vol.BlockSize) {
		t.Fatalf("damage %+v: want volume %s, block %d and a known range of at most one block", d, vol.Label, block)
	}
	if c := findCopy(t, lsCopies(t, cfg), d2, 1); c.State != jobs.CopyGood {
		t.Fatalf("--no-mark changed copy 1 to %s", c.State)
	}
	code, _, errs := run(t, "-c", cfg, "restore", "--source", "D2", "--to", t.TempDir())
	if code != 0 || !strings.Contains(errs, "fell back") {
		t.Fatalf("restore with fallback: exit %d, %q", code, errs)
	}

	// Without --no-mark the copy is marked failed, with the reason.
	code, out, errs := run(t, "-c", cfg, "verify")
	if code != ExitPartial {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
	want := []string{"DAMAGED D2 copy 1 of " + d2, fmt.Sprintf("volume %s block %d: ", vol.Label, block),
		fmt.Sprintf("(bytes %d..%d)", d.From, d.To), "copy 1 marked failed", "1 damaged"}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("verify output lacks %q:\n%s", w, out)
		}
	}
	c1 := findCopy(t, lsCopies(t, cfg), d2, 1)
	if c1.State != jobs.CopyFailed || !strings.HasPrefix(c1.Error, "verify: volume "+vol.Label) || !strings.Contains(c1.Error, fmt.Sprint(d.From)) {
		t.Fatalf("copy 1 after verify: %s %q", c1.State, c1.Error)
	}
	target := filepath.Join(t.TempDir(), "r")
	code, out, errs = run(t, "-c", cfg, "restore", "--source", "D2", "--to", target)
	if code != 0 || !strings.Contains(out, "from copy 2") {
		t.Fatalf("restore after verify: exit %d, %s%s", code, out, errs)
	}
	orig := filepath.Join(dir, "data", "D2")
	if diffs, err := testtree.Compare(orig, filepath.Join(target, orig)); err != nil || len(diffs) > 0 {
		t.Fatalf("restore after verify differs: %v %v", err, diffs)
	}
	// The failed copy is read again: still damaged, it stays failed.
	res = verifyJSON(t, ExitPartial, "-c", cfg)
	if res.OK != 9 || res.Damaged != 1 || len(res.Skipped) != 0 || res.Revived != 0 {
		t.Fatalf("verify after marking: %d ok, %d damaged, %d marked good, skipped %+v", res.OK, res.Damaged, res.Revived, res.Skipped)
	}
	for _, c := range res.Copies {
		if c.Object == d2 && c.Copy == 1 && (c.State != jobs.VerifyDamaged || c.Marked || c.Catalog != jobs.CopyFailed) {
			t.Fatalf("failed copy read again: %+v", c)
		}
	}
	if c := findCopy(t, lsCopies(t, cfg), d2, 1); c.State != jobs.CopyFailed {
		t.Fatalf("copy 1 still damaged is %s", c.State)
	}
	// Repaired (the byte flipped back), it verifies clean and is good
	// again.
	flipByte(t, vol.Path, block*int64(vol.BlockSize)+4096)
	code, out, errs = run(t, "-c", cfg, "verify", "--object", d2)
	if code != 0 {
		t.Fatalf("verify of the repaired copy: exit %d\n%s%s", code, out, errs)
	}
	for _, w := range []string{"ok      D2 copy 1 of " + d2, "copy 1 was failed (verify: volume " + vol.Label, "it verifies clean now: marked good again", "1 marked good again"} {
		if !strings.Contains(out, w) {
			t.Fatalf("verify output lacks %q:\n%s", w, out)
		}
	}
	if c := findCopy(t, lsCopies(t, cfg), d2, 1); c.State != jobs.CopyGood || c.Error != "" {
		t.Fatalf("repaired copy 1: %s %q, want good", c.State, c.Error)
	}
	if r := verifyJSON(t, 0, "-c", cfg); r.OK != 10 || r.Revived != 0 {
		t.Fatalf("verify after the repair: %d ok, %d marked good", r.OK, r.Revived)
	}
	// A volume without damage verifies.
	if r := verifyJSON(t, 0, "-c", cfg, "--volume", "copy2-0001"); len(r.Copies) == 0 || r.OK != len(r.Copies) {
		t.Fatalf("verify --volume copy2-0001: %d copies, %d ok", len(r.Copies), r.OK)
	}

	// A missing volume file is not damage: its copies are unavailable and
	// stay good. (Copies 3 of D1 and D2 are written by two devices at
	// once: they share volume copy3-0001 or not, depending on timing.)
	onIt := map[string]bool{}
	for _, c := range verifyJSON(t, 0, "-c", cfg, "--volume", "copy3-0001").Copies {
		onIt[c.Object] = true
	}
	volFile := filepath.Join(dir, "state", "volumes", "copy3", "copy3-0001.vtape")
	aside := filepath.Join(dir, "copy3-0001.vtape.aside")
	if err := os.Rename(volFile, aside); err != nil {
		t.Fatal(err)
	}
	res = verifyJSON(t, ExitFailure, "-c", cfg, "--pool", "copy3")
	if len(res.Copies) != 2 || res.Unavailable != len(onIt) || res.Damaged != 0 || res.OK != 2-len(onIt) || res.State != jobs.JobPartial {
		t.Fatalf("verify of a missing volume holding %d copies: %+v", len(onIt), res)
	}
	for _, c := range res.Copies {
		if c.State == jobs.VerifyOK && !onIt[c.Object] {
			continue
		}
		if c.State != jobs.VerifyUnavailable || c.Marked || len(c.Damage) != 0 || len(c.Unavailable) != 1 {
			t.Fatalf("copy %d of %s on the missing volume: %+v", c.Copy, c.Source, c)
		}
		if u := c.Unavailable[0]; !strings.Contains(u.Error, "unavailable") || !strings.Contains(u.Error, "is missing") ||
			u.Volume != "copy3-0001" || u.From != 0 || u.To != volume.EndUnknown {
			t.Fatalf("copy %d of %s: unavailable %+v", c.Copy, c.Source, u)
		}
		if cp := findCopy(t, lsCopies(t, cfg), c.Object, c.Copy); cp.State != jobs.CopyGood {
			t.Fatalf("copy %d of %s on the missing volume became %s", c.Copy, c.Source, cp.State)
		}
	}
	code, out, errs = run(t, "-c", cfg, "verify", "--pool", "copy3")
	if code != ExitFailure || !strings.Contains(out, "UNAVAILABLE") || !strings.Contains(out, "verify it again once the volume is back") ||
		!strings.Contains(errs, "volume unavailable") {
		t.Fatalf("verify of a missing volume: exit %d\n%s%s", code, out, errs)
	}
	// Back in place, the volume is read and its copies verify.
	if err := os.Rename(aside, volFile); err != nil {
		t.Fatal(err)
	}
	res = verifyJSON(t, 0, "-c", cfg, "--pool", "copy3")
	if len(res.Copies) != 2 || res.OK != 2 || res.Unavailable != 0 {
		t.Fatalf("verify with the volume back: %+v", res)
	}
	for _, c := range res.Copies {
		if onIt[c.Object] && (c.BytesRead == 0 || c.Volumes[0] != "copy3-0001") {
			t.Fatalf("verify with the volume back did not read it: %+v", c)
		}
	}
	// A volume file cut short (at a block boundary) in the middle of a
	// copy: the rest of the copy is lost, to an unknown end.
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	exts, err := cat.Extents(ctx, d2, 2)
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents of D2 copy 2: %v %v", exts, err)
	}
	// The middle of the longest extent: past the object's first blocks,
	// however the media agent happened to cut the runs.
	long := longestExtent(t, exts, 3)
	v2, err := cat.Volume(ctx, long.VolumeID)
	cat.Close()
	if err != nil {
		t.Fatal(err)
	}
	cut := (long.FirstBlock+long.LastBlock)/2 + 1
	if err := os.Truncate(v2.Path, cut*int64(v2.BlockSize)); err != nil {
		t.Fatal(err)
	}
	res = verifyJSON(t, ExitPartial, "-c", cfg, "--object", d2, "--no-mark")
	var c2 *jobs.CopyVerify
	for i := range res.Copies {
		if res.Copies[i].Copy == 2 {
			c2 = &res.Copies[i]
		}
	}
	if c2 == nil || c2.State != jobs.VerifyDamaged || len(c2.Damage) != 1 {
		t.Fatalf("verify of a cut volume: %+v", res.Copies)
	}
	if d := c2.Damage[0]; d.Volume != v2.Label || !d.ToUnknown() || d.From == 0 || !strings.Contains(d.Error, fmt.Sprintf("ends before block %d", cut)) {
		t.Fatalf("damage of the cut copy: %+v", d)
	}
}

// A copy that failed while it was being written is never made good by
// verify: it is not read, and even with a reason that reads like verify's
// it has no extents (it was never complete), so it stays failed.
func TestVerifyLeavesWriteFailuresFailed(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 50, LargeFiles: 1, LargeSize: 6 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, injectFault(t, "R5", 3<<20))
	d2 := objectOf(t, backupJSON(t, cfg, ExitPartial), "D2")
	if c := findCopy(t, lsCopies(t, cfg), d2, 2); c.State != jobs.CopyFailed {
		t.Fatalf("D2 copy 2 (device R5 failed) is %s", c.State)
	}
	res := verifyJSON(t, 0, "-c", cfg, "--object", d2)
	if len(res.Copies) != 2 || res.OK != 2 || len(res.Skipped) != 1 || res.Skipped[0].Copy != 2 || !strings.HasPrefix(res.Skipped[0].Reason, "copy failed: ") {
		t.Fatalf("verify of D2 with a copy failed while written: %+v", res)
	}

	ctx := context.Background()
	cat := openCatalog(t, dir)
	if err := cat.FailCopy(ctx, d2, 2, jobs.VerifyReasonPrefix+"volume copy2-0001: looks like a verify failure"); err != nil {
		t.Fatal(err)
	}
	cat.Close()
	res = verifyJSON(t, ExitPartial, "-c", cfg, "--object", d2)
	for _, c := range res.Copies {
		if c.Copy == 2 && (c.State != jobs.VerifyDamaged || c.Revived) {
			t.Fatalf("never complete copy 2: %+v", c)
		}
	}
	if c := findCopy(t, lsCopies(t, cfg), d2, 2); c.State != jobs.CopyFailed {
		t.Fatalf("never complete copy 2 became %s", c.State)
	}
}
