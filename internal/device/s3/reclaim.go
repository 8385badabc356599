package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"daisy/internal/device"
)

// VolumeSize returns the bytes the objects of the volume at ref take in
// the bucket (its parts, those cut off by a Truncate included, and its
// manifest); it wraps device.ErrNoVolume when there are none.
func (l *Library) VolumeSize(ctx context.Context, ref device.VolumeRef) (int64, error) {
	if err := checkRef("volume", ref); err != nil {
		return 0, err
	}
	keys, err := l.keys(ctx, ref, 0)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, fmt.Errorf("s3: %s: %w", l.objName(l.volKey(ref)), device.ErrNoVolume)
	}
	var n int64
	for _, k := range keys {
		if _, _, ok := parsePartName(k.name); ok {
			n += k.size
		}
	}
	return n, nil
}

// Cut gives back the room of the volume at ref after its first keep
// blocks: the manifest is cut there, the part holding block keep-1 is
// uploaded again with only the blocks kept (a new part, at most a part's
// size in memory) when it holds more, and then every part object the
// manifest no longer names is deleted. It returns the bytes the parts take
// afterwards.
func (l *Library) Cut(ctx context.Context, ref device.VolumeRef, blockSize int, keep int64) (int64, error) {
	if err := checkRef("volume", ref); err != nil {
		return 0, err
	}
	man, err := l.loadManifest(ctx, ref, blockSize)
	if err != nil {
		return 0, err
	}
	if blockSize != 0 && man.BlockSize != blockSize {
		return 0, fmt.Errorf("s3: cut %s: the volume has blocks of %d bytes, not %d", l.objName(l.volKey(ref)), man.BlockSize, blockSize)
	}
	keys, err := l.keys(ctx, ref, 0)
	if err != nil {
		return 0, err
	}
	size := map[string]int64{}
	for _, k := range keys {
		size[k.name] = k.size
	}
	bs := int64(man.BlockSize)
	next := *man
	next.Parts = append([]part(nil), man.Parts...)
	next.truncate(max(0, keep))
	if n := len(next.Parts); n > 0 && size[next.Parts[n-1].Name] > next.Parts[n-1].Blocks*bs {
		// The last part kept holds blocks cut off: upload its first
		// blocks as a new part.
		p := next.Parts[n-1]
		data := make([]byte, p.Blocks*bs)
		key := l.volKey(ref) + p.Name
		err := l.retry(ctx, "read "+l.objName(key), func(ctx context.Context) error {
			o, err := l.getRange(ctx, key, 0, int64(len(data)))
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = io.ReadFull(o, data)
			return err
		})
		if err != nil {
			return 0, err
		}
		np := part{Name: partName(next.NextPart, p.First), First: p.First, Blocks: p.Blocks}
		nkey := l.volKey(ref) + np.Name
		err = l.retry(ctx, "upload "+l.objName(nkey), func(ctx context.Context) error {
			_, err := l.c.PutObject(ctx, l.o.Bucket, nkey, bytes.NewReader(data), int64(len(data)),
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
			return err
		})
		if err != nil {
			return 0, err
		}
		next.Parts[n-1] = np
		next.NextPart++
		size[np.Name] = int64(len(data))
	}
	if err := l.putManifest(ctx, ref, &next); err != nil {
		return 0, err
	}
	named := map[string]bool{}
	var after int64
	for _, p := range next.Parts {
		named[p.Name] = true
		after += size[p.Name]
	}
	for _, k := range keys {
		if _, _, ok := parsePartName(k.name); ok && !named[k.name] {
			if err := l.remove(ctx, l.volKey(ref)+k.name); err != nil {
				return 0, err
			}
		}
	}
	return after, nil
}
