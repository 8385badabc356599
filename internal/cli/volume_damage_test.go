package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// volumeFile returns the catalog's record of the volume labelled label.
func volumeFile(t *testing.T, dir, label string) catalog.Volume {
	t.Helper()
	v, err := openCatalog(t, dir).Volume(context.Background(), label)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Issue 8 item 6: one flipped bit in a label block does not make the
// volume unreadable: scan, verify and restore read it from its block
// headers and report the label damage (exit 3 where they report damage).
// So does a label block wiped out (label name and pool then unknown).
func TestLabelBlockDamage(t *testing.T) {
	dir, cfg := figure2(t, nil, nil)
	backupJSON(t, cfg, 0)
	label := volumeOf(t, dir, "D1", 1)
	v := volumeFile(t, dir, label)
	onIt := 0
	for _, c := range verifyJSON(t, 0, "-c", cfg, "--volume", label).Copies {
		if c.State == jobs.VerifyOK {
			onIt++
		}
	}

	check := func(what, scanWant string) {
		t.Helper()
		code, out, errs := run(t, "scan", v.Path)
		if code != ExitPartial || !strings.Contains(out, "DAMAGE block 0: ") || !strings.Contains(out, "label block damaged") ||
			!strings.Contains(out, scanWant) || !strings.Contains(out, "(D1) copy 1") || strings.Contains(out, "LOST") {
			t.Fatalf("%s: scan: exit %d\n%s%s", what, code, out, errs)
		}
		res := verifyJSON(t, ExitPartial, "-c", cfg, "--volume", label)
		if res.Damaged != 0 || res.OK != onIt || len(res.Copies) != onIt || len(res.VolumeDamage) != 1 ||
			res.VolumeDamage[0].Volume != label || res.VolumeDamage[0].Block != 0 || !strings.Contains(res.VolumeDamage[0].Error, "label block damaged") {
			t.Fatalf("%s: verify: %d ok of %d, %d damaged, volume damage %+v", what, res.OK, len(res.Copies), res.Damaged, res.VolumeDamage)
		}
		for _, c := range lsCopies(t, cfg) {
			if c.State != jobs.CopyGood {
				t.Fatalf("%s: copy %d of %s is %s after verify", what, c.Number, c.ObjectID, c.State)
			}
		}
		code, out, errs = run(t, "-c", cfg, "verify", "--volume", label)
		if code != ExitPartial || !strings.Contains(out, "DAMAGED volume "+label+" block 0") || !strings.Contains(out, "daisy refresh "+label) {
			t.Fatalf("%s: verify: exit %d\n%s%s", what, code, out, errs)
		}
		restoreAndCompare(t, dir, cfg, "D1", 1)
	}

	// One bit of the label's JSON.
	flipBit(t, v.Path, 64+30, 2)
	check("one flipped bit", "repaired: one flipped bit")
	// The block size field of the header.
	flipBit(t, v.Path, 64+30, 2)
	flipBit(t, v.Path, 42, 0)
	check("block size bit", "repaired: one flipped bit")
	// The whole label block wiped.
	f, err := os.OpenFile(v.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, v.BlockSize), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	check("label wiped", "label name and pool are unknown")

	// A catalog rebuilt from the volumes names the volume after its file,
	// in the pool of its directory, and says so.
	res := rebuildJSON(t, cfg, ExitPartial, "--force")
	found := false
	for _, p := range res.Problems {
		found = found || (strings.Contains(p, v.Path) && strings.Contains(p, "damaged beyond repair") && strings.Contains(p, "named "+label+", in pool "+v.Pool))
	}
	if !found {
		t.Fatalf("rebuild problems %q: want the volume named after its file", res.Problems)
	}
	if got := volumeFile(t, dir, label); got.ID != v.ID || got.Pool != v.Pool {
		t.Fatalf("rebuilt volume %+v, want %+v", got, v)
	}
	restoreAndCompare(t, dir, cfg, "D1", 1)
}

func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	xorByte(t, path, off, 1<<bit)
}

// Issue 8 item 6: a volume file cut at a block boundary, in the middle of
// a session, has no damaged block, but scan reports the truncation, and
// that the objects cut do not continue on another volume.
func TestScanTruncatedVolume(t *testing.T) {
	spec := testtree.Spec{SmallFiles: 50, LargeFiles: 1, LargeSize: 4 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D2": spec}, nil)
	backupJSON(t, cfg, 0)
	label := volumeOf(t, dir, "D2", 1)
	v := volumeFile(t, dir, label)
	if code, out, errs := run(t, "scan", v.Path); code != 0 || !strings.Contains(out, "no damage") || strings.Contains(out, "TRUNCATED") {
		t.Fatalf("scan of the whole volume: exit %d\n%s%s", code, out, errs)
	}
	st, err := os.Stat(v.Path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := st.Size() / int64(v.BlockSize)
	cut := blocks / 2
	if err := os.Truncate(v.Path, cut*int64(v.BlockSize)); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "scan", v.Path)
	if code != ExitPartial || !strings.Contains(out, "TRUNCATED: the volume ends inside session") || !strings.Contains(out, "CUT SHORT") ||
		strings.Contains(out, "continues on") || strings.Contains(out, "no damage") || !strings.Contains(out, fmt.Sprintf("%d valid blocks", cut)) {
		t.Fatalf("scan of the volume cut at block %d of %d: exit %d\n%s%s", cut, blocks, code, out, errs)
	}
	// Extended to 1 GiB by a hole: one damaged run, not read.
	const big = 1 << 30
	if err := os.Truncate(v.Path, big); err != nil {
		t.Fatal(err)
	}
	last := big/int64(v.BlockSize) - 1
	code, out, errs = run(t, "scan", v.Path)
	if code != ExitPartial || !strings.Contains(out, fmt.Sprintf("DAMAGE blocks %d..%d: ", cut, last)) || !strings.Contains(out, "a hole in the volume file") {
		t.Fatalf("scan of the volume with a hole to 1 GiB: exit %d\n%s%s", code, out, errs)
	}
}
