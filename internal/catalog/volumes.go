package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Client is a host with data to protect.
type Client struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Source is a named set of paths on one client.
type Source struct {
	Name    string    `json:"name"`
	Client  string    `json:"client"`
	Paths   []string  `json:"paths"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Pool is a set of volumes.
type Pool struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Directory string    `json:"directory"`
	Created   time.Time `json:"created"`
}

// Volume is one cartridge or volume file. Blocks is the number of blocks
// written, Bytes the bytes they hold, Capacity the size of the medium (0 if
// unknown). LastWritten is when the block count last changed.
type Volume struct {
	ID          string    `json:"id"`
	Label       string    `json:"label"`
	Pool        string    `json:"pool"`
	State       string    `json:"state"`
	BlockSize   int       `json:"block_size"`
	Blocks      int64     `json:"blocks"`
	Bytes       int64     `json:"bytes"`
	Capacity    int64     `json:"capacity"`
	Path        string    `json:"path"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	LastWritten time.Time `json:"last_written"`
}

// SaveSource records a source, or updates its client and paths; its client
// is recorded too if it is missing.
func (c *Catalog) SaveSource(ctx context.Context, s Source) error {
	if s.Name == "" || s.Client == "" {
		return fmt.Errorf("catalog: save source %q: name and client are required", s.Name)
	}
	paths := s.Paths
	if paths == nil {
		paths = []string{}
	}
	js, err := json.Marshal(paths)
	if err != nil {
		return fmt.Errorf("catalog: save source %s: %w", s.Name, err)
	}
	now := time.Now().UnixNano()
	created := nanos(nowIfZero(s.Created))
	err = c.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlEnsureClient, s.Client, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlSaveSource, s.Name, s.Client, string(js), created, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: save source %s: %w", s.Name, err)
	}
	return nil
}

