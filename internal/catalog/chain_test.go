package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// chainFiles records files of object id: each "path:type" at offsets
// 0, 512, ... ('5' directory, '0' file, 'W' deletion).
func chainFiles(t *testing.T, c *Catalog, id string, specs ...string) {
	t.Helper()
	var fs []File
	for i, s := range specs {
		p, typ, _ := strings.Cut(s, ":")
		fs = append(fs, File{ObjectID: id, Path: p, Type: typ[0], Offset: int64(i) * 512})
	}
	if err := c.AddFiles(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
}

// A full F and an incremental I based on it: I changes /s/b, deletes /s/a
// and the directory /s/d with what is below it, and adds /s/c. The tree
// of the chain is F's entries laid under I's, the deleted paths gone; a
// restore extracts from each object only what is its own in it.
func TestChainTree(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	f, i := objectID(1), objectID(2)
	now := time.Now()
	if err := c.AddObject(ctx, Object{ID: f, Source: "s", Client: "x", Level: "full", Started: now}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddObject(ctx, Object{ID: i, Source: "s", Client: "x", Level: "incremental", Base: f, Started: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	chainFiles(t, c, f, "/s:5", "/s/a:0", "/s/b:0", "/s/d:5", "/s/d/x:0", "/s/e:0")
	chainFiles(t, c, i, "/s:5", "/s/b:0", "/s/c:0", "/s/a:W", "/s/d:W", "/s/d/x:W")
	io, err := c.Object(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.Chain(ctx, io)
	if err != nil || len(chain) != 2 || chain[0].ID != f || chain[1].ID != i {
		t.Fatalf("chain %v, %v: want F, I", chain, err)
	}
	kids, err := c.TreeChildren(ctx, chain, "/s")
	if err != nil || paths(kids) != "/s/b /s/c /s/e" {
		t.Fatalf("children of /s: %q, %v", paths(kids), err)
	}
	for _, k := range kids {
		if k.Path == "/s/b" && k.ObjectID != i {
			t.Fatalf("/s/b comes from %s, want the incremental", k.ObjectID)
		}
	}
	under, err := c.TreeUnder(ctx, chain, "/s")
	if err != nil || paths(under) != "/s /s/b /s/c /s/e" {
		t.Fatalf("under /s: %q, %v", paths(under), err)
	}
	walk := func(dir string) string {
		var out []File
		if err := c.WalkTree(ctx, chain, dir, func(f File) error { out = append(out, f); return nil }); err != nil {
			t.Fatal(err)
		}
		return paths(out)
	}
	for _, dir := range []string{"", "/s", "/s/"} {
		if got := walk(dir); got != "/s /s/b /s/c /s/e" {
			t.Fatalf("walk of %q: %q, want /s /s/b /s/c /s/e", dir, got)
		}
	}
	if got := walk("/s/d"); got != "" {
		t.Fatalf("walk of the deleted /s/d: %q, want nothing", got)
	}
	roots, err := c.TreeRoots(ctx, chain)
	if err != nil || paths(roots) != "/s" {
		t.Fatalf("roots: %q, %v", paths(roots), err)
	}
	if _, err := c.TreeFile(ctx, chain, "/s/d/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted /s/d/x: %v, want ErrNotFound", err)
	}
	if got, err := c.TreeFile(ctx, chain, "/s/e"); err != nil || got.ObjectID != f {
		t.Fatalf("/s/e: %+v, %v: want the full's entry", got, err)
	}
	own := func(k int) string {
		var out []string
		err := c.ChainEntries(ctx, chain, k, func(f File) error { out = append(out, f.Path); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, " ")
	}
	if got := own(0); got != "/s/e" {
		t.Fatalf("entries of the full a restore takes: %q, want /s/e", got)
	}
	if got := own(1); got != "/s /s/b /s/c" {
		t.Fatalf("entries of the incremental a restore takes: %q, want /s /s/b /s/c", got)
	}
	// A base missing from the catalog is an error naming it.
	if err := c.DeleteObject(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chain(ctx, io); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), f) {
		t.Fatalf("chain without its full: %v", err)
	}
}
