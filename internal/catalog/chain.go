package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Restore chains. A full backup records every entry of its source; an
// incremental or differential records only the entries that changed since
// its base (new, modified, or with new metadata) and a deletion entry (type
// TypeDeleted) for each path of the base's tree that is gone. The tree of a
// source at the time of an object is therefore read through its chain, the
// full first and the object last: for each path, the newest object of the
// chain that records it says what the path is, and a deletion there means it
// is not in the tree. A directory that vanished gets a deletion entry for
// itself and for every path below it, so no entry hides another path than
// its own.

// TypeDeleted is the type of a deletion entry: the path was in the base's
// tree and is not in this object's. It is not a tar type flag.
const TypeDeleted byte = 'W'

// maxChain bounds a chain walk, so that a catalog whose Base links loop
// cannot hang it.
const maxChain = 10000

// Chain returns the restore chain that ends with o, oldest first: the full
// backup its Base links lead to, then each object based on the one before,
// then o. Every object of the chain must be in the catalog; a missing base
// is an error that names it.
func (c *Catalog) Chain(ctx context.Context, o Object) ([]Object, error) {
	chain := []Object{o}
	for cur := o; cur.Base != ""; {
		if len(chain) >= maxChain {
			return nil, fmt.Errorf("catalog: chain of %s: more than %d objects (do the base links loop?)", o.ID, maxChain)
		}
		b, err := c.Object(ctx, cur.Base)
		if err != nil {
			return nil, fmt.Errorf("catalog: chain of %s: base %s of %s %s: %w", o.ID, cur.Base, cur.Level, cur.ID, err)
		}
		chain = append(chain, b)
		cur = b
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// pathKey is the path a merge compares: stored paths of directories may
// carry a trailing slash.
func pathKey(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return p
}

// mergeNewest merges the per-object lists (ordered as the chain, each
// sorted by path): for each path, the entry of the newest object, left out
// when that is a deletion. The result is sorted by path.
func mergeNewest(lists [][]File) []File {
	newest := map[string]int{} // path → index into all
	var all []File
	for _, l := range lists {
		for _, f := range l {
			k := pathKey(f.Path)
			if i, ok := newest[k]; ok {
				all[i] = f
				continue
			}
			newest[k] = len(all)
			all = append(all, f)
		}
	}
	out := all[:0]
	for _, f := range all {
		if f.Type != TypeDeleted {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// TreeChildren lists the direct children of dir in the tree the chain
// holds, ordered by path (see Files for how dir is written). It costs one
// Files listing per object of the chain.
func (c *Catalog) TreeChildren(ctx context.Context, chain []Object, dir string) ([]File, error) {
	return mergeChain(chain, func(id string) ([]File, error) { return c.Files(ctx, id, dir) })
}

// mergeChain lists the entries of each object of the chain with list (an
// object without any counts as empty) and merges them with mergeNewest.
func mergeChain(chain []Object, list func(objectID string) ([]File, error)) ([]File, error) {
	lists := make([][]File, 0, len(chain))
	for _, o := range chain {
		fl, err := list(o.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		lists = append(lists, fl)
	}
	return mergeNewest(lists), nil
}

// TreeRoots lists the top of the tree the chain holds: the entries that
// are not below another entry (see Roots), ordered by path.
func (c *Catalog) TreeRoots(ctx context.Context, chain []Object) ([]File, error) {
	merged, err := mergeChain(chain, func(id string) ([]File, error) { return c.Roots(ctx, id) })
	if err != nil {
		return nil, err
	}
	var out []File
	var dirs []string
	for _, f := range merged {
		below := false
		for _, d := range dirs {
			if strings.HasPrefix(f.Path, d) {
				below = true
				break
			}
		}
		if !below {
			out = append(out, f)
			dirs = append(dirs, pathKey(f.Path)+"/")
		}
	}
	return out, nil
}

// TreeUnder lists dir itself (if in the tree) and everything below it in
// the tree the chain holds, ordered by path.
func (c *Catalog) TreeUnder(ctx context.Context, chain []Object, dir string) ([]File, error) {
	return mergeChain(chain, func(id string) ([]File, error) { return c.FilesUnder(ctx, id, dir) })
}

// WalkTree calls fn for dir itself (if in the tree) and everything below
// it in the tree the chain holds, the whole tree from its roots for dir
// "". It reads the tree directory by directory (TreeChildren), each
// directory's entries in path order, each followed by what is below it,
// so memory grows with the largest directory and the depth, not with the
// tree (TreeUnder holds the whole subtree). An error of fn ends the walk
// and is returned as is.
func (c *Catalog) WalkTree(ctx context.Context, chain []Object, dir string, fn func(File) error) error {
	if dir == "" {
		roots, err := c.TreeRoots(ctx, chain)
		if err != nil {
			return err
		}
		for _, f := range roots {
			if err := c.walkEntry(ctx, chain, f, fn); err != nil {
				return err
			}
		}
		return nil
	}
	f, err := c.TreeFile(ctx, chain, dir)
	switch {
	case err == nil:
		return c.walkEntry(ctx, chain, f, fn)
	case errors.Is(err, ErrNotFound):
		// Not an entry of its own (a directory above the source's
		// paths): what is below it.
		return c.walkBelow(ctx, chain, dir, fn)
	}
	return err
}

// walkEntry gives f to fn and walks what is below it when it is a
// directory.
func (c *Catalog) walkEntry(ctx context.Context, chain []Object, f File, fn func(File) error) error {
	if err := fn(f); err != nil {
		return err
	}
	if f.Type != '5' {
		return nil
	}
	return c.walkBelow(ctx, chain, pathKey(f.Path), fn)
}

func (c *Catalog) walkBelow(ctx context.Context, chain []Object, dir string, fn func(File) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	kids, err := c.TreeChildren(ctx, chain, dir)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := c.walkEntry(ctx, chain, k, fn); err != nil {
			return err
		}
	}
	return nil
}

// TreeFile returns the entry of path p in the tree the chain holds, or
// ErrNotFound when the tree does not have it (never recorded, or deleted).
func (c *Catalog) TreeFile(ctx context.Context, chain []Object, p string) (File, error) {
	for i := len(chain) - 1; i >= 0; i-- {
		for _, q := range []string{p, pathKey(p), pathKey(p) + "/"} {
			f, err := c.File(ctx, chain[i].ID, q)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return File{}, err
			}
			if f.Type == TypeDeleted {
				return File{}, fmt.Errorf("catalog: %s was deleted by %s %s: %w", p, chain[i].Level, chain[i].ID, ErrNotFound)
			}
			return f, nil
		}
	}
	return File{}, fmt.Errorf("catalog: %s is not in the chain of %s: %w", p, chain[len(chain)-1].ID, ErrNotFound)
}

// HasFiles reports whether the catalog holds any file entry of an object.
func (c *Catalog) HasFiles(ctx context.Context, objectID string) (bool, error) {
	var n int
	if err := c.r.QueryRowContext(ctx, sqlHasFiles, objectID).Scan(&n); err != nil {
		return false, fmt.Errorf("catalog: files of %s: %w", objectID, err)
	}
	return n > 0, nil
}

// ChainEntries calls fn, in stream order (tar offset), for each entry of
// chain[i] that is part of the tree the whole chain holds: entries that no
// newer object of the chain records again, deletions left out. A restore of
// the chain reads each object once and extracts exactly these entries.
func (c *Catalog) ChainEntries(ctx context.Context, chain []Object, i int, fn func(File) error) error {
	if i < 0 || i >= len(chain) {
		return fmt.Errorf("catalog: chain entries: object %d of a chain of %d", i, len(chain))
	}
	return c.chainEntries(ctx, chain, i, sqlChainEntries(len(chain)-i-1), []any{chain[i].ID}, fn)
}

// ChainEntriesWithPrefix is ChainEntries for the paths that start with
// prefix only: it reads that range of the object's files, not all of them.
func (c *Catalog) ChainEntriesWithPrefix(ctx context.Context, chain []Object, i int, prefix string, fn func(File) error) error {
	if i < 0 || i >= len(chain) {
		return fmt.Errorf("catalog: chain entries: object %d of a chain of %d", i, len(chain))
	}
	upper, ok := prefixEnd(prefix)
	if prefix == "" || !ok {
		return c.ChainEntries(ctx, chain, i, fn)
	}
	q := sqlChainEntriesHead + ` AND f.path >= ? AND f.path < ?`
	if newer := len(chain) - i - 1; newer > 0 {
		q += sqlChainEntriesNewer + strings.Repeat("?, ", newer-1) + "?))"
	}
	return c.chainEntries(ctx, chain, i, q+sqlChainEntriesOrder, []any{chain[i].ID, prefix, upper}, fn)
}

// chainEntries runs a chain entries query: args, then the IDs of the
// objects newer than chain[i].
func (c *Catalog) chainEntries(ctx context.Context, chain []Object, i int, q string, args []any, fn func(File) error) error {
	for _, o := range chain[i+1:] {
		args = append(args, o.ID)
	}
	rows, err := c.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("catalog: entries of %s in its chain: %w", chain[i].ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return fmt.Errorf("catalog: entries of %s in its chain: %w", chain[i].ID, err)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catalog: entries of %s in its chain: %w", chain[i].ID, err)
	}
	return nil
}
