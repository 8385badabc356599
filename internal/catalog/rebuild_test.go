package catalog

import (
	"context"
	"errors"
	"testing"
)

func TestCountsAndSetObjectFiles(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	n, err := c.Counts(ctx)
	if err != nil || n != (Counts{}) {
		t.Fatalf("Counts of a new catalog: %+v %v", n, err)
	}
	id := objectID(1)
	addObject(t, c, id, 100)
	addVolumes(t, c, "v1", "v2")
	addCopy(t, c, id, 1)
	addCopy(t, c, id, 2)
	n, err = c.Counts(ctx)
	if err != nil || n != (Counts{Objects: 1, Copies: 2, Volumes: 2}) {
		t.Fatalf("Counts: %+v %v", n, err)
	}
	// Complete already: SetObjectFiles still sets the count.
	if err := c.SetObjectFiles(ctx, id, 42); err != nil {
		t.Fatal(err)
	}
	o, err := c.Object(ctx, id)
	if err != nil || o.Files != 42 || o.State != ObjectComplete || o.Length != 100 {
		t.Fatalf("object after SetObjectFiles: %+v %v", o, err)
	}
	if err := c.SetObjectFiles(ctx, objectID(2), 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetObjectFiles of a missing object: %v", err)
	}
	if err := c.SetObjectFiles(ctx, id, -1); err == nil {
		t.Fatal("SetObjectFiles accepted a negative count")
	}
}

func TestDeleteFiles(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	a, b := objectID(1), objectID(2)
	addObject(t, c, a, 100)
	addObject(t, c, b, 100)
	chainFiles(t, c, a, "/s:5", "/s/x:0")
	chainFiles(t, c, b, "/s:5")
	if err := c.DeleteFiles(ctx, a); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{a: false, b: true} {
		if has, err := c.HasFiles(ctx, id); err != nil || has != want {
			t.Fatalf("HasFiles(%s) = %v, %v after deleting the files of %s; want %v", id, has, err, a, want)
		}
	}
}
