package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrVolumeInUse is returned (wrapped) by RelabelVolume for a volume that
// still holds a good copy, or that is not recyclable.
var ErrVolumeInUse = errors.New("catalog: volume still holds live data")

// SetObjectStarted rewrites an object's start time. It exists for tests
// that simulate days of backups and for imports of objects whose time is
// known from elsewhere; backups set the time when they add the object.
func (c *Catalog) SetObjectStarted(ctx context.Context, id string, t time.Time) error {
	res, err := c.w.ExecContext(ctx, sqlSetObjectStarted, nanos(t), id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: set start of object %s: %w", id, err)
	}
	return nil
}

// GoodExtentsOnVolume counts the extents of good copies stored on a volume
// (by its ID): 0 means no live data is on it.
func (c *Catalog) GoodExtentsOnVolume(ctx context.Context, volumeID string) (int, error) {
	var n int
	if err := c.r.QueryRowContext(ctx, sqlGoodExtentsOnVolume, volumeID).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: good extents on volume %s: %w", volumeID, err)
	}
	return n, nil
}

// RelabelVolume records that a recyclable volume was labelled anew: in one
// transaction the row of oldID takes the new ID (v.ID), state, block size,
// blocks, bytes, capacity and times of v, keeping its label, pool and
// path. It refuses (ErrVolumeInUse, nothing changed) unless the volume is
// recyclable and no good copy has an extent on it. Extents of failed or
// unfinished copies still pointing at the volume are deleted with it: the
// data they describe is gone. Created and Updated default to now.
func (c *Catalog) RelabelVolume(ctx context.Context, oldID string, v Volume) error {
	if v.ID == "" || oldID == "" {
		return fmt.Errorf("catalog: relabel volume %q: old and new id are required", oldID)
	}
	if v.State == "" {
		v.State = VolumeAppendable
	}
	if !oneOf(v.State, volumeStates...) || v.State == VolumeRecyclable {
		return fmt.Errorf("catalog: relabel volume %s: state %q", oldID, v.State)
	}
	if v.BlockSize <= 0 || v.Blocks < 0 || v.Bytes < 0 || v.Capacity < 0 {
		return fmt.Errorf("catalog: relabel volume %s: block size %d, blocks %d, bytes %d, capacity %d: want a positive block size and no negative count",
			oldID, v.BlockSize, v.Blocks, v.Bytes, v.Capacity)
	}
	v.Created = nowIfZero(v.Created)
	if v.Updated.IsZero() {
		v.Updated = v.Created
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		old, err := scanVolume(tx.QueryRowContext(ctx, sqlVolumeByID, oldID))
		if err != nil {
			return notFound(err)
		}
		if old.State != VolumeRecyclable {
			return fmt.Errorf("%w: volume %s is %s, not recyclable", ErrVolumeInUse, old.Label, old.State)
		}
		var n int
		if err := tx.QueryRowContext(ctx, sqlGoodExtentsOnVolume, oldID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d extent(s) of good copies are on volume %s", ErrVolumeInUse, n, old.Label)
		}
		if v.ID != oldID {
			var id, label string
			err := tx.QueryRowContext(ctx, sqlVolumeClash, v.ID, "").Scan(&id, &label)
			switch {
			case err == nil:
				return fmt.Errorf("%w: volume id %s (label %s)", ErrExists, id, label)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, sqlDeadExtentsOnVolume, oldID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlRelabelVolume, v.ID, v.State, v.BlockSize, v.Blocks, v.Bytes, v.Capacity,
			nanos(v.Created), nanos(v.Updated), nullNanos(v.LastWritten), oldID)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("catalog: relabel volume %s: %w", oldID, err)
	}
	return nil
}
