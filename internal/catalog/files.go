package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// File is one archive entry of an object. Type is the tar type flag ('0'
// regular, '5' directory, '2' symlink, '1' hard link ...; the old NUL flag
// is stored as '0'). Offset is the offset of the entry's tar header in the
// object stream. Path is stored as given; a directory may carry a trailing
// slash.
type File struct {
	ObjectID string    `json:"object"`
	Path     string    `json:"path"`
	Type     byte      `json:"type"`
	Size     int64     `json:"size"`
	Mode     int64     `json:"mode"`
	UID      int       `json:"uid"`
	GID      int       `json:"gid"`
	MTime    time.Time `json:"mtime"`
	CTime    time.Time `json:"ctime"`
	Inode    uint64    `json:"inode"`
	Link     string    `json:"link,omitempty"`
	Offset   int64     `json:"offset"`
}

// fileBatch is the number of files AddFiles inserts per statement
// execution (12 placeholders each, far below SQLite's limit of 32766).
const fileBatch = 64

var (
	sqlAddFilesBatch = sqlAddFiles(fileBatch)
	sqlAddFilesOne   = sqlAddFiles(1)
)

// AddFiles records files in one transaction. Every file's object must be in
// the catalog. A path recorded twice for one object keeps the later entry,
// as tar extraction does.
func (c *Catalog) AddFiles(ctx context.Context, files []File) error {
	if len(files) == 0 {
		return nil
	}
	objects := map[string]bool{}
	for i := range files {
		f := &files[i]
		if f.ObjectID == "" || f.Path == "" {
			return fmt.Errorf("catalog: add files: file %d (%q of object %q): object id and path are required", i, f.Path, f.ObjectID)
		}
		objects[f.ObjectID] = true
	}
	ids := make([]string, 0, len(objects))
	for id := range objects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	err := c.inTx(ctx, func(tx *sql.Tx) (err error) {
		for _, id := range ids {
			var one int
			if err := tx.QueryRowContext(ctx, sqlObjectKnown, id).Scan(&one); err != nil {
				return fmt.Errorf("object %s: %w", id, notFound(err))
			}
		}
		// Rows go in batches of fileBatch per statement execution: the
		// per-statement overhead of database/sql and the driver is most
		// of the cost of a one-row insert.
		var batch, single *sql.Stmt
		if len(files) >= fileBatch {
			if batch, err = tx.PrepareContext(ctx, sqlAddFilesBatch); err != nil {
				return err
			}
			defer batch.Close()
		}
		if len(files)%fileBatch != 0 {
			if single, err = tx.PrepareContext(ctx, sqlAddFilesOne); err != nil {
				return err
			}
			defer single.Close()
		}
		args := make([]any, 0, fileBatch*fileColumns)
		for start := 0; start < len(files); {
			stmt, n := single, 1
			if len(files)-start >= fileBatch {
				stmt, n = batch, fileBatch
			}
			args = args[:0]
			for i := start; i < start+n; i++ {
				f := &files[i]
				typ := f.Type
				if typ == 0 {
					typ = '0'
				}
				args = append(args, f.ObjectID, f.Path, typeStrings[typ], f.Size, f.Mode,
					int64(f.UID), int64(f.GID), nanosArg(f.MTime), nanosArg(f.CTime),
					int64(f.Inode), f.Link, f.Offset)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				if n == 1 {
					return fmt.Errorf("%q of object %s: %w", files[start].Path, files[start].ObjectID, err)
				}
				return fmt.Errorf("files %d to %d: %w", start, start+n-1, err)
			}
			start += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: add files: %w", err)
	}
	return nil
}

// nanosArg is t as a statement argument: nil (NULL) for the zero time.
// Cheaper than nullNanos's driver.Valuer in AddFiles's inner loop.
func nanosArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return nanos(t)
}

// typeStrings holds the one-byte column value of every type flag.
var typeStrings = func() (t [256]string) {
	for i := range t {
		t[i] = string([]byte{byte(i)})
	}
	return t
}()

func scanFile(s scanner) (File, error) {
	var f File
	var typ string
	var mtime, ctime sql.NullInt64
	var uid, gid, inode int64
	err := s.Scan(&f.ObjectID, &f.Path, &typ, &f.Size, &f.Mode, &uid, &gid, &mtime, &ctime, &inode, &f.Link, &f.Offset)
	if err != nil {
		return File{}, err
	}
	if len(typ) > 0 {
		f.Type = typ[0]
	}
	f.UID, f.GID, f.Inode = int(uid), int(gid), uint64(inode)
	f.MTime, f.CTime = fromNanos(mtime), fromNanos(ctime)
	return f, nil
}

// File returns one file of an object by its path as stored, or ErrNotFound.
func (c *Catalog) File(ctx context.Context, objectID, path string) (File, error) {
	f, err := scanFile(c.r.QueryRowContext(ctx, sqlFile, objectID, path))
	if err != nil {
		return File{}, fmt.Errorf("catalog: file %q of object %s: %w", path, objectID, notFound(err))
	}
	return f, nil
}

// dirPrefix returns the prefix that the paths below dir start with: "" for
// the top level of relative paths (dir "."), "/" for the root, dir + "/"
// otherwise.
func dirPrefix(dir string) string {
	switch {
	case dir == "." || dir == "./":
		return ""
	case strings.Trim(dir, "/") == "":
		return "/"
	}
	return strings.TrimRight(dir, "/") + "/"
}

// Files lists the files of an object ordered by path: all of them if dir is
// "", else the direct children of dir. dir "/" lists the top level of
// absolute paths, dir "." that of relative paths; a trailing slash on dir or
// on a stored path does not matter. It returns ErrNotFound if the object is
// not in the catalog.
func (c *Catalog) Files(ctx context.Context, objectID, dir string) ([]File, error) {
	var out []File
	var err error
	if dir == "" {
		out, err = c.queryFiles(ctx, sqlFilesAll, objectID)
	} else {
		out, err = c.children(ctx, objectID, dirPrefix(dir))
	}
	if err == nil && len(out) == 0 {
		var one int
		err = notFound(c.r.QueryRowContext(ctx, sqlObjectKnown, objectID).Scan(&one))
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: files of %s in %q: %w", objectID, dir, err)
	}
	return out, nil
}

// FilesUnder lists dir itself (if recorded) and everything below it,
// ordered by path. dir "" lists all files.
func (c *Catalog) FilesUnder(ctx context.Context, objectID, dir string) ([]File, error) {
	if dir == "" {
		return c.Files(ctx, objectID, "")
	}
	prefix := dirPrefix(dir)
	var out []File
	var err error
	if prefix == "" {
		out, err = c.queryFiles(ctx, sqlFilesAll, objectID)
	} else {
		// The range starts at dir itself ("a/b", then "a/b.x", "a/b/",
		// "a/b/c" ...) and ends before "a/b0", '0' following '/'.
		self := strings.TrimSuffix(prefix, "/")
		upper, _ := prefixEnd(prefix)
		var all []File
		all, err = c.queryFiles(ctx, sqlFilesRange, objectID, self, upper)
		for _, f := range all {
			if f.Path == self || strings.HasPrefix(f.Path, prefix) {
				out = append(out, f)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: files of %s under %q: %w", objectID, dir, err)
	}
	return out, nil
}

// children lists the direct children of the directory whose entries start
// with prefix. It walks the path index in order and, at the first entry
// below a child directory, skips that child's whole subtree with a new range
// scan starting after it, so the cost grows with the number of children,
// not with the size of the tree.
func (c *Catalog) children(ctx context.Context, objectID, prefix string) ([]File, error) {
	upper, bounded := prefixEnd(prefix)
	lower := prefix
	var out []File
	for {
		next, err := c.childrenFrom(ctx, objectID, prefix, lower, upper, bounded, &out)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		lower = next
	}
}

// childrenFrom scans paths from lower (up to upper, if bounded) and appends
// the direct children of prefix to out. It stops at the first deeper path
// and returns where the scan resumes, after that subtree; "" when done.
func (c *Catalog) childrenFrom(ctx context.Context, objectID, prefix, lower, upper string, bounded bool, out *[]File) (next string, err error) {
	var rows *sql.Rows
	if bounded {
		rows, err = c.r.QueryContext(ctx, sqlFilesRange, objectID, lower, upper)
	} else {
		rows, err = c.r.QueryContext(ctx, sqlFilesFrom, objectID, lower)
	}
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return "", err
		}
		rest := strings.TrimSuffix(f.Path[len(prefix):], "/")
		if rest == "" {
			continue // the directory itself
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			// Below child rest[:i]: everything up to prefix+child+"0"
			// ('0' follows '/') is in its subtree.
			return prefix + rest[:i] + "0", nil
		}
		*out = append(*out, f)
	}
	return "", rows.Err()
}

func (c *Catalog) queryFiles(ctx context.Context, query string, args ...any) ([]File, error) {
	rows, err := c.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
