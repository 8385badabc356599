package jobs

import (
	"context"
	"fmt"
	"path"
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

// wanted returns the paths of the tree the chain holds that a restore with
// this filter extracts: the matching entries, the directories above them
// (so that those get their recorded metadata) and the entries their hard
// links point to. It is an error when nothing matches.
func (f *pathFilter) wanted(ctx context.Context, cat *catalog.Catalog, chain []catalog.Object) (map[string]bool, error) {
	want := map[string]bool{}
	var links []string
	for i := range chain {
		err := cat.ChainEntries(ctx, chain, i, func(fl catalog.File) error {
			p := strings.TrimSuffix(fl.Path, "/")
			if !f.match(p) {
				return nil
			}
			want[p] = true
			if fl.Type == '1' && fl.Link != "" {
				links = append(links, "/"+strings.TrimPrefix(fl.Link, "/"))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("%w: --path %s matches nothing in the backup of %s (daisy ls files --source %s lists it)",
			ErrUsage, strings.Join(f.patterns, " "), chain[len(chain)-1].Source, chain[len(chain)-1].Source)
	}
	for _, l := range links {
		want[l] = true
	}
	for p := range want {
		for q := path.Dir(p); q != "/" && q != "." && !want[q]; q = path.Dir(q) {
			want[q] = true
		}
	}
	return want, nil
}
