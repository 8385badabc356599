package catalog

import (
	"context"
	"fmt"
)

const sqlFileCount = `SELECT COUNT(*) FROM files WHERE object_id = ?`

// FileCount returns the number of file rows of an object (deletion rows
// included): what its recorded entry count (Object.Files) must match.
func (c *Catalog) FileCount(ctx context.Context, objectID string) (int64, error) {
	var n int64
	if err := c.r.QueryRowContext(ctx, sqlFileCount, objectID).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: files of %s: %w", objectID, err)
	}
	return n, nil
}
