package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Browsing: which object holds a source as it was at some time, the top of
// an object's tree, and a search over the files of all objects. Everything
// here reads the catalog only, never a volume, and every query walks the
// files primary key (object_id, path), so no index beyond schema version 1
// is needed: a directory listing is one range scan per child directory plus
// the child entries (see children), the top of a tree one seek per root.

// ObjectAt returns the object to browse or restore a source as it was at
// at: the newest complete object of the source with a good copy whose
// backup started not after at (ties broken by the higher id). It returns ErrNotFound when the
// source has no such object.
//
// The object returned is the newest end of the restore chain at that time:
// Chain follows its Base links back to the full, and the Tree functions
// read the tree as the chain holds it.
func (c *Catalog) ObjectAt(ctx context.Context, source string, at time.Time) (Object, error) {
	o, err := scanObject(c.r.QueryRowContext(ctx, sqlObjectAt, source, nanos(at)))
	if err != nil {
		return Object{}, fmt.Errorf("catalog: object of %s at %s: %w", source, at.Format(time.RFC3339), notFound(err))
	}
	return o, nil
}

// Roots lists the top of an object's tree, ordered by path: the entries
// that are not below another entry of the object. For a backup these are
// the source's paths (a source /srv/data records /srv/data and what is
// below it, not /srv). It costs one index seek per root and per run of
// names that sort between a root and its subtree ("a.b" between "a" and
// "a/"), not a scan of the object. It returns ErrNotFound if the object is
// not in the catalog.
func (c *Catalog) Roots(ctx context.Context, objectID string) ([]File, error) {
	var out []File
	var dirs []string // each root's prefix, "a/" for root "a" or "a/"
	lower, inclusive := "", false
	for {
		q := sqlFileAfter
		if inclusive {
			q = sqlFileFrom
		}
		f, err := scanFile(c.r.QueryRowContext(ctx, q, objectID, lower))
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: roots of %s: %w", objectID, err)
		}
		under := ""
		for _, d := range dirs {
			if strings.HasPrefix(f.Path, d) {
				under = d
				break
			}
		}
		if under != "" {
			// Skip the whole subtree: "a0" follows every "a/...".
			lower, inclusive = under[:len(under)-1]+"0", true
			continue
		}
		out = append(out, f)
		dirs = append(dirs, strings.TrimSuffix(f.Path, "/")+"/")
		lower, inclusive = f.Path, false
	}
	if len(out) == 0 {
		var one int
		if err := c.r.QueryRowContext(ctx, sqlObjectKnown, objectID).Scan(&one); err != nil {
			return nil, fmt.Errorf("catalog: roots of %s: %w", objectID, notFound(err))
		}
	}
	return out, nil
}

// FindQuery selects files for Find.
type FindQuery struct {
	// Pattern is a shell pattern (path.Match syntax). Without a "/" it is
	// matched against each entry's base name ("*.conf"); with one, against
	// the whole path, where "*" does not cross a "/" ("/etc/*.conf"). A
	// path pattern without a leading "/" also matches the stored path
	// without its leading "/" ("etc/*.conf" finds /etc/hosts.conf).
	Pattern string
	// Source, if set, limits the search to that source's objects.
	Source string
	// Limit stops the search after that many matches; 0 means no limit.
	Limit int
}

// Found is a file that Find matched, with the object that holds it.
type Found struct {
	Source  string    `json:"source"`
	Started time.Time `json:"started"` // when the object's backup started
	File
}

