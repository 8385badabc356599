package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"daisy/internal/device"
)

// manifestName is the manifest's name below the volume's prefix.
const manifestName = "manifest.json"

// manifestFormat is the version of the manifest's layout.
const manifestFormat = 1

// maxManifest bounds the size of a manifest read (a part is at least one
// block, a manifest line about 80 bytes: 16 MiB is 200,000 parts).
const maxManifest = 16 << 20

// manifest lists the parts of a volume in block order; together they hold
// blocks 0 to Blocks-1 with no gap.
type manifest struct {
	Format    int    `json:"format"`
	Label     string `json:"label"`
	BlockSize int    `json:"block_size"`
	// Blocks is the number of blocks on the volume.
	Blocks int64 `json:"blocks"`
	// NextPart is the number of the next part to upload: part numbers
	// are never used twice on a volume.
	NextPart int64  `json:"next_part"`
	Parts    []part `json:"parts"`
	// Updated is when the manifest was written.
	Updated time.Time `json:"updated"`
}

// part is an object of whole blocks: blocks First to First+Blocks-1 of
// the volume are its first Blocks × block size bytes. It may be longer
// (a part cut by Truncate keeps its object).
type part struct {
	Name   string `json:"name"`
	First  int64  `json:"first"`
	Blocks int64  `json:"blocks"`
}

// partName is the object name of part seq starting at block first.
func partName(seq, first int64) string { return fmt.Sprintf("part-%08d-%012d", seq, first) }

// parsePartName reads a part's number and first block from its name.
func parsePartName(name string) (seq, first int64, ok bool) {
	rest, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(a, 10, 64)
	first, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || seq < 1 || first < 0 || len(a) < 8 || len(b) < 12 {
		return 0, 0, false
	}
	return seq, first, true
}

// check verifies that the manifest describes a volume: known format,
// a block size, parts in order without gaps covering Blocks.
func (m *manifest) check() error {
	switch {
	case m.Format != manifestFormat:
		return fmt.Errorf("manifest format %d, this daisy reads %d (a newer daisy wrote it?)", m.Format, manifestFormat)
	case m.BlockSize < 1 || m.BlockSize > MaxBlockSize:
		return fmt.Errorf("block size %d, outside 1..%d", m.BlockSize, MaxBlockSize)
	case m.NextPart < 1:
		return fmt.Errorf("next part %d, want at least 1", m.NextPart)
	}
	next := int64(0)
	for i, p := range m.Parts {
		seq, first, ok := parsePartName(p.Name)
		switch {
		case !ok:
			return fmt.Errorf("part %d has the name %q, not part-NUMBER-BLOCK", i, p.Name)
		case first != p.First || p.First != next:
			return fmt.Errorf("part %s starts at block %d, want %d", p.Name, p.First, next)
		case p.Blocks < 1:
			return fmt.Errorf("part %s holds %d blocks", p.Name, p.Blocks)
		case seq >= m.NextPart:
			return fmt.Errorf("part %s is numbered at or after the next part %d", p.Name, m.NextPart)
		}
		next += p.Blocks
	}
	if next != m.Blocks {
		return fmt.Errorf("parts hold %d blocks, the manifest says %d", next, m.Blocks)
	}
	return nil
}

// errNoManifest: the volume has no manifest object.
var errNoManifest = errors.New("no manifest")

