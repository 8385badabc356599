package catalog

import (
	"context"
	"fmt"
)

// Counts are the numbers of rows of the main tables.
type Counts struct {
	Objects int64 `json:"objects"`
	Copies  int64 `json:"copies"`
	Volumes int64 `json:"volumes"`
}

// Counts returns how many objects, copies and volumes the catalog holds.
func (c *Catalog) Counts(ctx context.Context) (Counts, error) {
	var n Counts
	for _, q := range []struct {
		sql string
		dst *int64
	}{{sqlCountObjects, &n.Objects}, {sqlCountCopies, &n.Copies}, {sqlCountVolumes, &n.Volumes}} {
		if err := c.r.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			return Counts{}, fmt.Errorf("catalog: counts: %w", err)
		}
	}
	return n, nil
}

// SetObjectFiles records the number of archive entries of an object, in any
// state. A catalog rebuilt from volumes learns it only by reading the
// object, which needs the object complete and a good copy first.
func (c *Catalog) SetObjectFiles(ctx context.Context, id string, files int64) error {
	if files < 0 {
		return fmt.Errorf("catalog: set files of object %s: negative count %d", id, files)
	}
	res, err := c.w.ExecContext(ctx, sqlSetObjectFiles, files, id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: set files of object %s: %w", id, err)
	}
	return nil
}

// DeleteFiles removes every file entry of an object: a rebuild that
// recorded part of an object's file list and then could not read the rest
// leaves no list rather than a short one.
func (c *Catalog) DeleteFiles(ctx context.Context, id string) error {
	if _, err := c.w.ExecContext(ctx, `DELETE FROM files WHERE object_id = ?`, id); err != nil {
		return fmt.Errorf("catalog: delete the files of object %s: %w", id, err)
	}
	return nil
}
