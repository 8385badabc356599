package vtape

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"daisy/internal/device"
	"daisy/internal/durable"
)

// Ext is the file name extension of volume files.
const Ext = ".vtape"

// LibraryOptions configure a Library.
type LibraryOptions struct {
	// Dir is the directory of the volume files; Create makes it (with its
	// missing parents, synced in theirs) if it is missing.
	Dir string
	// Capacity is the capacity of every volume, label included (see
	// Options.Capacity); 0 means unlimited.
	Capacity int64
	// MinFree is the free space to keep on the filesystem of Dir (see
	// Options.MinFree); KeepFree changes it.
	MinFree int64
}

// Library is a directory of volume files: a volume's reference is the
// path of its file, a new volume named L is the file L.vtape in the
// directory. It implements device.Library, device.Space and device.Reclaimer. Open and
// Erase take any volume file path, in the directory or not (a catalog
// records absolute paths; a pool directory may have moved), so that one
// Library reads every vtape volume of a pool.
type Library struct {
	dir      string
	capacity int64
	minFree  atomic.Int64
}

var (
	_ device.Library   = (*Library)(nil)
	_ device.Space     = (*Library)(nil)
	_ device.Reclaimer = (*Library)(nil)
)

// NewLibrary returns the library of the volume files in o.Dir. It does
// not touch the directory.
func NewLibrary(o LibraryOptions) (*Library, error) {
	if o.Dir == "" {
		return nil, errors.New("vtape: library without a directory")
	}
	if o.Capacity < 0 || o.MinFree < 0 {
		return nil, fmt.Errorf("vtape: library %s: negative capacity %d or free space to keep %d", o.Dir, o.Capacity, o.MinFree)
	}
	l := &Library{dir: filepath.Clean(o.Dir), capacity: o.Capacity}
	l.minFree.Store(o.MinFree)
	return l, nil
}

// Name returns "vtape DIR".
func (l *Library) Name() string { return "vtape " + l.dir }

// Dir returns the directory of the volume files.
func (l *Library) Dir() string { return l.dir }

// Caps: volume files are seekable, appendable and truncatable, and give
// the early warning (of their capacity, or of the free space to keep).
func (l *Library) Caps() device.Caps {
	return device.Caps{Seekable: true, Append: true, Truncate: true, EarlyWarning: true}
}

func (l *Library) options(bs int) Options {
	return Options{BlockSize: bs, Capacity: l.capacity, MinFree: l.minFree.Load()}
}

// Create makes the volume file LABEL.vtape in the directory (and the
// directory if it is missing); it fails, wrapping device.ErrExists and
// fs.ErrExist, if the file exists.
func (l *Library) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if label == "" || strings.ContainsAny(label, "/\x00") || label == "." || label == ".." {
		return nil, "", fmt.Errorf("vtape: %s: label %q cannot name a volume file", l.dir, label)
	}
	if blockSize <= 0 {
		return nil, "", fmt.Errorf("vtape: %s: create %s: block size %d, must be 1..%d", l.dir, label, blockSize, MaxBlockSize)
	}
	if err := durable.MkdirAll(l.dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("vtape: create %s: %w", label, err)
	}
	path := filepath.Join(l.dir, label+Ext)
	m, err := Create(path, l.options(blockSize))
	if err != nil {
		return nil, "", err
	}
	return m, path, nil
}

// Open mounts the volume file at ref. In device.ReadOnly mode the file is
// opened for reading only; in device.Append mode it must be writable.
func (l *Library) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, blockSize int) (device.Medium, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := l.options(blockSize)
	if err := checkOptions(ref, o, false); err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if mode == device.Append {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(ref, flag, 0)
	if err != nil {
		return nil, openError(ref, err)
	}
	m, err := open(f, ref, o, mode != device.Append)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func openError(ref string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vtape: open %s: no such volume file: %w (%w)", ref, device.ErrNoVolume, fs.ErrNotExist)
	}
	return fmt.Errorf("vtape: open: %w", err)
}

// Erase cuts the volume file at ref to nothing and mounts it for writing
// at block 0. A path that is not a regular file is not a volume
// (device.ErrNoVolume).
func (l *Library) Erase(ctx context.Context, ref device.VolumeRef, blockSize int) (device.Medium, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := l.options(blockSize)
	if err := checkOptions(ref, o, true); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(ref)
	if err != nil {
		return nil, openError(ref, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vtape: erase %s: %w: not a regular file", ref, device.ErrNoVolume)
	}
	f, err := os.OpenFile(ref, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, openError(ref, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("vtape: erase %s: %w", ref, err)
	}
	m, err := open(f, ref, o, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// List returns the *.vtape regular files of the directory, in name order,
// with their sizes; a missing directory holds none.
func (l *Library) List(ctx context.Context) ([]device.Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vtape: list %s: %w", l.dir, err)
	}
	var out []device.Found
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), Ext) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, device.Found{Ref: filepath.Join(l.dir, e.Name()), Size: fi.Size()})
	}
	slices.SortFunc(out, func(a, b device.Found) int { return strings.Compare(a.Ref, b.Ref) })
	return out, nil
}

// Free returns the bytes free for unprivileged use on the filesystem of
// the directory.
func (l *Library) Free() (int64, error) { return FreeSpace(l.dir) }

// KeepFree sets the free space the media mounted from now on keep on the
// filesystem (Options.MinFree).
func (l *Library) KeepFree(n int64) { l.minFree.Store(max(n, 0)) }

// VolumeSize returns the size of the volume file at ref, which must be a
// regular file.
func (l *Library) VolumeSize(ctx context.Context, ref device.VolumeRef) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Lstat(ref)
	if err != nil {
		return 0, openError(ref, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("vtape: %s is not a regular file", ref)
	}
	return fi.Size(), nil
}

// Cut cuts the volume file at ref after its first keep blocks and syncs
// it; a file no longer than that is left as it is.
func (l *Library) Cut(ctx context.Context, ref device.VolumeRef, blockSize int, keep int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if blockSize <= 0 || keep < 0 {
		return 0, fmt.Errorf("vtape: cut %s: block size %d, keep %d blocks", ref, blockSize, keep)
	}
	f, err := os.OpenFile(ref, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, openError(ref, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("vtape: cut %s: %w", ref, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("vtape: cut %s: not a regular file", ref)
	}
	size := min(fi.Size(), keep*int64(blockSize))
	if size == fi.Size() {
		return size, nil
	}
	if err := f.Truncate(size); err != nil {
		return fi.Size(), fmt.Errorf("vtape: cut %s: %w", ref, err)
	}
	if err := f.Sync(); err != nil {
		return size, fmt.Errorf("vtape: cut %s: %w", ref, err)
	}
	return size, f.Close()
}

// Close does nothing: a directory holds no resources.
func (l *Library) Close() error { return nil }
