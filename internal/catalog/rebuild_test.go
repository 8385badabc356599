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
