// Package pools hands the volumes of a pool to the devices of media agents:
// it mounts an appendable volume, or labels a new one when none is left,
// records every volume in the catalog, and takes the volumes back with
// their new block counts and states after each write session.
// It reaches the volumes only through the device library of the pool and
// device (internal/device/devices), and asks for what only some media can
// do through their capabilities: free space on a shared filesystem
// (device.Space), cutting a failed session (device.Truncater), giving back
// a recyclable volume's room (device.Reclaimer).
//
// A pool's directory is locked (flock) while a process writes to it, so
// two daisy processes never append to the same volume. Jobs take their
// pools' locks before they start (Manager.LockAll, waiting for them if
// asked); the lock file names its holder for the one refused.
//
// A full disk does not wedge daisy. The volumes of a pool leave free space
// on its filesystem (FreeSpace, for a device.Space library): a volume gives its early warning when
// that is reached, so it spans or its session fails before the filesystem
// is full, and the catalog, often on the same filesystem, can still record
// the job's end. A drive mounts no volume while the filesystem has less
// than that free (ErrNoRoom). When a session fails, Release cuts what it
// wrote from the volume file, which frees its space at once.
//
// New pool directories and volume files are synced in their parent
// directories (internal/durable) before the catalog records them.
package pools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/durable"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// Volume states in the catalog.
const (
	StateAppendable = catalog.VolumeAppendable
	StateFull       = catalog.VolumeFull
	StateRecyclable = catalog.VolumeRecyclable
	StateRetired    = catalog.VolumeRetired
)

// ErrPoolBusy is returned when another process writes to the pool.
var ErrPoolBusy = errors.New("pools: pool is in use by another daisy process")

// ErrNoRoom is returned (wrapped) by Drive.Next when the filesystem of the
// pool's directory has no more room than the pool keeps free.
var ErrNoRoom = errors.New("no room left on the filesystem")

// Free space a pool keeps on its filesystem when its configuration does
// not say (config.FreeSpaceAuto): an eighth of the filesystem, at most
// MaxAutoFreeSpace.
const MaxAutoFreeSpace = 64 << 20

// FreeSpace returns the bytes the volumes of pool p leave free on the
// filesystem of its directory, which must exist: p.FreeSpace, or with
// config.FreeSpaceAuto an eighth of the filesystem's size, at most
// MaxAutoFreeSpace.
func FreeSpace(p config.Pool) (int64, error) {
	if p.FreeSpace >= 0 {
		return p.FreeSpace, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p.Directory, &st); err != nil {
		return 0, fmt.Errorf("pool %s: free space of %s: %w", p.Name, p.Directory, err)
	}
	return min(int64(st.Blocks)*int64(st.Bsize)/8, MaxAutoFreeSpace), nil
}

// Catalog is what pools needs of the catalog: the volumes of a pool. The
// catalog itself implements it in process; on a media host of a fleet,
// internal/mediahost implements it over the server's Server service.
type Catalog interface {
	Volumes(ctx context.Context, pool string) ([]catalog.Volume, error)
	Volume(ctx context.Context, idOrLabel string) (catalog.Volume, error)
	CreateVolume(ctx context.Context, v catalog.Volume) error
	UpdateVolume(ctx context.Context, v catalog.Volume) error
	RelabelVolume(ctx context.Context, oldID string, v catalog.Volume) error
	GoodExtentsOnVolume(ctx context.Context, volumeID string) (int, error)
}

var _ Catalog = (*catalog.Catalog)(nil)

// Manager hands out volumes of the pools of one configuration. It is safe
// for concurrent use by several media agents.
type Manager struct {
	cat Catalog

	mu    sync.Mutex
	inUse map[string]bool     // volume IDs mounted now
	locks map[string]*os.File // pool name -> lock file
	devs  *devices.Set        // the libraries of the drives
}

// NewManager returns a manager recording volumes in cat.
func NewManager(cat Catalog) *Manager {
	return &Manager{cat: cat, inUse: map[string]bool{}, locks: map[string]*os.File{}, devs: devices.New(nil)}
}

