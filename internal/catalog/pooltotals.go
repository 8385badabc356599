package catalog

import (
	"context"
	"fmt"
)

// PoolTotals sums up the volumes of one pool from the catalog. Used is
// the bytes its volumes hold (blocks written, labels included), Live the
// bytes of the extents of good copies on them, Recyclable the bytes of
// its recyclable volumes (held until they are relabelled or reclaimed).
// Volumes counts the volumes per state.
type PoolTotals struct {
	Pool       string           `json:"pool"`
	Volumes    int              `json:"volumes"`
	Used       int64            `json:"used_bytes"`
	Live       int64            `json:"live_bytes"`
	Recyclable int64            `json:"recyclable_bytes"`
	States     map[string]int   `json:"states"`
	StateBytes map[string]int64 `json:"state_bytes"`
}

// PoolsTotals returns the totals of every pool that has a volume, or a
// copy on one, ordered by name; pool "" means all.
func (c *Catalog) PoolsTotals(ctx context.Context, pool string) ([]PoolTotals, error) {
	byPool := map[string]*PoolTotals{}
	var order []string
	get := func(name string) *PoolTotals {
		t := byPool[name]
		if t == nil {
			t = &PoolTotals{Pool: name, States: map[string]int{}, StateBytes: map[string]int64{}}
			byPool[name] = t
			order = append(order, name)
		}
		return t
	}
	rows, err := c.r.QueryContext(ctx, sqlPoolStateTotals)
	if err != nil {
		return nil, fmt.Errorf("catalog: pools totals: %w", err)
	}
	for rows.Next() {
		var name, state string
		var n int
		var bytes int64
		if err := rows.Scan(&name, &state, &n, &bytes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("catalog: pools totals: %w", err)
		}
		t := get(name)
		t.Volumes += n
		t.Used += bytes
		t.States[state] += n
		t.StateBytes[state] += bytes
		if state == VolumeRecyclable {
			t.Recyclable += bytes
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("catalog: pools totals: %w", err)
	}
	rows.Close()
	rows, err = c.r.QueryContext(ctx, sqlPoolLiveBytes)
	if err != nil {
		return nil, fmt.Errorf("catalog: pools live bytes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var bytes int64
		if err := rows.Scan(&name, &bytes); err != nil {
			return nil, fmt.Errorf("catalog: pools live bytes: %w", err)
		}
		get(name).Live = bytes
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: pools live bytes: %w", err)
	}
	out := make([]PoolTotals, 0, len(order))
	for _, name := range order {
		if pool == "" || name == pool {
			out = append(out, *byPool[name])
		}
	}
	return out, nil
}
