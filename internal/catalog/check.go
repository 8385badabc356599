package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrDamaged is returned (wrapped) when the catalog file is not a SQLite
// database, or SQLite finds it damaged (on open, in a query, or by
// QuickCheck).
var ErrDamaged = errors.New("damaged catalog database")

// damaged wraps SQLite's corruption errors (SQLITE_CORRUPT, SQLITE_NOTADB)
// with ErrDamaged and returns other errors as they are.
func damaged(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", ErrDamaged, err)
		}
	}
	return err
}

// quickCheckLimit bounds the messages QuickCheck collects.
const quickCheckLimit = 10

// QuickCheck runs SQLite's quick check (PRAGMA quick_check: the structure
// of every page, without comparing indexes with their tables), as a job
// does before it trusts the catalog. Damage is an error wrapping
// ErrDamaged that names the first problems.
func (c *Catalog) QuickCheck(ctx context.Context) error {
	msgs, err := c.pragmaCheck(ctx, fmt.Sprintf(sqlQuickCheck, quickCheckLimit))
	if err != nil {
		return fmt.Errorf("catalog: quick check of %s: %w", c.path, damaged(err))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("catalog: quick check of %s: %w: %s", c.path, ErrDamaged, strings.Join(msgs, "; "))
	}
	return nil
}

// pragmaCheck runs an integrity or quick check and returns its messages,
// none when SQLite answers "ok".
func (c *Catalog) pragmaCheck(ctx context.Context, query string) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	return msgs, rows.Err()
}

// Kinds of problems Check reports.
const (
	ProblemSQLite        = "sqlite"         // SQLite's integrity check failed: the file is damaged
	ProblemExtents       = "extents"        // a good copy whose extents do not cover its object
	ProblemMissingVolume = "missing-volume" // an extent on a volume the catalog does not have
	ProblemVolumeState   = "volume-state"   // a volume whose state or size contradicts its good copies
	ProblemFiles         = "files"          // an object whose file list does not match its entry count
	ProblemMissingBase   = "missing-base"   // an object based on an object the catalog does not have
	ProblemOrphan        = "orphan"         // rows of a copy or object the catalog does not have
)

