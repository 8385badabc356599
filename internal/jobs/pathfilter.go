package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"daisy/internal/catalog"
)

// pathFilter selects what a restore --path restores. A pattern is an
// absolute path as backed up ("/home/ann/notes.txt"; a leading "/" is
// added when missing) or a shell pattern over whole paths, where "*" does
// not cross a "/" ("/home/*/notes.txt"). An entry is selected when it or a
// directory above it matches: a directory brings its whole subtree.
type pathFilter struct {
	patterns []string
	// visited counts the catalog entries the selection looked at, for
	// the test that it does not grow with the chain's entries.
	visited int64
}

func newPathFilter(patterns []string) (*pathFilter, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	f := &pathFilter{}
	for _, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("%w: --path: empty pattern", ErrUsage)
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if p != "/" {
			p = strings.TrimRight(p, "/")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%w: --path %q: %v", ErrUsage, p, err)
		}
		f.patterns = append(f.patterns, p)
	}
	return f, nil
}

// match reports whether p (a stored path without trailing slash) or one of
// the directories above it matches a pattern.
func (f *pathFilter) match(p string) bool {
	for q := p; ; {
		for _, pat := range f.patterns {
			if pat == "/" || pat == q {
				return true
			}
			if ok, _ := path.Match(pat, q); ok {
				return true
			}
		}
		i := strings.LastIndexByte(q, '/')
		if i <= 0 {
			return false
		}
		q = q[:i]
	}
}

// prefixes returns the literal beginnings of the patterns, shortest
// first and none twice: every path a pattern selects (it or a directory
// above it matches) starts with one of them. It is nil when a pattern has
// none ("/", "/*"): then every entry has to be looked at.
func (f *pathFilter) prefixes() []string {
	var lits []string
	for _, pat := range f.patterns {
		lit := pat
		if i := strings.IndexAny(pat, `*?[\`); i >= 0 {
			lit = pat[:i]
		}
		if lit == "" || lit == "/" {
			return nil
		}
		lits = append(lits, lit)
	}
	slices.Sort(lits)
	var out []string
	for _, l := range lits {
		if len(out) == 0 || !strings.HasPrefix(l, out[len(out)-1]) {
			out = append(out, l)
		}
	}
	return out
}

// pathSelection is what a restore with a filter extracts.
type pathSelection struct {
	// wanted holds the selected paths (without trailing slash).
	wanted map[string]bool
	// own holds, by object ID, the selected entries that are that
	// object's in the tree the chain holds, in stream order.
	own map[string][]catalog.File
}

// wanted returns what a restore with this filter extracts from the chain:
// the matching entries, the directories above them (so that those get
// their recorded metadata) and the entries their hard links point to. It
// reads only the ranges of the catalog's files that start with one of the
// patterns' literal beginnings (all of them for a pattern without one),
// and looks up the directories above and the link targets one by one, so
// that restoring a few paths of a large chain does not read all of its
// entries. It is an error when nothing matches.
func (f *pathFilter) wanted(ctx context.Context, cat *catalog.Catalog, chain []catalog.Object) (*pathSelection, error) {
	sel := &pathSelection{wanted: map[string]bool{}, own: map[string][]catalog.File{}}
	var links []string
	visit := func(fl catalog.File) error {
		f.visited++
		p := strings.TrimSuffix(fl.Path, "/")
		if !f.match(p) {
			return nil
		}
		sel.wanted[p] = true
		sel.own[fl.ObjectID] = append(sel.own[fl.ObjectID], fl)
		if fl.Type == '1' && fl.Link != "" {
			links = append(links, "/"+strings.TrimPrefix(fl.Link, "/"))
		}
		return nil
	}
	prefixes := f.prefixes()
	for i := range chain {
		var err error
		if prefixes == nil {
			err = cat.ChainEntries(ctx, chain, i, visit)
		}
		for _, pre := range prefixes {
			if err = cat.ChainEntriesWithPrefix(ctx, chain, i, pre, visit); err != nil {
				break
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if len(sel.wanted) == 0 {
		return nil, fmt.Errorf("%w: --path %s matches nothing in the backup of %s (daisy ls files --source %s lists it)",
			ErrUsage, strings.Join(f.patterns, " "), chain[len(chain)-1].Source, chain[len(chain)-1].Source)
	}
	// The entry of p in the tree, if it has one and it is not selected
	// yet.
	add := func(p string) error {
		if sel.wanted[p] {
			return nil
		}
		sel.wanted[p] = true
		f.visited++
		fl, err := cat.TreeFile(ctx, chain, p)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil // not in the tree (above the source's paths, deleted)
		}
		if err != nil {
			return err
		}
		sel.own[fl.ObjectID] = append(sel.own[fl.ObjectID], fl)
		return nil
	}
	for _, l := range links {
		if err := add(l); err != nil {
			return nil, err
		}
	}
	paths := make([]string, 0, len(sel.wanted))
	for p := range sel.wanted {
		paths = append(paths, p)
	}
	for _, p := range paths {
		for q := path.Dir(p); q != "/" && q != "." && !sel.wanted[q]; q = path.Dir(q) {
			if err := add(q); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range sel.own {
		slices.SortFunc(l, func(a, b catalog.File) int { return cmp.Compare(a.Offset, b.Offset) })
	}
	return sel, nil
}

// SelectPaths returns, by object ID, the entries of chain a restore with
// these patterns (RestoreOptions.Paths) extracts from each object, in
// stream order: the matching entries, the directories above them and the
// entries their hard links need. It is a usage error when a pattern is
// malformed or nothing matches. (A fleet restore sends these to the
// client's agent as its selection.)
func SelectPaths(ctx context.Context, cat *catalog.Catalog, chain []catalog.Object, patterns []string) (map[string][]catalog.File, error) {
	f, err := newPathFilter(patterns)
	if err != nil || f == nil {
		return nil, err
	}
	sel, err := f.wanted(ctx, cat, chain)
	if err != nil {
		return nil, err
	}
	return sel.own, nil
}