// Close releases the pool locks and the drives' libraries.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for name, f := range m.locks {
		errs = append(errs, Unlock(f))
		delete(m.locks, name)
	}
	errs = append(errs, m.devs.Close())
	return errors.Join(errs...)
}

// Drive returns the volume source of a device writing into a pool. Its
// library (internal/device/devices) is built at the first Next.
func (m *Manager) Drive(pool config.Pool, dev config.Device) *Drive {
	return &Drive{m: m, pool: pool, dev: dev}
}

// Drive is a device loading volumes of one pool; it implements
// mediaagent.VolumeSource.
type Drive struct {
	m    *Manager
	pool config.Pool
	dev  config.Device
	// minFree is the pool's FreeSpace, derived at each Next, for a library
	// whose volumes share a filesystem (device.Space).
	minFree int64
	// Fresh makes the drive label a new volume every time instead of
	// appending to one that has room (a copy job that must put its objects
	// together on volumes of their own).
	Fresh bool
}

var _ mediaagent.VolumeSource = (*Drive)(nil)

// Lock takes the pool's lock for this manager (until Close), so that no
// other daisy process writes to the pool meanwhile; it fails with
// ErrPoolBusy if another process holds it.
func (m *Manager) Lock(p config.Pool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lockPool(p)
}

func (m *Manager) lockPool(p config.Pool) error {
	if m.locks[p.Name] != nil {
		return nil
	}
	if err := durable.MkdirAll(p.Directory, 0o750); err != nil {
		return fmt.Errorf("pool %s: %w", p.Name, err)
	}
	f, err := LockDir(p)
	if err != nil {
		return err
	}
	m.locks[p.Name] = f
	return nil
}

// lockPoll is how often LockAll tries again a lock another process holds.
const lockPoll = 100 * time.Millisecond

// LockAll takes the locks of pools ps (each once, in name order, so that
// two processes taking several never wait for each other in a circle)
// for this manager, until Close. A pool that another process holds is
// tried again until wait has passed since the call (0: not at all); the
// first time it waits for a pool it calls notify, if set, with a message
// naming the pool and the holder. It fails with ErrPoolBusy (wrapped)
// when wait ran out, or with ctx's error; the locks it took stay with
// the manager either way.
func (m *Manager) LockAll(ctx context.Context, ps []config.Pool, wait time.Duration, notify func(msg string)) error {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b config.Pool) int { return strings.Compare(a.Name, b.Name) })
	ps = slices.CompactFunc(ps, func(a, b config.Pool) bool { return a.Name == b.Name })
	deadline := time.Now().Add(wait)
	for _, p := range ps {
		for waited := false; ; waited = true {
			err := m.Lock(p)
			if err == nil || !errors.Is(err, ErrPoolBusy) {
				if err == nil && waited && notify != nil {
					notify(fmt.Sprintf("pool %s is free now", p.Name))
				}
				if err != nil {
					return err
				}
				break
			}
			left := time.Until(deadline)
			if left <= 0 {
				if wait > 0 {
					return fmt.Errorf("%w; waited %s for it", err, wait)
				}
				return err
			}
			if !waited && notify != nil {
				notify(fmt.Sprintf("%v; waiting for it (at most %s)", err, left.Round(time.Millisecond)))
			}
			t := time.NewTimer(min(lockPoll, left))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("pool %s: waiting for its lock: %w", p.Name, ctx.Err())
			case <-t.C:
			}
		}
	}
	return nil
}

// LockFile is the name of the lock file in a pool's directory.
const LockFile = ".daisy-lock"

// LockDir takes the lock (flock) of the existing directory of pool p for
// the caller, who releases it with Unlock. The lock file says which
// process holds it (pid, host, since when), so that a process refused
// with ErrPoolBusy can name the holder.
func LockDir(p config.Pool) (*os.File, error) {
	path := filepath.Join(p.Directory, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", p.Name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pool %s: lock %s: %w", p.Name, path, err)
		}
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if line, _, _ := strings.Cut(string(b), "\n"); line != "" {
				holder = ", " + line
			}
		}
		return nil, fmt.Errorf("%w: pool %s (%s%s)", ErrPoolBusy, p.Name, p.Directory, holder)
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("held by pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	// Best effort: the lock holds without the note.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(owner), 0)
	}
	return f, nil
}