// Problem is one inconsistency Check found, with what to do about it.
type Problem struct {
	Kind    string `json:"kind"`
	Object  string `json:"object,omitempty"`
	Copy    int    `json:"copy,omitempty"`
	Volume  string `json:"volume,omitempty"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
}

func (p Problem) String() string { return p.Problem + ": " + p.Fix }

// CheckCounts say how much Check looked at.
type CheckCounts struct {
	Objects int64 `json:"objects"`
	Copies  int64 `json:"copies"`
	Extents int64 `json:"extents"`
	Volumes int64 `json:"volumes"`
	Files   int64 `json:"files"`
}

// CheckReport is the outcome of Check.
type CheckReport struct {
	Catalog string `json:"catalog"`
	// SQLite is "ok" when SQLite's integrity check found nothing,
	// "damaged" otherwise.
	SQLite   string      `json:"sqlite"`
	Checked  CheckCounts `json:"checked"`
	Problems []Problem   `json:"problems"`
	// More counts the problems found beyond the first MaxProblems of a
	// kind, which are not listed.
	More int `json:"more,omitempty"`
}

// MaxProblems bounds the problems of each kind a CheckReport lists.
const MaxProblems = 100

// Fixes, shared by several problems.
const (
	fixRebuild = "move the catalog aside and rebuild it from the volumes: daisy scan --rebuild --force --files"
	fixVerify  = "daisy verify --object %s reads the copy back and marks it failed if its volumes do not hold it; " +
		"daisy scan --rebuild --force rebuilds the extents from the volumes"
	fixFiles = "restores of the whole object still work; daisy scan --rebuild --force --files reads the file lists back from the volumes"
)

type checker struct {
	rep    *CheckReport
	counts map[string]int
}

func (k *checker) add(p Problem) {
	if k.counts[p.Kind] >= MaxProblems {
		k.rep.More++
		return
	}
	k.counts[p.Kind]++
	k.rep.Problems = append(k.rep.Problems, p)
}

// Check runs SQLite's integrity check and daisy's own consistency checks:
// good copies whose extents do not cover their object from offset 0 to its
// length, extents on volumes the catalog does not have, volumes whose
// state (blank, recyclable) or recorded size contradicts the good copies on
// them, complete objects whose file list does not have their entry count,
// objects based on an object the catalog does not have, and rows left by a
// copy or object that is gone. A database SQLite cannot read at all is an
// error wrapping ErrDamaged; anything else found is a Problem. Memory is
// bounded by MaxProblems per kind.
func (c *Catalog) Check(ctx context.Context) (*CheckReport, error) {
	rep := &CheckReport{Catalog: c.path, SQLite: "ok", Problems: []Problem{}}
	k := &checker{rep: rep, counts: map[string]int{}}
	msgs, err := c.pragmaCheck(ctx, fmt.Sprintf(sqlIntegrityCheck, MaxProblems))
	if err != nil {
		return nil, fmt.Errorf("catalog: integrity check of %s: %w", c.path, damaged(err))
	}
	for _, m := range msgs {
		rep.SQLite = "damaged"
		k.add(Problem{Kind: ProblemSQLite, Problem: "SQLite: " + m, Fix: fixRebuild})
	}
	steps := []func(context.Context, *checker) error{c.checkCounts, c.checkCopies, c.checkVolumes, c.checkFiles, c.checkBases}
	for _, step := range steps {
		if err := step(ctx, k); err != nil {
			err = damaged(err)
			if rep.SQLite == "damaged" || errors.Is(err, ErrDamaged) {
				// The damage SQLite reported stops daisy's checks
				// too; it is reported already.
				rep.SQLite = "damaged"
				k.add(Problem{Kind: ProblemSQLite, Problem: "a consistency check could not read the catalog: " + err.Error(), Fix: fixRebuild})
				continue
			}
			return nil, fmt.Errorf("catalog: check %s: %w", c.path, err)
		}
	}
	return rep, nil
}

func (c *Catalog) checkCounts(ctx context.Context, k *checker) error {
	n := &k.rep.Checked
	return c.r.QueryRowContext(ctx, sqlCheckCounts).Scan(&n.Objects, &n.Copies, &n.Extents, &n.Volumes, &n.Files)
}

// checkCopies checks the extents of every good copy against its object,
// one copy at a time (the rows come ordered by copy).
func (c *Catalog) checkCopies(ctx context.Context, k *checker) error {
	rows, err := c.r.QueryContext(ctx, sqlCheckGoodCopies)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		cur    struct{ obj string }
		number int
		length sql.NullInt64
		exts   []Extent
		have   bool
	)
	flush := func() {
		if !have {
			return
		}
		switch {
		case !length.Valid:
			k.add(Problem{Kind: ProblemOrphan, Object: cur.obj, Copy: number,
				Problem: fmt.Sprintf("copy %d of object %s is marked good, but the catalog has no such object", number, cur.obj),
				Fix:     fixRebuild})
		default:
			if err := checkExtents(cur.obj, number, length.Int64, exts); err != nil {
				k.add(Problem{Kind: ProblemExtents, Object: cur.obj, Copy: number,
					Problem: fmt.Sprintf("copy %d of object %s is marked good, but its extents do not cover the object (%d bytes): %v", number, cur.obj, length.Int64, err),
					Fix:     fmt.Sprintf(fixVerify, cur.obj)})
			}
		}
		exts = exts[:0]
	}
	for rows.Next() {
		var obj string
		var n int
		var l sql.NullInt64
		var e struct {
			seq                        sql.NullInt64
			vol                        sql.NullString
			fb, lb, fo, eo, recs, byts sql.NullInt64
		}
		if err := rows.Scan(&obj, &n, &l, &e.seq, &e.vol, &e.fb, &e.lb, &e.fo, &e.eo, &e.recs, &e.byts); err != nil {
			return err
		}
		if !have || obj != cur.obj || n != number {
			flush()
			cur.obj, number, length, have = obj, n, l, true
		}
		if e.seq.Valid {
			exts = append(exts, Extent{ObjectID: obj, Copy: n, Seq: int(e.seq.Int64), VolumeID: e.vol.String,
				FirstBlock: e.fb.Int64, LastBlock: e.lb.Int64, FirstOffset: e.fo.Int64, EndOffset: e.eo.Int64,
				Records: e.recs.Int64, Bytes: e.byts.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	return nil
}

// checkVolumes finds the extents on volumes the catalog does not have,
// extents of copies it does not have, and good copies on volumes that are
// blank or recyclable (the next backup may write over them) or that end
// before the copy does.
func (c *Catalog) checkVolumes(ctx context.Context, k *checker) error {
	rows, err := c.r.QueryContext(ctx, sqlCheckExtentVolumes)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var obj, vol string
		var n int
		var lastBlock int64
		var known, haveCopy bool
		var state, copyState sql.NullString
		var label sql.NullString
		var blocks sql.NullInt64
		if err := rows.Scan(&obj, &n, &vol, &lastBlock, &known, &label, &state, &blocks, &haveCopy, &copyState); err != nil {
			return err
		}
		switch {
		case !known:
			k.add(Problem{Kind: ProblemMissingVolume, Object: obj, Copy: n, Volume: vol,
				Problem: fmt.Sprintf("copy %d of object %s has extents on volume %s, which the catalog does not have", n, obj, vol),
				Fix:     "daisy scan --rebuild --force records the volumes again from the pool directories"})
		case !haveCopy:
			k.add(Problem{Kind: ProblemOrphan, Object: obj, Copy: n, Volume: vol,
				Problem: fmt.Sprintf("volume %s holds extents of copy %d of object %s, which the catalog does not have", label.String, n, obj),
				Fix:     fixRebuild})
		case state.String == VolumeBlank || state.String == VolumeRecyclable:
			k.add(Problem{Kind: ProblemVolumeState, Object: obj, Copy: n, Volume: vol,
				Problem: fmt.Sprintf("volume %s is %s, but holds good copy %d of object %s: the next backup to its pool may write over it", label.String, state.String, n, obj),
				Fix:     "copy the object elsewhere first (daisy copy --object " + obj + " --to-pool POOL), or rebuild the catalog from the volumes (daisy scan --rebuild --force) to get the volume's state right"})
		case lastBlock >= blocks.Int64:
			k.add(Problem{Kind: ProblemVolumeState, Object: obj, Copy: n, Volume: vol,
				Problem: fmt.Sprintf("volume %s has %d blocks in the catalog, but good copy %d of object %s has extents up to block %d", label.String, blocks.Int64, n, obj, lastBlock),
				Fix:     fmt.Sprintf(fixVerify, obj)})
		}
	}
	return rows.Err()
}

// checkFiles compares each complete object's entry count with its file
// list, and finds file rows of objects that are gone.
func (c *Catalog) checkFiles(ctx context.Context, k *checker) error {
	rows, err := c.r.QueryContext(ctx, sqlCheckObjectFiles)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var obj, source string
		var want, have int64
		if err := rows.Scan(&obj, &source, &want, &have); err != nil {
			return err
		}
		p := Problem{Kind: ProblemFiles, Object: obj, Fix: fixFiles}
		if have == 0 {
			p.Problem = fmt.Sprintf("object %s of %s has %d entries but no file list: restores of a chain, --path and --resume need it", obj, source, want)
		} else {
			p.Problem = fmt.Sprintf("object %s of %s has %d entries, its file list %d", obj, source, want, have)
		}
		k.add(p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	orphans, err := c.r.QueryContext(ctx, sqlCheckOrphanFiles)
	if err != nil {
		return err
	}
	defer orphans.Close()
	for orphans.Next() {
		var obj string
		var n int64
		if err := orphans.Scan(&obj, &n); err != nil {
			return err
		}
		k.add(Problem{Kind: ProblemOrphan, Object: obj,
			Problem: fmt.Sprintf("%d file rows belong to object %s, which the catalog does not have", n, obj),
			Fix:     fixRebuild})
	}
	return orphans.Err()
}

// checkBases finds objects whose base object is gone.
func (c *Catalog) checkBases(ctx context.Context, k *checker) error {
	rows, err := c.r.QueryContext(ctx, sqlCheckMissingBases)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var obj, source, level, base string
		if err := rows.Scan(&obj, &source, &level, &base); err != nil {
			return err
		}
		k.add(Problem{Kind: ProblemMissingBase, Object: obj,
			Problem: fmt.Sprintf("%s object %s of %s is based on object %s, which the catalog does not have: it cannot be restored as a chain", level, obj, source, base),
			Fix:     fmt.Sprintf("daisy scan --rebuild --force brings the base back if its volumes still hold it; else back up a new full: daisy backup --source %s --level full", source)})
	}
	return rows.Err()
}

// HasVolumes reports whether the catalog records any volume.
func (c *Catalog) HasVolumes(ctx context.Context) (bool, error) {
	var n int
	if err := c.r.QueryRowContext(ctx, sqlHasVolumes).Scan(&n); err != nil {
		return false, fmt.Errorf("catalog: %s: %w", c.path, damaged(err))
	}
	return n > 0, nil
}