// getManifest reads and checks the manifest of the volume at ref.
func (l *Library) getManifest(ctx context.Context, ref string) (*manifest, error) {
	key := l.volKey(ref) + manifestName
	var data []byte
	missing := false
	err := l.retry(ctx, "read "+l.objName(key), func(ctx context.Context) error {
		missing = false
		o, err := l.c.GetObject(ctx, l.o.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer o.Close()
		data, err = io.ReadAll(io.LimitReader(o, maxManifest+1))
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" {
			missing = true
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case missing:
		return nil, fmt.Errorf("s3: %s: %w", l.objName(key), errNoManifest)
	case len(data) > maxManifest:
		return nil, fmt.Errorf("s3: %s: manifest larger than %d bytes", l.objName(key), maxManifest)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("s3: %s: manifest does not parse: %v", l.objName(key), err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("s3: %s: %v", l.objName(key), err)
	}
	return &m, nil
}

// putManifest writes the manifest of the volume at ref.
func (l *Library) putManifest(ctx context.Context, ref string, m *manifest) error {
	m.Updated = time.Now().UTC()
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := l.volKey(ref) + manifestName
	return l.retry(ctx, "write "+l.objName(key), func(ctx context.Context) error {
		_, err := l.c.PutObject(ctx, l.o.Bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true})
		return err
	})
}

// loadManifest reads the manifest of the volume at ref or, when it is
// gone, recovers one from the part objects (recover). A volume with
// neither is device.ErrNoVolume.
func (l *Library) loadManifest(ctx context.Context, ref string, blockSize int) (*manifest, error) {
	m, err := l.getManifest(ctx, ref)
	if err == nil || !errors.Is(err, errNoManifest) {
		return m, err
	}
	return l.recoverManifest(ctx, ref, blockSize)
}

// recoverManifest rebuilds the manifest of a volume from its part
// objects: their names give their number and first block, their sizes
// the blocks they hold, and a later part replaces the blocks of earlier
// ones from its first block on (it was written after a Truncate). The
// block size is blockSize, or the one in the header of the first block
// (bytes 40..43 of a daisy block, docs/FORMAT.md §4).
func (l *Library) recoverManifest(ctx context.Context, ref string, blockSize int) (*manifest, error) {
	keys, err := l.keys(ctx, ref, 0)
	if err != nil {
		return nil, err
	}
	type obj struct {
		seq, first, size int64
		name             string
	}
	var parts []obj
	for _, k := range keys {
		if seq, first, ok := parsePartName(k.name); ok {
			parts = append(parts, obj{seq, first, k.size, k.name})
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("s3: open %s: %w", l.objName(l.volKey(ref)), device.ErrNoVolume)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].seq < parts[j].seq })
	bs := int64(blockSize)
	if bs == 0 {
		for _, p := range parts {
			if p.first == 0 {
				bs = l.headerBlockSize(ctx, l.volKey(ref)+p.name)
				break
			}
		}
		if bs < 1 || bs > MaxBlockSize {
			return nil, fmt.Errorf("s3: open %s: no manifest, and no daisy block header to take the block size from", l.objName(l.volKey(ref)))
		}
	}
	m := &manifest{Format: manifestFormat, Label: ref, BlockSize: int(bs), NextPart: parts[len(parts)-1].seq + 1}
	for _, p := range parts {
		n := p.size / bs
		if n < 1 || p.first > m.Blocks {
			continue // empty, or after a gap: unreachable
		}
		m.truncate(p.first)
		m.Parts = append(m.Parts, part{Name: p.name, First: p.first, Blocks: n})
		m.Blocks += n
	}
	return m, nil
}

// truncate cuts the manifest so that it ends before block n, and returns
// the parts no longer used at all.
func (m *manifest) truncate(n int64) (dropped []part) {
	keep := m.Parts[:0]
	for _, p := range m.Parts {
		switch {
		case p.First >= n:
			dropped = append(dropped, p)
		case p.First+p.Blocks > n:
			p.Blocks = n - p.First
			keep = append(keep, p)
		default:
			keep = append(keep, p)
		}
	}
	m.Parts = keep
	m.Blocks = min(m.Blocks, n)
	return dropped
}

// headerBlockSize reads the block size field of the daisy block header at
// the start of the object (0 when it is not one).
func (l *Library) headerBlockSize(ctx context.Context, key string) int64 {
	var h [device.LabelHeaderLen]byte
	err := l.retry(ctx, "read "+l.objName(key), func(ctx context.Context) error {
		o, err := l.getRange(ctx, key, 0, int64(len(h)))
		if err != nil {
			return err
		}
		defer o.Close()
		_, err = io.ReadFull(o, h[:])
		return err
	})
	bs, ok := device.LabelBlockSize(h[:])
	if err != nil || !ok {
		return 0
	}
	return bs
}

// getRange opens bytes off..off+n-1 of an object.
func (l *Library) getRange(ctx context.Context, key string, off, n int64) (*minio.Object, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, err
	}
	return l.c.GetObject(ctx, l.o.Bucket, key, opts)
}
