package catalog

import (
	"context"
	"testing"
)

// A copy that verify failed and that now reads back clean becomes good
// again; one that failed while it was being written (no extents), one that
// failed for another reason, and one that is good stay as they are.
func TestReviveCopy(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	id := objectID(1)
	addObject(t, c, id, 1000)
	addVolumes(t, c, "v1")
	for n := 1; n <= 4; n++ {
		addCopy(t, c, id, n)
	}
	ext := []Extent{{VolumeID: "v1", FirstBlock: 1, LastBlock: 2, EndOffset: 1000, Records: 2, Bytes: 1000}}
	for _, n := range []int{1, 3, 4} {
		if err := c.CommitCopy(ctx, id, n, ext); err != nil {
			t.Fatalf("CommitCopy %d: %v", n, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.FailCopy(ctx, id, 1, "verify: volume L-v1 block 2: damaged block"))
	must(c.FailCopy(ctx, id, 2, "verify: written while the device failed")) // never committed
	must(c.FailCopy(ctx, id, 3, "files: the file list could not be recorded"))

	if err := c.ReviveCopy(ctx, id, 1, "verify: "); err != nil {
		t.Fatalf("ReviveCopy of a copy failed by verify: %v", err)
	}
	if st, n := copyState(t, c, id, 1); st != CopyGood || n != 1 {
		t.Fatalf("revived copy: %s with %d extents", st, n)
	}
	if cp, _ := c.Copy(ctx, id, 1); cp.Error != "" {
		t.Fatalf("revived copy keeps its error %q", cp.Error)
	}
	for _, n := range []int{2, 3, 4} {
		before, _ := copyState(t, c, id, n)
		if err := c.ReviveCopy(ctx, id, n, "verify: "); err == nil {
			t.Fatalf("ReviveCopy of copy %d (%s) succeeded", n, before)
		}
		if st, _ := copyState(t, c, id, n); st != before {
			t.Fatalf("refused ReviveCopy changed copy %d from %s to %s", n, before, st)
		}
	}
	if err := c.ReviveCopy(ctx, id, 9, "verify: "); err == nil {
		t.Fatal("ReviveCopy of a missing copy succeeded")
	}
}