// Unlock releases a lock taken with LockDir, clearing its note first.
func Unlock(f *os.File) error {
	_ = f.Truncate(0)
	return f.Close()
}

// library returns the drive's library.
func (d *Drive) library() (device.Library, error) {
	return d.m.devs.Library(d.pool, d.dev)
}

// checkRoom fails with ErrNoRoom when the pool's filesystem has less free
// than the pool keeps free plus room bytes.
func (d *Drive) checkRoom(sp device.Space, room int64) error {
	free, err := sp.Free()
	if err != nil {
		return fmt.Errorf("pool %s: %w", d.pool.Name, err)
	}
	if free < d.minFree+room {
		return fmt.Errorf("pool %s: %w: the filesystem of %s has %s free, the pool keeps %s free there (free_space) and needs %s more to write on; make room there, or lower free_space",
			d.pool.Name, ErrNoRoom, d.pool.Directory, config.FormatSize(free), config.FormatSize(d.minFree), config.FormatSize(room))
	}
	return nil
}

// Next mounts an appendable volume of the pool with room left; failing
// that it relabels a recyclable volume of the pool (its file is cut to
// nothing and labelled with a new volume ID, the label string stays), and
// only when there is none it labels a new volume file.
func (d *Drive) Next(ctx context.Context) (mediaagent.Mount, error) {
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.lockPool(d.pool); err != nil {
		return mediaagent.Mount{}, err
	}
	minRoom := 8 * d.dev.BlockSize
	lib, err := d.library()
	if err != nil {
		return mediaagent.Mount{}, err
	}
	if sp, ok := device.As[device.Space](lib); ok {
		if d.minFree, err = FreeSpace(d.pool); err != nil {
			return mediaagent.Mount{}, err
		}
		sp.KeepFree(d.minFree)
		if err := d.checkRoom(sp, minRoom); err != nil {
			return mediaagent.Mount{}, err
		}
	}
	vols, err := m.cat.Volumes(ctx, d.pool.Name)
	if err != nil {
		return mediaagent.Mount{}, err
	}
	for _, v := range vols {
		if d.Fresh {
			break
		}
		if v.State != StateAppendable || m.inUse[v.ID] || int64(v.BlockSize) != d.dev.BlockSize {
			continue
		}
		if v.Capacity > 0 && v.Capacity-v.Blocks*int64(v.BlockSize) < minRoom {
			continue
		}
		mt, err := d.mount(ctx, lib, v)
		if errors.Is(err, volume.ErrLabelDamaged) {
			// Its data reads, from the block headers, but nothing more is
			// written to it: full from now on (refresh rewrites it).
			v.State = StateFull
			if uerr := m.cat.UpdateVolume(ctx, v); uerr != nil {
				return mediaagent.Mount{}, fmt.Errorf("pool %s: %w (and marking it full: %v)", d.pool.Name, err, uerr)
			}
			continue
		}
		if err != nil {
			return mediaagent.Mount{}, err
		}
		m.inUse[v.ID] = true
		return mt, nil
	}
	mt, err := d.create(ctx, lib, vols)
	if err != nil {
		return mediaagent.Mount{}, err
	}
	m.inUse[mt.Label.VolumeID.String()] = true
	return mt, nil
}

func (d *Drive) mount(ctx context.Context, lib device.Library, v catalog.Volume) (mediaagent.Mount, error) {
	med, err := lib.Open(ctx, v.Path, device.Append, int(d.dev.BlockSize))
	if err != nil {
		return mediaagent.Mount{}, fmt.Errorf("pool %s: mount %s: %w", d.pool.Name, v.Label, err)
	}
	r, err := volume.NewReader(med)
	if err != nil {
		med.Close()
		return mediaagent.Mount{}, fmt.Errorf("pool %s: mount %s: %w", d.pool.Name, v.Label, err)
	}
	if err := r.LabelDamage(); err != nil {
		med.Close()
		return mediaagent.Mount{}, fmt.Errorf("pool %s: mount %s: not appended to: %w", d.pool.Name, v.Label, err)
	}
	l := r.Label()
	if l.VolumeID.String() != v.ID || l.Label != v.Label {
		med.Close()
		return mediaagent.Mount{}, fmt.Errorf("pool %s: volume %s holds %s (%s), the catalog expects %s (%s)", d.pool.Name, v.Path, l.Label, l.VolumeID, v.Label, v.ID)
	}
	return mediaagent.Mount{Medium: med, Label: l, At: v.Blocks}, nil
}

