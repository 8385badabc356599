// Package catalog records what daisy has stored and where. An object is one
// backup of one source of one client at one time (a full, incremental or
// differential, with its base object); each object has one or more copies
// (copy 1 written by the backup group, further copies by mirror levels or
// copy stages), and each good copy is a list of extents: runs of the object's
// byte stream stored in consecutive blocks of one volume. Files lists the
// archive entries of an object with their offset in its stream; volumes
// belong to pools; jobs record every run with its outcome. Every write is a
// transaction, and a copy is marked good only in the transaction that stores
// all of its extents, after checking that they cover the complete object, so
// a crash never leaves a good copy that is not on its volumes. The schema is a
// ratchet: Open applies the missing migration steps in order, each in its own
// transaction, and refuses a database written by a newer program
// (ErrSchemaTooNew). Every job records its owner (pid, boot ID, process
// start time); Open marks the running jobs whose owner is gone interrupted
// and fails their unfinished copies and objects (ReapInterrupted). The storage is SQLite (modernc.org/sqlite, pure Go) in
// WAL mode with synchronous=FULL; the SQL is kept portable to PostgreSQL.
// A file SQLite finds damaged is an error wrapping ErrDamaged; QuickCheck
// (run before every job) checks every page, and Check runs SQLite's full
// integrity check plus daisy's own consistency checks (check.go).
package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"daisy/internal/durable"
)

var (
	// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
	ErrNotFound = errors.New("catalog: not found")
	// ErrSchemaTooNew is returned by Open for a database whose schema
	// version is higher than this program knows.
	ErrSchemaTooNew = errors.New("catalog: database schema is newer than this program")
	// ErrAmbiguous is returned (wrapped) when an id prefix matches more than
	// one row.
	ErrAmbiguous = errors.New("catalog: ambiguous id prefix")
	// ErrExists is returned (wrapped) when a row to be created exists already.
	ErrExists = errors.New("catalog: already exists")
)

// Volume states.
const (
	VolumeBlank      = "blank"
	VolumeAppendable = "appendable"
	VolumeFull       = "full"
	VolumeRecyclable = "recyclable"
	VolumeRetired    = "retired"
)

// Job states.
const (
	JobRunning = "running"
	JobSuccess = "success"
	JobPartial = "partial"
	JobFailed  = "failed"
	// JobInterrupted: the job stopped before it finished, on a signal or
	// because its process is gone (see ReapInterrupted).
	JobInterrupted = "interrupted"
)

// Object states.
const (
	ObjectWriting  = "writing"
	ObjectComplete = "complete"
	ObjectFailed   = "failed"
)

// Copy states and roles.
const (
	CopyWriting = "writing"
	CopyGood    = "good"
	CopyFailed  = "failed"

	RoleBackup = "backup" // copy written by the backup group
	RoleMirror = "mirror" // written in the same pass by a mirror level
	RoleCopy   = "copy"   // written later by a copy stage
)

// Catalog is an open catalog database. All methods are safe for concurrent
// use.
type Catalog struct {
	path string
	// w holds the single connection that writes: writes are serialised in
	// the process, and every transaction takes the write lock when it
	// begins (BEGIN IMMEDIATE), so another process cannot make it fail
	// half-way with SQLITE_BUSY.
	w *sql.DB
	// r holds read-only connections; in WAL mode they read the last
	// committed state while a write transaction is open.
	r *sql.DB
	// interrupted are the jobs Open marked interrupted.
	interrupted []Job
}

// Connection parameters (modernc.org/sqlite DSN syntax). synchronous=FULL:
// in WAL mode NORMAL may lose the last commits on power loss, and the commit
// that marks a copy good must survive it. The writer gets a 64 MiB page
// cache and keeps statement journals in memory, which AddFiles needs to
// reach its speed; journal_size_limit truncates the WAL file to 64 MiB after
// a checkpoint that followed a large transaction.
var (
	writerParams = []string{
		"_pragma=busy_timeout(10000)",
		"_pragma=cache_size(-65536)",
		"_pragma=foreign_keys(1)",
		"_pragma=journal_mode(WAL)",
		"_pragma=journal_size_limit(67108864)",
		"_pragma=synchronous(FULL)",
		"_pragma=temp_store(MEMORY)",
		"_txlock=immediate",
	}
	readerParams = []string{
		"_pragma=busy_timeout(10000)",
		"_pragma=query_only(1)",
	}
)

// dsn turns a file path into a modernc.org/sqlite URI. The path is escaped
// so that '?', '#' and '%' in it are not taken for URI syntax.
func dsn(path string, params []string) string {
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + strings.Join(params, "&")
}

