package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Object is one backup of one source at one time. Level is "full",
// "incremental" or "differential" (not enforced); Base is the object it is
// based on ("" for a full). Length, Records, Files and Hash are known once
// the object is complete.
type Object struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	Client   string    `json:"client"`
	Level    string    `json:"level"`
	Base     string    `json:"base,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	JobID    int64     `json:"job"`
	Length   int64     `json:"length"`
	Records  int64     `json:"records"`
	Files    int64     `json:"files"`
	Hash     string    `json:"hash,omitempty"`
	State    string    `json:"state"`
}

// ObjectFilter selects objects; zero fields select everything.
type ObjectFilter struct {
	Source string
	Client string
	JobID  int64
	State  string
}

// AddObject records a new object in state "writing". ID, Source, Client and
// Level are required; Started defaults to now. The client and source are
// recorded too if they are missing. Length, Records, Files, Hash, Finished
// and State are ignored: FinishObject sets them.
func (c *Catalog) AddObject(ctx context.Context, o Object) error {
	if o.ID == "" || o.Source == "" || o.Client == "" || o.Level == "" {
		return fmt.Errorf("catalog: add object %q: id, source, client and level are required", o.ID)
	}
	started := nanos(nowIfZero(o.Started))
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		var state string
		var length int64
		err := tx.QueryRowContext(ctx, sqlObjectExists, o.ID).Scan(&state, &length)
		if err == nil {
			return fmt.Errorf("%w (state %s)", ErrExists, state)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := time.Now().UnixNano()
		if _, err := tx.ExecContext(ctx, sqlEnsureClient, o.Client, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlEnsureSource, o.Source, o.Client, now, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlAddObject, o.ID, o.Source, o.Client, o.Level, nullString(o.Base),
			started, nullID(o.JobID))
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: add object %s: %w", o.ID, err)
	}
	return nil
}

// FinishObject records the end of an object that is being written: its
// length, record and file counts, content hash and state ("complete" or
// "failed"); finished defaults to now. An object that is complete or failed
// already is not changed (error).
func (c *Catalog) FinishObject(ctx context.Context, id string, length, records, files int64, hash, state string, finished time.Time) error {
	if !oneOf(state, ObjectComplete, ObjectFailed) {
		return fmt.Errorf("catalog: finish object %s: state %q is not complete or failed", id, state)
	}
	if length < 0 || records < 0 || files < 0 {
		return fmt.Errorf("catalog: finish object %s: negative length %d, records %d or files %d", id, length, records, files)
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlFinishObject, length, records, files, hash, state,
			nanos(nowIfZero(finished)), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var was string
		var l int64
		if err := tx.QueryRowContext(ctx, sqlObjectExists, id).Scan(&was, &l); err != nil {
			return notFound(err)
		}
		return fmt.Errorf("object is %s already", was)
	})
	if err != nil {
		return fmt.Errorf("catalog: finish object %s: %w", id, err)
	}
	return nil
}

// FailObject marks a complete object failed when none of its copies is
// good (every copy failed while it was written); it reports whether it
// did. An object with a good copy is not changed.
func (c *Catalog) FailObject(ctx context.Context, id string) (bool, error) {
	res, err := c.w.ExecContext(ctx, sqlFailObject, id)
	if err != nil {
		return false, fmt.Errorf("catalog: fail object %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("catalog: fail object %s: %w", id, err)
	}
	return n == 1, nil
}

// DeleteObject removes an object with its copies, their extents and its
// files. Objects based on it are not touched.
func (c *Catalog) DeleteObject(ctx context.Context, id string) error {
	res, err := c.w.ExecContext(ctx, sqlDeleteObject, id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: delete object %s: %w", id, err)
	}
	return nil
}

func scanObject(s scanner) (Object, error) {
	var o Object
	var base sql.NullString
	var started, finished, job sql.NullInt64
	err := s.Scan(&o.ID, &o.Source, &o.Client, &o.Level, &base, &started, &finished, &job,
		&o.Length, &o.Records, &o.Files, &o.Hash, &o.State)
	if err != nil {
		return Object{}, err
	}
	o.Base, o.JobID = base.String, job.Int64
	o.Started, o.Finished = fromNanos(started), fromNanos(finished)
	return o, nil
}

// Object returns the object with that ID, or the one object whose ID starts
// with id. It returns ErrNotFound when none matches and ErrAmbiguous when
// several do.
func (c *Catalog) Object(ctx context.Context, id string) (Object, error) {
	if id == "" {
		return Object{}, fmt.Errorf("catalog: object: empty id: %w", ErrNotFound)
	}
	o, err := scanObject(c.r.QueryRowContext(ctx, sqlObject, id))
	if err == nil {
		return o, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Object{}, fmt.Errorf("catalog: object %s: %w", id, err)
	}
	matches, err := c.objectsByPrefix(ctx, id)
	if err == nil && len(matches) == 0 && strings.ToLower(id) != id {
		// IDs are written in lower case; a prefix typed in upper case
		// still finds them.
		matches, err = c.objectsByPrefix(ctx, strings.ToLower(id))
	}
	switch {
	case err != nil:
		return Object{}, fmt.Errorf("catalog: object %s: %w", id, err)
	case len(matches) == 0:
		return Object{}, fmt.Errorf("catalog: object %s: %w", id, ErrNotFound)
	case len(matches) > 1:
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = m.ID
		}
		more := ""
		if len(matches) > 2 {
			ids = ids[:2]
			more = " ..."
		}
		return Object{}, fmt.Errorf("catalog: object %s: %w: matches %s%s; give more of the id",
			id, ErrAmbiguous, strings.Join(ids, ", "), more)
	}
	return matches[0], nil
}

// objectsByPrefix returns up to three objects whose ID starts with prefix.
func (c *Catalog) objectsByPrefix(ctx context.Context, prefix string) ([]Object, error) {
	var rows *sql.Rows
	var err error
	if upper, ok := prefixEnd(prefix); ok {
		rows, err = c.r.QueryContext(ctx, sqlObjectPrefix, prefix, upper)
	} else {
		rows, err = c.r.QueryContext(ctx, sqlObjectPrefixOpen, prefix)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(o.ID, prefix) { // the open range may overshoot
			out = append(out, o)
		}
	}
	return out, rows.Err()
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, in byte order; ok is false if there is none (prefix is
// empty or all 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// Objects lists the objects that match the filter, ordered by start time.
func (c *Catalog) Objects(ctx context.Context, f ObjectFilter) ([]Object, error) {
	var where []string
	var args []any
	if f.Source != "" {
		where, args = append(where, sqlObjectsWhereSource), append(args, f.Source)
	}
	if f.Client != "" {
		where, args = append(where, sqlObjectsWhereClient), append(args, f.Client)
	}
	if f.JobID != 0 {
		where, args = append(where, sqlObjectsWhereJob), append(args, f.JobID)
	}
	if f.State != "" {
		where, args = append(where, sqlObjectsWhereState), append(args, f.State)
	}
	q := sqlObjects
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += sqlObjectsOrder
	rows, err := c.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: objects: %w", err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: objects: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: objects: %w", err)
	}
	return out, nil
}

// LatestObject returns the newest complete object of a source that has a
// good copy (the newest that can be restored), or ErrNotFound.
func (c *Catalog) LatestObject(ctx context.Context, source string) (Object, error) {
	o, err := scanObject(c.r.QueryRowContext(ctx, sqlLatestObject, source))
	if err != nil {
		return Object{}, fmt.Errorf("catalog: latest object of %s: %w", source, notFound(err))
	}
	return o, nil
}

// LatestComplete returns the newest complete object of a source whatever
// the state of its copies (the one restore --salvage reads), or
// ErrNotFound.
func (c *Catalog) LatestComplete(ctx context.Context, source string) (Object, error) {
	o, err := scanObject(c.r.QueryRowContext(ctx, sqlLatestComplete, source))
	if err != nil {
		return Object{}, fmt.Errorf("catalog: latest complete object of %s: %w", source, notFound(err))
	}
	return o, nil
}