func (d *Drive) create(ctx context.Context, lib device.Library, vols []catalog.Volume) (mediaagent.Mount, error) {
	for _, v := range vols {
		if v.State != StateRecyclable || d.m.inUse[v.ID] || v.Path == "" {
			continue
		}
		mt, ok, err := d.recycle(ctx, lib, v)
		if err != nil {
			return mediaagent.Mount{}, err
		}
		if ok {
			return mt, nil
		}
	}
	taken := map[string]bool{}
	for _, v := range vols {
		taken[v.Label] = true
	}
	// The next label the catalog has not seen that the library holds no
	// volume of (a file left by a catalog rebuilt without it).
	var (
		label string
		path  device.VolumeRef
		med   device.Medium
	)
	if lib.Caps().Named {
		// The medium's name (a cartridge's barcode) is its label.
		var err error
		if med, path, err = lib.Create(ctx, "", int(d.dev.BlockSize)); err != nil {
			return mediaagent.Mount{}, fmt.Errorf("pool %s: new volume: %w", d.pool.Name, err)
		}
		if label = string(path); taken[label] {
			med.Close()
			return mediaagent.Mount{}, fmt.Errorf("pool %s: new volume on %s, which is blank, but the catalog has a volume %s: %w", d.pool.Name, path, label, device.ErrExists)
		}
	}
	for n, tries := len(vols)+1, 0; label == ""; n++ {
		next := fmt.Sprintf("%s-%04d", d.pool.Name, n)
		if taken[next] {
			continue
		}
		var err error
		med, path, err = lib.Create(ctx, next, int(d.dev.BlockSize))
		if err == nil {
			label = next
			break
		}
		if tries++; !errors.Is(err, device.ErrExists) || tries >= maxCreateTries {
			return mediaagent.Mount{}, fmt.Errorf("pool %s: new volume: %w", d.pool.Name, err)
		}
	}
	l := volume.Label{VolumeID: records.NewID(), Label: label, Pool: d.pool.Name, BlockSize: int(d.dev.BlockSize), Created: time.Now().UTC()}
	if err := volume.Format(med, l); err != nil {
		med.Close()
		return mediaagent.Mount{}, err
	}
	if err := med.Sync(); err != nil {
		med.Close()
		return mediaagent.Mount{}, fmt.Errorf("pool %s: new volume %s: %w", d.pool.Name, label, err)
	}
	v := catalog.Volume{
		ID: l.VolumeID.String(), Label: label, Pool: d.pool.Name, State: StateAppendable,
		BlockSize: l.BlockSize, Blocks: 1, Bytes: int64(l.BlockSize), Capacity: d.pool.VolumeCapacity, Path: path,
		Created: l.Created, Updated: l.Created,
	}
	if err := d.m.cat.CreateVolume(ctx, v); err != nil {
		med.Close()
		return mediaagent.Mount{}, err
	}
	return mediaagent.Mount{Medium: med, Label: l, At: 1}, nil
}