// Find searches the files of every complete object (of q.Source, if set),
// objects by backup start time, files by path, and returns up to q.Limit
// matches; more is true if the limit cut the search short. A malformed
// pattern is an error wrapping path.ErrBadPattern.
//
// How it is bounded: a path pattern with a literal prefix ("/etc/*.conf",
// literal "/etc/") reads, per object, only the range of the files primary
// key (object_id, path) that starts with that prefix. A base-name pattern,
// and a path pattern that starts with a wildcard, has no such range: it is
// a full scan of each object's files, filtered inside SQLite (GLOB) before
// the exact match in Go, and stops at q.Limit matches. There is no
// base-name index (it would cost every backup an index update per file);
// docs/BENCHMARKS.md gives the cost of the scan at 1,000,000 files.
func (c *Catalog) Find(ctx context.Context, q FindQuery) (found []Found, more bool, err error) {
	if q.Pattern == "" {
		return nil, false, fmt.Errorf("catalog: find: empty pattern: %w", path.ErrBadPattern)
	}
	if _, err := path.Match(q.Pattern, ""); err != nil {
		return nil, false, fmt.Errorf("catalog: find %q: %w", q.Pattern, err)
	}
	objs, err := c.Objects(ctx, ObjectFilter{Source: q.Source, State: ObjectComplete})
	if err != nil {
		return nil, false, fmt.Errorf("catalog: find %q: %w", q.Pattern, err)
	}
	m := newMatcher(q.Pattern)
	for _, o := range objs {
		for _, r := range m.ranges {
			var rows *sql.Rows
			if r.all {
				rows, err = c.r.QueryContext(ctx, sqlFindAll, o.ID, m.glob)
			} else {
				rows, err = c.r.QueryContext(ctx, sqlFindRange, o.ID, r.lower, r.upper, m.glob)
			}
			if err != nil {
				return nil, false, fmt.Errorf("catalog: find %q in %s: %w", q.Pattern, o.ID, err)
			}
			start := len(found)
			done, err := m.collect(rows, o, q.Limit, &found)
			if err != nil {
				return nil, false, fmt.Errorf("catalog: find %q in %s: %w", q.Pattern, o.ID, err)
			}
			if len(m.ranges) > 1 {
				// Two disjoint ranges of one object: keep path order.
				part := found[start:]
				sort.Slice(part, func(i, j int) bool { return part[i].Path < part[j].Path })
			}
			if done {
				return found, true, nil
			}
		}
	}
	return found, false, nil
}

// keyRange is a range [lower, upper) of paths, or all paths.
type keyRange struct {
	lower, upper string
	all          bool
}

// matcher holds a Find pattern compiled into key ranges, a GLOB prefilter
// for SQLite and the exact match.
type matcher struct {
	pattern string
	full    bool // match the whole path, not the base name
	glob    string
	ranges  []keyRange
}

func newMatcher(pattern string) *matcher {
	m := &matcher{pattern: pattern, full: strings.Contains(pattern, "/"), glob: "*"}
	// GLOB's "*" crosses "/", so "*" + pattern accepts a superset of the
	// exact matches as long as the pattern has no class or escape (whose
	// syntax differs in corner cases); then "*" alone lets everything
	// through to the exact match.
	if !strings.ContainsAny(pattern, `[\`) {
		m.glob = "*" + pattern
	}
	lit := pattern
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		lit = pattern[:i]
	}
	if !m.full || lit == "" {
		m.ranges = []keyRange{{all: true}}
		return m
	}
	for _, p := range []string{"/" + lit, lit} {
		upper, ok := prefixEnd(p)
		if !ok {
			m.ranges = []keyRange{{all: true}}
			return m
		}
		m.ranges = append(m.ranges, keyRange{lower: p, upper: upper})
	}
	if strings.HasPrefix(pattern, "/") {
		m.ranges = m.ranges[1:] // "//..." is not a range worth reading
	}
	return m
}

// match reports whether a stored path matches the pattern.
func (m *matcher) match(p string) bool {
	p = strings.TrimSuffix(p, "/")
	if !m.full {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[i+1:]
		}
		ok, _ := path.Match(m.pattern, p)
		return ok
	}
	if ok, _ := path.Match(m.pattern, p); ok {
		return true
	}
	if !strings.HasPrefix(m.pattern, "/") && strings.HasPrefix(p, "/") {
		ok, _ := path.Match(m.pattern, p[1:])
		return ok
	}
	return false
}

// collect appends the matching rows of o to found and closes rows. It
// returns true when a match beyond limit was seen (the search is done).
func (m *matcher) collect(rows *sql.Rows, o Object, limit int, found *[]Found) (bool, error) {
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return false, err
		}
		if f.Type == TypeDeleted || !m.match(f.Path) {
			continue
		}
		if limit > 0 && len(*found) >= limit {
			return true, nil
		}
		*found = append(*found, Found{Source: o.Source, Started: o.Started, File: f})
	}
	return false, rows.Err()
}