// Open opens the catalog database at path, creating it and its parent
// directory if needed, and brings its schema up to date. A file that is not
// a SQLite database, or one SQLite finds damaged on the way, is an error
// wrapping ErrDamaged. Open does not check the whole file: QuickCheck and
// Check do.
func Open(ctx context.Context, path string) (*Catalog, error) {
	if path == "" {
		return nil, errors.New("catalog: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	// A new directory and a new database file are synced in their parent
	// directories: the catalog must not vanish in a crash after it
	// recorded copies (SQLite syncs the directory for its WAL only).
	if err := durable.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	_, statErr := os.Lstat(abs)
	// Create a new database readable by its owner only: it lists every
	// file name of every client. SQLite gives the -wal and -shm files the
	// same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := durable.SyncParent(abs); err != nil {
			return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
		}
	}

	w, err := sql.Open("sqlite", dsn(abs, writerParams))
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	c := &Catalog{path: abs, w: w}
	if err := c.migrate(ctx); err != nil {
		w.Close()
		if errors.Is(err, ErrSchemaTooNew) {
			return nil, err
		}
		return nil, fmt.Errorf("catalog: open %s: %w", abs, damaged(err))
	}

	r, err := sql.Open("sqlite", dsn(abs, readerParams))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", abs, damaged(err))
	}
	c.r = r
	// Jobs of processes that are gone are interrupted: no job stays
	// running, no copy writing, for ever.
	if c.interrupted, err = c.ReapInterrupted(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", abs, err)
	}
	return c, nil
}

// Interrupted returns the jobs that Open found interrupted (their process
// gone) and marked so.
func (c *Catalog) Interrupted() []Job { return c.interrupted }

// Path returns the absolute path of the database file.
func (c *Catalog) Path() string { return c.path }

// Close closes the database. Methods called after Close fail.
func (c *Catalog) Close() error {
	errR := c.r.Close()
	errW := c.w.Close()
	if err := errors.Join(errR, errW); err != nil {
		return fmt.Errorf("catalog: close: %w", err)
	}
	return nil
}

// KnownSchemaVersion is the schema version this program creates and
// understands.
func KnownSchemaVersion() int { return len(migrations) }

// SchemaVersion returns the schema version of the open database.
func (c *Catalog) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := c.r.QueryRowContext(ctx, sqlSchemaVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("catalog: schema version: %w", err)
	}
	return v, nil
}

// migrate applies the missing migration steps, one transaction each.
func (c *Catalog) migrate(ctx context.Context) error {
	// Fast path, without the write lock: a database that is up to date
	// (or too new) is recognised by a read. Any error sends us down the
	// write path, which creates schema_version or reports the real error.
	var v int
	if err := c.w.QueryRowContext(ctx, sqlSchemaVersion).Scan(&v); err == nil {
		if err := c.checkVersion(v); err != nil || v == len(migrations) {
			return err
		}
	}
	// A step may rebuild a table that others reference (schema version 2
	// rebuilds jobs), which SQLite allows only with foreign keys off; each
	// step checks them before it commits. The writer has one connection,
	// so the pragma holds for the steps.
	if _, err := c.w.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer c.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	for {
		done, err := c.migrateStep(ctx)
		if err != nil || done {
			return err
		}
	}
}

func (c *Catalog) checkVersion(v int) error {
	if v > len(migrations) {
		return fmt.Errorf("%w: %s has schema version %d, this program knows versions up to %d; use a newer daisy",
			ErrSchemaTooNew, c.path, v, len(migrations))
	}
	return nil
}

// migrateStep applies the next migration step, if any, in one transaction.
// The version is read inside the transaction, which holds the write lock, so
// that two processes opening the same new database do not both migrate it.
func (c *Catalog) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlCreateSchemaVersion); err != nil {
		return false, fmt.Errorf("create schema_version: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, sqlSchemaVersion).Scan(&v); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if err := c.checkVersion(v); err != nil {
		return false, err
	}
	if v == len(migrations) {
		return true, tx.Commit()
	}
	m := migrations[v]
	for i, s := range m.statements {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return false, fmt.Errorf("migrate to schema version %d (%s): statement %d: %w", v+1, m.description, i+1, err)
		}
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return false, fmt.Errorf("migrate to schema version %d (%s): %w", v+1, m.description, err)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertSchemaVersion, v+1, m.description, time.Now().UnixNano()); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: commit: %w", v+1, err)
	}
	return false, nil
}

// foreignKeyCheck fails if a row references a row that does not exist.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("foreign key check: a row of %s (rowid %d) references a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// inTx runs f in a write transaction and commits it if f returns nil.
func (c *Catalog) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// notFound wraps ErrNotFound for sql.ErrNoRows and returns other errors as
// they are.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t in unix nanoseconds, clamped to the range an int64 holds (years
// 1677 to 2262).
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nullNanos is t as a column value: NULL for the zero time.
func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(t), Valid: true}
}

// nowIfZero returns t, or the current time if t is zero.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// fromNanos reads a time column: the zero time for NULL, else UTC.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nullString is s as a column value: NULL for "".
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// nullID is an id as a column value: NULL for 0.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// oneOf reports whether s is one of the allowed values.
func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}