// Release records the volume's new size and state and unmounts it. After
// a failed session the catalog's block count stays as it was, and the
// blocks the session wrote are cut from the volume file at once (the
// torn tail frees its space; a full disk needs no daisy to free it). If
// the cut fails, the next session on the volume cuts them.
func (d *Drive) Release(ctx context.Context, mt mediaagent.Mount, blocks int64, full bool, failed error) error {
	m := d.m
	// The volume's state is recorded even when the job was cancelled (a
	// signal): its file holds what it holds either way.
	ctx = context.WithoutCancel(ctx)
	id := mt.Label.VolumeID.String()
	defer func() {
		m.mu.Lock()
		delete(m.inUse, id)
		m.mu.Unlock()
	}()
	if failed != nil {
		var cutErr error
		if t, ok := mt.Medium.(device.Truncater); ok && mt.At >= 1 {
			if err := t.Truncate(mt.At); err != nil {
				cutErr = fmt.Errorf("pool %s: cut the failed session from %s at block %d: %w", d.pool.Name, mt.Label.Label, mt.At, err)
			} else if err := mt.Medium.Sync(); err != nil {
				cutErr = fmt.Errorf("pool %s: cut the failed session from %s: %w", d.pool.Name, mt.Label.Label, err)
			}
		}
		return errors.Join(cutErr, mt.Medium.Close())
	}
	closeErr := mt.Medium.Close()
	v, err := m.cat.Volume(ctx, id)
	if err != nil {
		return err
	}
	v.Blocks = blocks
	v.Bytes = blocks * int64(v.BlockSize)
	v.Updated = time.Now().UTC()
	// Zero: the catalog sets it to Updated when the block count changed
	// (passing the old value back would keep it forever).
	v.LastWritten = time.Time{}
	if full {
		v.State = StateFull
	}
	if err := m.cat.UpdateVolume(ctx, v); err != nil {
		return err
	}
	return closeErr
}

// maxCreateTries bounds the labels Drive.create tries that the library
// already holds.
const maxCreateTries = 1000

// recycle labels a recyclable volume anew: it checks that no good copy is
// on it, cuts its file to nothing, writes a label with a new volume ID and
// the same label string, and records the new ID in the catalog row (state
// appendable, one block). ok is false, with no error, for a volume that
// cannot be reused now (a good copy still on it, the library holds no
// volume there and cannot make one: not a regular file); the caller then tries another one or labels a new file.
func (d *Drive) recycle(ctx context.Context, lib device.Library, v catalog.Volume) (mt mediaagent.Mount, ok bool, err error) {
	n, err := d.m.cat.GoodExtentsOnVolume(ctx, v.ID)
	if err != nil || n > 0 {
		return mediaagent.Mount{}, false, err
	}
	bs := int(d.dev.BlockSize)
	med, err := lib.Erase(ctx, v.Path, bs)
	if errors.Is(err, device.ErrNoVolume) {
		// Gone (or not a volume): a new one under its label, at the same
		// reference; else it cannot be reused now.
		var ref device.VolumeRef
		med, ref, err = lib.Create(ctx, v.Label, bs)
		switch {
		case errors.Is(err, device.ErrExists):
			return mediaagent.Mount{}, false, nil
		case err == nil && ref != v.Path:
			med.Close()
			return mediaagent.Mount{}, false, nil
		}
	}
	if err != nil {
		return mediaagent.Mount{}, false, fmt.Errorf("pool %s: recycle %s: %w", d.pool.Name, v.Label, err)
	}
	l := volume.Label{VolumeID: records.NewID(), Label: v.Label, Pool: d.pool.Name, BlockSize: int(d.dev.BlockSize), Created: time.Now().UTC()}
	if err := volume.Format(med, l); err != nil {
		med.Close()
		return mediaagent.Mount{}, false, fmt.Errorf("pool %s: recycle %s: %w", d.pool.Name, v.Label, err)
	}
	if err := med.Sync(); err != nil {
		med.Close()
		return mediaagent.Mount{}, false, fmt.Errorf("pool %s: recycle %s: %w", d.pool.Name, v.Label, err)
	}
	nv := catalog.Volume{
		ID: l.VolumeID.String(), State: StateAppendable, BlockSize: l.BlockSize, Blocks: 1, Bytes: int64(l.BlockSize),
		Capacity: d.pool.VolumeCapacity, Created: l.Created, Updated: l.Created,
	}
	// The file is labelled before the catalog learns the new ID: a crash
	// in between leaves a recyclable volume, relabelled again next time.
	if err := d.m.cat.RelabelVolume(ctx, v.ID, nv); err != nil {
		med.Close()
		return mediaagent.Mount{}, false, fmt.Errorf("pool %s: recycle %s: %w", d.pool.Name, v.Label, err)
	}
	return mediaagent.Mount{Medium: med, Label: l, At: 1}, true, nil
}
