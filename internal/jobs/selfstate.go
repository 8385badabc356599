package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"daisy/internal/catalog"
	"daisy/internal/config"
)

// daisy never backs up or overwrites its own state: the catalog database
// (with its -wal, -shm and -journal files) and the pool directories. A
// source that holds them would snowball (each backup holding the last
// one's volume, and a live database copied half-written), and a restore
// over them would overwrite the catalog or volumes in use. The
// configuration file is not state: it is backed up like any file.

// statePath is one path of daisy's own state, as configured (lexical) and
// with its symbolic links resolved (real; the same when none).
type statePath struct {
	lexical, real string
	dir           bool // a pool directory: everything below it is state
}

// catalogSuffixes are the files SQLite keeps next to the database.
var catalogSuffixes = []string{"", "-wal", "-shm", "-journal"}

// daisyState lists the catalog's files and the pool directories, those of
// the configuration and those the catalog records (a pool whose directory
// was changed in the configuration still holds volumes in the old one).
func daisyState(ctx context.Context, cfg *config.Config, cat *catalog.Catalog) []statePath {
	var out []statePath
	seen := map[string]bool{}
	add := func(p string, dir bool) {
		if p == "" {
			return
		}
		abs, err := filepath.Abs(p)
		if err != nil || seen[abs] {
			return
		}
		seen[abs] = true
		out = append(out, statePath{lexical: abs, real: resolve(abs), dir: dir})
	}
	db := cat.Path()
	if cfg != nil && cfg.Catalog.SQLite != "" {
		db = cfg.Catalog.SQLite
	}
	for _, s := range catalogSuffixes {
		add(db+s, false)
		if cat.Path() != db {
			add(cat.Path()+s, false)
		}
	}
	if cfg != nil {
		for _, p := range cfg.Pools {
			add(p.Directory, true)
		}
	}
	if pools, err := cat.Pools(ctx); err == nil {
		for _, p := range pools {
			add(p.Directory, true)
		}
	}
	return out
}

// resolve returns p with the symbolic links of its directory (and of p
// itself, when it exists) resolved; p as it is when that fails.
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(d, filepath.Base(p))
	}
	return p
}

// within reports whether p is root or lies below it.
func within(p, root string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

// globEscape quotes the characters path.Match gives a meaning. It goes
// byte by byte: a name need not be UTF-8.
func globEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if strings.IndexByte(`*?[]\`, p[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// excludeDaisyState returns src with exclude patterns added for every path
// of daisy's state that one of its paths holds (or that holds one of its
// paths), and the list excluded with those paths added once each. A path
// is matched both as configured and with symbolic links resolved, and
// excluded under the name the walk of the source gives it.
func excludeDaisyState(state []statePath, src config.Source, excluded []string) (config.Source, []string) {
	var add []string
	for _, root := range src.Paths {
		if !filepath.IsAbs(root) {
			continue
		}
		root = filepath.Clean(root)
		realRoot := resolve(root)
		for _, s := range state {
			for _, sp := range []string{s.lexical, s.real} {
				var name string
				switch {
				case within(sp, root):
					name = sp
				case within(sp, realRoot):
					name = filepath.Join(root, strings.TrimPrefix(sp, realRoot))
				case s.dir && (within(root, sp) || within(realRoot, sp)):
					name = root // the whole path is inside a pool directory
				default:
					continue
				}
				if pat := globEscape(name); !slices.Contains(add, pat) {
					add = append(add, pat)
					// A pool directory is named even before its first
					// volume makes it; a catalog file only when it is there.
					if _, err := os.Lstat(name); (err == nil || s.dir) && !slices.Contains(excluded, name) {
						excluded = append(excluded, name)
					}
				}
			}
		}
	}
	if len(add) > 0 {
		src.Exclude = slices.Concat(src.Exclude, add)
	}
	return src, excluded
}

// refuseStateTarget returns an error when a restore into target would
// write over daisy's own state: target is inside a pool directory, or is
// (or is inside) the catalog, or the entries to restore (has answers
// whether the restore writes an entry at that stored path, or for a
// directory anything below it) land on the catalog's files or in a pool
// directory.
func refuseStateTarget(state []statePath, target string, has func(stored string, dir bool) (bool, error)) error {
	abs, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("restore target %s: %w", target, err)
	}
	realTarget := resolve(abs)
	for _, s := range state {
		for _, sp := range []string{s.lexical, s.real} {
			for _, t := range []string{abs, realTarget} {
				if within(t, sp) {
					return fmt.Errorf("%w: restore target %s is inside %s, which is daisy's own state (%s); restore somewhere else",
						ErrUsage, target, sp, stateKind(s))
				}
				if !within(sp, t) {
					continue
				}
				stored := "/" + strings.TrimPrefix(strings.TrimPrefix(sp, t), "/")
				hit, err := has(stored, s.dir)
				if err != nil {
					return err
				}
				if hit {
					return fmt.Errorf("%w: this restore would write %s over %s, daisy's own state (%s); nothing was written. "+
						"Restore into another directory (--to), or leave the path out with --path", ErrUsage, stored, sp, stateKind(s))
				}
			}
		}
	}
	return nil
}

func stateKind(s statePath) string {
	if s.dir {
		return "a pool directory"
	}
	return "the live catalog"
}

// refuseOverwritingState is refuseStateTarget for a restore of chain into
// target: the entries it restores are those of wanted (a --path
// selection), else the whole tree of the chain as the catalog lists it. A
// chain without a file list (a catalog rebuilt without --files) is refused
// when the source's recorded paths hold daisy's state, since what the
// backup holds there is not known.
func refuseOverwritingState(ctx context.Context, cat *catalog.Catalog, chain []catalog.Object, wanted map[string]bool, target string) error {
	has := func(stored string, dir bool) (bool, error) {
		if wanted != nil {
			if wanted[stored] {
				return true, nil
			}
			if dir {
				for p := range wanted {
					if within(p, stored) {
						return true, nil
					}
				}
			}
			return false, nil
		}
		last := chain[len(chain)-1]
		listed, err := cat.HasFiles(ctx, last.ID)
		if err != nil {
			return false, err
		}
		if !listed {
			src, err := cat.Source(ctx, last.Source)
			if err != nil {
				return false, nil // no recorded paths: nothing to go by
			}
			for _, p := range src.Paths {
				if within(stored, p) || (dir && within(p, stored)) {
					return true, nil
				}
			}
			return false, nil
		}
		if !dir {
			_, err := cat.TreeFile(ctx, chain, stored)
			if errors.Is(err, catalog.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		}
		under, err := cat.TreeUnder(ctx, chain, stored)
		if err != nil {
			return false, err
		}
		for _, f := range under {
			if f.Type != catalog.TypeDeleted {
				return true, nil
			}
		}
		return false, nil
	}
	return refuseStateTarget(daisyState(ctx, nil, cat), target, has)
}