// Clients lists the clients by name.
func (c *Catalog) Clients(ctx context.Context) ([]Client, error) {
	rows, err := c.r.QueryContext(ctx, sqlClients)
	if err != nil {
		return nil, fmt.Errorf("catalog: clients: %w", err)
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		var cl Client
		var created sql.NullInt64
		if err := rows.Scan(&cl.Name, &created); err != nil {
			return nil, fmt.Errorf("catalog: clients: %w", err)
		}
		cl.Created = fromNanos(created)
		out = append(out, cl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: clients: %w", err)
	}
	return out, nil
}

func scanSource(s scanner) (Source, error) {
	var src Source
	var paths string
	var created, updated sql.NullInt64
	if err := s.Scan(&src.Name, &src.Client, &paths, &created, &updated); err != nil {
		return Source{}, err
	}
	if err := json.Unmarshal([]byte(paths), &src.Paths); err != nil {
		return Source{}, fmt.Errorf("paths of source %s: %w", src.Name, err)
	}
	src.Created, src.Updated = fromNanos(created), fromNanos(updated)
	return src, nil
}

// Source returns the named source, or ErrNotFound.
func (c *Catalog) Source(ctx context.Context, name string) (Source, error) {
	s, err := scanSource(c.r.QueryRowContext(ctx, sqlSource, name))
	if err != nil {
		return Source{}, fmt.Errorf("catalog: source %s: %w", name, notFound(err))
	}
	return s, nil
}

// Sources lists the sources by name.
func (c *Catalog) Sources(ctx context.Context) ([]Source, error) {
	rows, err := c.r.QueryContext(ctx, sqlSources)
	if err != nil {
		return nil, fmt.Errorf("catalog: sources: %w", err)
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: sources: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: sources: %w", err)
	}
	return out, nil
}

// EnsurePool records a pool if no pool of that name exists; an existing pool
// is left as it is.
func (c *Catalog) EnsurePool(ctx context.Context, p Pool) error {
	if p.Name == "" || p.Type == "" {
		return fmt.Errorf("catalog: ensure pool %q: name and type are required", p.Name)
	}
	_, err := c.w.ExecContext(ctx, sqlEnsurePool, p.Name, p.Type, p.Directory, nanos(nowIfZero(p.Created)))
	if err != nil {
		return fmt.Errorf("catalog: ensure pool %s: %w", p.Name, err)
	}
	return nil
}

func scanPool(s scanner) (Pool, error) {
	var p Pool
	var created sql.NullInt64
	if err := s.Scan(&p.Name, &p.Type, &p.Directory, &created); err != nil {
		return Pool{}, err
	}
	p.Created = fromNanos(created)
	return p, nil
}

// Pool returns the named pool, or ErrNotFound.
func (c *Catalog) Pool(ctx context.Context, name string) (Pool, error) {
	p, err := scanPool(c.r.QueryRowContext(ctx, sqlPool, name))
	if err != nil {
		return Pool{}, fmt.Errorf("catalog: pool %s: %w", name, notFound(err))
	}
	return p, nil
}

// Pools lists the pools by name.
func (c *Catalog) Pools(ctx context.Context) ([]Pool, error) {
	rows, err := c.r.QueryContext(ctx, sqlPools)
	if err != nil {
		return nil, fmt.Errorf("catalog: pools: %w", err)
	}
	defer rows.Close()
	var out []Pool
	for rows.Next() {
		p, err := scanPool(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: pools: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: pools: %w", err)
	}
	return out, nil
}

var volumeStates = []string{VolumeBlank, VolumeAppendable, VolumeFull, VolumeRecyclable, VolumeRetired}

// CreateVolume records a new volume. ID, Label, Pool (an existing pool) and
// BlockSize are required; State defaults to "blank", Created and Updated to
// now.
func (c *Catalog) CreateVolume(ctx context.Context, v Volume) error {
	if v.ID == "" || v.Label == "" || v.Pool == "" {
		return fmt.Errorf("catalog: create volume %q: id, label and pool are required", v.Label)
	}
	if v.State == "" {
		v.State = VolumeBlank
	}
	if !oneOf(v.State, volumeStates...) {
		return fmt.Errorf("catalog: create volume %s: unknown state %q", v.Label, v.State)
	}
	if v.BlockSize <= 0 || v.Blocks < 0 || v.Bytes < 0 || v.Capacity < 0 {
		return fmt.Errorf("catalog: create volume %s: block size %d, blocks %d, bytes %d, capacity %d: want a positive block size and no negative count",
			v.Label, v.BlockSize, v.Blocks, v.Bytes, v.Capacity)
	}
	v.Created = nowIfZero(v.Created)
	if v.Updated.IsZero() {
		v.Updated = v.Created
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		var id, label string
		err := tx.QueryRowContext(ctx, sqlVolumeClash, v.ID, v.Label).Scan(&id, &label)
		switch {
		case err == nil && id == v.ID:
			return fmt.Errorf("%w: volume id %s (label %s)", ErrExists, id, label)
		case err == nil:
			return fmt.Errorf("%w: volume label %s (id %s)", ErrExists, label, id)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := scanPool(tx.QueryRowContext(ctx, sqlPool, v.Pool)); err != nil {
			return fmt.Errorf("pool %s: %w", v.Pool, notFound(err))
		}
		_, err = tx.ExecContext(ctx, sqlCreateVolume, v.ID, v.Label, v.Pool, v.State, v.BlockSize,
			v.Blocks, v.Bytes, v.Capacity, v.Path, nanos(v.Created), nanos(v.Updated), nullNanos(v.LastWritten))
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: create volume %s: %w", v.Label, err)
	}
	return nil
}

// UpdateVolume records a volume's state, blocks and bytes, found by ID.
// Updated defaults to now. LastWritten, if zero, is set to Updated when the
// block count changes and kept otherwise. Other fields are ignored.
func (c *Catalog) UpdateVolume(ctx context.Context, v Volume) error {
	if !oneOf(v.State, volumeStates...) {
		return fmt.Errorf("catalog: update volume %s: unknown state %q", v.ID, v.State)
	}
	if v.Blocks < 0 || v.Bytes < 0 {
		return fmt.Errorf("catalog: update volume %s: negative blocks %d or bytes %d", v.ID, v.Blocks, v.Bytes)
	}
	updated := nowIfZero(v.Updated)
	written := v.LastWritten
	if written.IsZero() {
		written = updated
	}
	res, err := c.w.ExecContext(ctx, sqlUpdateVolume, v.State, v.Blocks, v.Bytes, nanos(updated),
		v.Blocks, nanos(written), nullNanos(v.LastWritten), v.ID)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: update volume %s: %w", v.ID, err)
	}
	return nil
}

// mustAffect returns ErrNotFound if an UPDATE or DELETE matched no row.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func scanVolume(s scanner) (Volume, error) {
	var v Volume
	var created, updated, written sql.NullInt64
	err := s.Scan(&v.ID, &v.Label, &v.Pool, &v.State, &v.BlockSize, &v.Blocks, &v.Bytes, &v.Capacity,
		&v.Path, &created, &updated, &written)
	if err != nil {
		return Volume{}, err
	}
	v.Created, v.Updated, v.LastWritten = fromNanos(created), fromNanos(updated), fromNanos(written)
	return v, nil
}

// Volume returns the volume with that ID or, failing that, that label; or
// ErrNotFound.
func (c *Catalog) Volume(ctx context.Context, idOrLabel string) (Volume, error) {
	v, err := scanVolume(c.r.QueryRowContext(ctx, sqlVolume, idOrLabel, idOrLabel, idOrLabel))
	if err != nil {
		return Volume{}, fmt.Errorf("catalog: volume %s: %w", idOrLabel, notFound(err))
	}
	return v, nil
}

// Volumes lists the volumes of a pool, or of all pools if pool is "",
// ordered by pool and creation time.
func (c *Catalog) Volumes(ctx context.Context, pool string) ([]Volume, error) {
	var rows *sql.Rows
	var err error
	if pool == "" {
		rows, err = c.r.QueryContext(ctx, sqlVolumes)
	} else {
		rows, err = c.r.QueryContext(ctx, sqlVolumesInPool, pool)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: volumes: %w", err)
	}
	defer rows.Close()
	var out []Volume
	for rows.Next() {
		v, err := scanVolume(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: volumes: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: volumes: %w", err)
	}
	return out, nil
}
