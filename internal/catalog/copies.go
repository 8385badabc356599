package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Copy is one copy of an object. Number counts from 1 per object. Role is
// "backup", "mirror" or "copy"; Level is the mirror level or copy stage (0
// for the backup copy). Updated is the time of the last change of state.
type Copy struct {
	ObjectID   string    `json:"object"`
	Number     int       `json:"number"`
	Role       string    `json:"role"`
	Level      int       `json:"level"`
	MediaAgent string    `json:"media_agent"`
	Device     string    `json:"device"`
	Pool       string    `json:"pool"`
	State      string    `json:"state"`
	Error      string    `json:"error,omitempty"`
	JobID      int64     `json:"job"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// Extent is a run of an object's stream within one copy, stored in
// consecutive blocks of one volume: the records from stream offset
// FirstOffset up to EndOffset (the offset after the last data byte), in
// blocks FirstBlock to LastBlock. Seq orders the extents of a copy from 0.
type Extent struct {
	ObjectID    string `json:"object"`
	Copy        int    `json:"copy"`
	Seq         int    `json:"seq"`
	VolumeID    string `json:"volume_id"`
	FirstBlock  int64  `json:"first_block"`
	LastBlock   int64  `json:"last_block"`
	FirstOffset int64  `json:"first_offset"`
	EndOffset   int64  `json:"end_offset"`
	Records     int64  `json:"records"`
	Bytes       int64  `json:"bytes"`
}

// AddCopy records a new copy of an existing object, in state "writing".
// Created defaults to now; State and Error are ignored.
func (c *Catalog) AddCopy(ctx context.Context, cp Copy) error {
	if cp.ObjectID == "" || cp.Number < 1 {
		return fmt.Errorf("catalog: add copy %s/%d: want an object id and a number from 1", cp.ObjectID, cp.Number)
	}
	if !oneOf(cp.Role, RoleBackup, RoleMirror, RoleCopy) {
		return fmt.Errorf("catalog: add copy %s/%d: role %q is not backup, mirror or copy", cp.ObjectID, cp.Number, cp.Role)
	}
	if cp.Level < 0 {
		return fmt.Errorf("catalog: add copy %s/%d: negative level %d", cp.ObjectID, cp.Number, cp.Level)
	}
	created := nanos(nowIfZero(cp.Created))
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		var state string
		var length int64
		if err := tx.QueryRowContext(ctx, sqlObjectExists, cp.ObjectID).Scan(&state, &length); err != nil {
			return fmt.Errorf("object: %w", notFound(err))
		}
		err := tx.QueryRowContext(ctx, sqlCopyExists, cp.ObjectID, cp.Number).Scan(&state)
		if err == nil {
			return fmt.Errorf("%w (state %s)", ErrExists, state)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlAddCopy, cp.ObjectID, cp.Number, cp.Role, cp.Level, cp.MediaAgent,
			cp.Device, cp.Pool, nullID(cp.JobID), created, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: add copy %s/%d: %w", cp.ObjectID, cp.Number, err)
	}
	return nil
}

// FailCopy marks a copy failed, whatever its state, with the reason. The
// extents of a copy that was good are kept: they still say where its data
// is.
func (c *Catalog) FailCopy(ctx context.Context, objectID string, number int, reason string) error {
	res, err := c.w.ExecContext(ctx, sqlFailCopy, reason, time.Now().UnixNano(), objectID, number)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: fail copy %s/%d: %w", objectID, number, err)
	}
	return nil
}

// ReviveCopy marks a failed copy good again, after a check that had failed
// it (its error starting with failedBy, e.g. "verify: ") read it back clean.
// It refuses, and changes nothing, unless the object is complete, the copy
// is failed with such an error, and its stored extents cover the object
// without a gap: only CommitCopy stores extents, so a copy that failed
// while it was being written, never complete, never becomes good.
func (c *Catalog) ReviveCopy(ctx context.Context, objectID string, number int, failedBy string) error {
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		length, err := completeLength(ctx, tx, objectID)
		if err != nil {
			return err
		}
		cp, err := scanCopy(tx.QueryRowContext(ctx, sqlCopy, objectID, number))
		if err != nil {
			return notFound(err)
		}
		switch {
		case cp.State != CopyFailed:
			return fmt.Errorf("copy is %s, not failed", cp.State)
		case failedBy == "" || !strings.HasPrefix(cp.Error, failedBy):
			return fmt.Errorf("copy did not fail a check of its data (%q): it stays failed", cp.Error)
		}
		exts, err := queryExtentsTx(ctx, tx, objectID, number)
		if err != nil {
			return err
		}
		if err := checkExtents(objectID, number, length, exts); err != nil {
			return fmt.Errorf("the copy was never complete: %w", err)
		}
		res, err := tx.ExecContext(ctx, sqlReviveCopy, time.Now().UnixNano(), objectID, number)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("catalog: revive copy %s/%d: %w", objectID, number, err)
	}
	return nil
}

func queryExtentsTx(ctx context.Context, tx *sql.Tx, objectID string, number int) ([]Extent, error) {
	rows, err := tx.QueryContext(ctx, sqlExtents, objectID, number)
	if err != nil {
		return nil, err
	}
	return collectExtents(rows)
}

// collectExtents reads every extent of rows and closes them.
func collectExtents(rows *sql.Rows) ([]Extent, error) {
	defer rows.Close()
	var out []Extent
	for rows.Next() {
		e, err := scanExtent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteCopy removes a copy and its extents from the catalog.
func (c *Catalog) DeleteCopy(ctx context.Context, objectID string, number int) error {
	res, err := c.w.ExecContext(ctx, sqlDeleteCopy, objectID, number)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: delete copy %s/%d: %w", objectID, number, err)
	}
	return nil
}

// CommitCopy stores the extents of a copy that is being written and marks
// it good, in one transaction. It refuses (and changes nothing) unless the
// object is complete, the copy is in state "writing", every extent's volume
// is in the catalog, and the extents, in stream order, cover the object's
// stream without a gap: the first starts at offset 0, each starts at or
// before the end of the one before and ends at or after it, and the last
// ends at the object's length. ObjectID and Copy of the extents may be left
// zero; Seq is set from the order of the slice (0, 1, ...).
func (c *Catalog) CommitCopy(ctx context.Context, objectID string, number int, extents []Extent) error {
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		length, err := completeLength(ctx, tx, objectID)
		if err != nil {
			return err
		}
		var copyState string
		if err := tx.QueryRowContext(ctx, sqlCopyExists, objectID, number).Scan(&copyState); err != nil {
			return notFound(err)
		}
		if copyState != CopyWriting {
			return fmt.Errorf("copy is %s, not writing", copyState)
		}
		if err := checkExtents(objectID, number, length, extents); err != nil {
			return err
		}
		seen := map[string]bool{}
		for i, e := range extents {
			if seen[e.VolumeID] {
				continue
			}
			var one int
			if err := tx.QueryRowContext(ctx, sqlVolumeExists, e.VolumeID).Scan(&one); err != nil {
				return fmt.Errorf("extent %d: volume %s: %w", i, e.VolumeID, notFound(err))
			}
			seen[e.VolumeID] = true
		}
		if _, err := tx.ExecContext(ctx, sqlClearExtents, objectID, number); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, sqlAddExtent)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range extents {
			_, err := stmt.ExecContext(ctx, objectID, number, i, e.VolumeID, e.FirstBlock, e.LastBlock,
				e.FirstOffset, e.EndOffset, e.Records, e.Bytes)
			if err != nil {
				return fmt.Errorf("extent %d: %w", i, err)
			}
		}
		res, err := tx.ExecContext(ctx, sqlGoodCopy, time.Now().UnixNano(), objectID, number)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("catalog: commit copy %s/%d: %w", objectID, number, err)
	}
	return nil
}

// completeLength returns the length of a complete object; an error for
// one that is missing or not complete.
func completeLength(ctx context.Context, tx *sql.Tx, objectID string) (int64, error) {
	var objState string
	var length int64
	if err := tx.QueryRowContext(ctx, sqlObjectExists, objectID).Scan(&objState, &length); err != nil {
		return 0, fmt.Errorf("object: %w", notFound(err))
	}
	if objState != ObjectComplete {
		return 0, fmt.Errorf("object is %s, not complete", objState)
	}
	return length, nil
}

// checkExtents checks that extents, in order, cover an object stream of the
// given length without a gap.
func checkExtents(objectID string, number int, length int64, extents []Extent) error {
	if len(extents) == 0 {
		return errors.New("no extents")
	}
	var prev Extent
	for i, e := range extents {
		switch {
		case e.ObjectID != "" && e.ObjectID != objectID:
			return fmt.Errorf("extent %d belongs to object %s", i, e.ObjectID)
		case e.Copy != 0 && e.Copy != number:
			return fmt.Errorf("extent %d belongs to copy %d", i, e.Copy)
		case e.VolumeID == "":
			return fmt.Errorf("extent %d has no volume", i)
		case e.FirstBlock < 0 || e.LastBlock < e.FirstBlock:
			return fmt.Errorf("extent %d: blocks %d to %d", i, e.FirstBlock, e.LastBlock)
		case e.Records < 0 || e.Bytes < 0:
			return fmt.Errorf("extent %d: negative records %d or bytes %d", i, e.Records, e.Bytes)
		case e.FirstOffset < 0 || e.EndOffset < e.FirstOffset:
			return fmt.Errorf("extent %d: offsets %d to %d", i, e.FirstOffset, e.EndOffset)
		case e.EndOffset > length:
			return fmt.Errorf("extent %d ends at offset %d, beyond the object's length %d", i, e.EndOffset, length)
		case i == 0 && e.FirstOffset != 0:
			return fmt.Errorf("gap: the first extent starts at offset %d, not 0", e.FirstOffset)
		case i > 0 && e.FirstOffset > prev.EndOffset:
			return fmt.Errorf("gap: extent %d starts at offset %d, extent %d ends at %d", i, e.FirstOffset, i-1, prev.EndOffset)
		case i > 0 && (e.FirstOffset < prev.FirstOffset || e.EndOffset < prev.EndOffset):
			return fmt.Errorf("extent %d (offsets %d to %d) is out of stream order after extent %d (offsets %d to %d)",
				i, e.FirstOffset, e.EndOffset, i-1, prev.FirstOffset, prev.EndOffset)
		}
		prev = e
	}
	if prev.EndOffset != length {
		return fmt.Errorf("gap: the extents end at offset %d, the object's length is %d", prev.EndOffset, length)
	}
	return nil
}

func scanCopy(s scanner) (Copy, error) {
	var cp Copy
	var job, created, updated sql.NullInt64
	err := s.Scan(&cp.ObjectID, &cp.Number, &cp.Role, &cp.Level, &cp.MediaAgent, &cp.Device, &cp.Pool,
		&cp.State, &cp.Error, &job, &created, &updated)
	if err != nil {
		return Copy{}, err
	}
	cp.JobID = job.Int64
	cp.Created, cp.Updated = fromNanos(created), fromNanos(updated)
	return cp, nil
}

// Copy returns one copy of an object, or ErrNotFound.
func (c *Catalog) Copy(ctx context.Context, objectID string, number int) (Copy, error) {
	cp, err := scanCopy(c.r.QueryRowContext(ctx, sqlCopy, objectID, number))
	if err != nil {
		return Copy{}, fmt.Errorf("catalog: copy %s/%d: %w", objectID, number, notFound(err))
	}
	return cp, nil
}

// Copies lists the copies of an object by number.
func (c *Catalog) Copies(ctx context.Context, objectID string) ([]Copy, error) {
	return c.queryCopies(ctx, "copies of "+objectID, sqlCopies, objectID)
}

// AllCopies lists every copy, by object ID and number.
func (c *Catalog) AllCopies(ctx context.Context) ([]Copy, error) {
	return c.queryCopies(ctx, "all copies", sqlAllCopies)
}

// CopiesByState lists the copies in a state ("writing", "good" or
// "failed"), by object ID and number.
func (c *Catalog) CopiesByState(ctx context.Context, state string) ([]Copy, error) {
	return c.queryCopies(ctx, state+" copies", sqlCopiesByState, state)
}

func (c *Catalog) queryCopies(ctx context.Context, what, query string, args ...any) ([]Copy, error) {
	rows, err := c.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Copy
	for rows.Next() {
		cp, err := scanCopy(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", what, err)
		}
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	return out, nil
}

func scanExtent(s scanner) (Extent, error) {
	var e Extent
	err := s.Scan(&e.ObjectID, &e.Copy, &e.Seq, &e.VolumeID, &e.FirstBlock, &e.LastBlock,
		&e.FirstOffset, &e.EndOffset, &e.Records, &e.Bytes)
	return e, err
}

// Extents lists the extents of one copy of an object by Seq.
func (c *Catalog) Extents(ctx context.Context, objectID string, copy int) ([]Extent, error) {
	return c.queryExtents(ctx, fmt.Sprintf("extents of %s/%d", objectID, copy), sqlExtents, objectID, copy)
}

// VolumeExtents lists the extents stored on a volume (by its ID), by first
// block.
func (c *Catalog) VolumeExtents(ctx context.Context, volumeID string) ([]Extent, error) {
	return c.queryExtents(ctx, "extents on volume "+volumeID, sqlVolumeExtents, volumeID)
}

func (c *Catalog) queryExtents(ctx context.Context, what, query string, args ...any) ([]Extent, error) {
	rows, err := c.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	out, err := collectExtents(rows)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	return out, nil
}
