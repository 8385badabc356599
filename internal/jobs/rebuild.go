package jobs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/durable"
	"daisy/internal/extract"
	"daisy/internal/mediaagent"
	"daisy/internal/pools"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// RebuildOptions say how a catalog is rebuilt from volumes.
type RebuildOptions struct {
	// Volumes are volume files to read besides the *.vtape files in the
	// directories of the configured pools.
	Volumes []string
	// Files records the archive entries of every complete object: each is
	// read once, from any good copy.
	Files bool
	// Force rebuilds even when the catalog already has objects or
	// volumes: the old database is moved aside first.
	Force  bool
	Logger *slog.Logger
}

// RebuiltVolume is one volume file read by a rebuild.
type RebuiltVolume struct {
	File          string   `json:"file"`
	ID            string   `json:"id"`
	Label         string   `json:"label"`
	Pool          string   `json:"pool"`
	State         string   `json:"state"`
	Blocks        int64    `json:"blocks"`
	Objects       int      `json:"objects"`
	Damage        []string `json:"damage,omitempty"`
	TruncatedTail bool     `json:"truncated_tail,omitempty"`
}

// RebuiltCopy is one copy of an object as rebuilt.
type RebuiltCopy struct {
	Copy       int      `json:"copy"`
	Role       string   `json:"role"`
	Level      int      `json:"level"`
	MediaAgent string   `json:"media_agent"`
	Pool       string   `json:"pool"`
	State      string   `json:"state"`
	Error      string   `json:"error,omitempty"`
	Volumes    []string `json:"volumes"`
	Extents    int      `json:"extents"`
}

// RebuiltObject is one object as rebuilt.
type RebuiltObject struct {
	ID     string        `json:"id"`
	Source string        `json:"source"`
	Client string        `json:"client"`
	Level  string        `json:"level"`
	State  string        `json:"state"`
	Error  string        `json:"error,omitempty"`
	Length int64         `json:"length"`
	Files  int64         `json:"files"`
	Copies []RebuiltCopy `json:"copies"`
}

// RebuildResult is the outcome of a catalog rebuild.
type RebuildResult struct {
	Catalog string `json:"catalog"`
	// MovedAside is where the old catalog went (with --force).
	MovedAside   string          `json:"moved_aside,omitempty"`
	Job          int64           `json:"job"`
	State        string          `json:"state"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	Volumes      []RebuiltVolume `json:"volumes"`
	Objects      []RebuiltObject `json:"objects"`
	CopiesGood   int             `json:"copies_good"`
	CopiesFailed int             `json:"copies_failed"`
	// DamagedBlocks counts the damaged blocks (and records out of place)
	// found on the volumes.
	DamagedBlocks int   `json:"damaged_blocks"`
	Files         int64 `json:"files"`
	// Problems are volume files that could not be used and records that
	// could not be placed.
	Problems []string `json:"problems,omitempty"`
}

// Damaged reports whether the rebuild found damage, a problem or a failed
// copy.
func (r *RebuildResult) Damaged() bool {
	return r.DamagedBlocks > 0 || len(r.Problems) > 0 || r.CopiesFailed > 0
}

// Rebuild recreates the catalog the configuration names from the volumes
// alone: it scans every volume file in the pools' directories (and
// o.Volumes) and records pools, volumes, objects (from their Begin and End
// records), copies (from the copy marks; good only when the copy's records
// cover the complete object without a gap or damage, across the volumes it
// spans), extents and a "scan" job. With o.Files it reads each complete
// object once and records its archive entries. It refuses a catalog that
// has objects or volumes already, unless o.Force (then the old database is
// moved aside as NAME.old-TIMESTAMP).
func Rebuild(ctx context.Context, cfg *config.Config, o RebuildOptions) (*RebuildResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := cfg.Catalog.SQLite
	if path == "" {
		return nil, fmt.Errorf("%w: the configuration names no catalog", ErrUsage)
	}
	res := &RebuildResult{Catalog: path, Volumes: []RebuiltVolume{}, Objects: []RebuiltObject{}}
	used, err := catalogInUse(ctx, path)
	if err != nil {
		if !o.Force {
			return nil, fmt.Errorf("the catalog %s cannot be read (use --force to move it aside and rebuild into a new one): %w", path, err)
		}
		used = "unreadable: " + err.Error()
	}
	if used != "" && !o.Force {
		return nil, fmt.Errorf("%w: the catalog %s already has %s: rebuilding would mix old and new; use --force to move it aside and rebuild into a new one", ErrUsage, path, used)
	}
	unlock, err := lockPools(cfg)
	if err != nil {
		return nil, err
	}
	defer unlock()
	devs := devices.New(cfg)
	defer devs.Close()
	files, problems, err := volumeRefs(ctx, devs, cfg, o.Volumes)
	if err != nil {
		return nil, err
	}
	res.Problems = problems
	if len(files) == 0 {
		var libs []string
		for _, p := range cfg.Pools {
			if lib, err := devs.Pool(p.Name); err == nil && lib != nil {
				libs = append(libs, lib.Name())
			}
		}
		return nil, fmt.Errorf("no volumes found in the pools (%s), nor volume files given as arguments", strings.Join(libs, ", "))
	}
	scans := scanVolumes(ctx, devs, files)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if used != "" {
		moved, err := moveAside(path)
		if err != nil {
			return nil, err
		}
		res.MovedAside = moved
		log.Info("old catalog moved aside", "catalog", path, "to", moved)
	}
	cat, err := catalog.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	b := &rebuilder{cfg: cfg, cat: cat, log: log, res: res, opts: o, devs: devs,
		byID: map[string]*rebuildVolume{}, byLabel: map[string]*rebuildVolume{}, objs: map[records.ID]*rebuildObject{}}
	job, err := cat.StartJob(ctx, "scan")
	if err != nil {
		return nil, err
	}
	b.job = job
	res.Job, res.Started = job.ID, job.Started
	runErr := b.run(ctx, scans)
	b.finishJob(ctx, runErr)
	return res, runErr
}

// catalogInUse says what the catalog at path holds ("" when it does not
// exist or has no object and no volume).
func catalogInUse(ctx context.Context, path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	cat, err := catalog.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer cat.Close()
	n, err := cat.Counts(ctx)
	if err != nil {
		return "", err
	}
	if n.Objects == 0 && n.Volumes == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d object(s), %d copies and %d volume(s)", n.Objects, n.Copies, n.Volumes), nil
}

// lockPools takes the lock of every pool directory that exists, as a
// backup does while it writes there, so that no volume changes while it is
// read and no backup starts before the catalog is rebuilt.
func lockPools(cfg *config.Config) (unlock func(), err error) {
	var locks []*os.File
	unlock = func() {
		for _, f := range locks {
			pools.Unlock(f)
		}
	}
	for _, p := range cfg.Pools {
		if st, err := os.Stat(p.Directory); p.Directory == "" || err != nil || !st.IsDir() {
			continue
		}
		f, err := pools.LockDir(p)
		if err != nil {
			unlock()
			if errors.Is(err, pools.ErrPoolBusy) {
				return nil, fmt.Errorf("%w; rebuild when it is done", err)
			}
			return nil, err
		}
		locks = append(locks, f)
	}
	return unlock, nil
}

// moveAside renames the database at path (and its WAL and shared-memory
// files) to path.old-TIMESTAMP, so that a new catalog can be made there.
func moveAside(path string) (string, error) {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	dst := path + ".old-" + stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.old-%s-%d", path, stamp, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("move the old catalog aside: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, dst+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dst, fmt.Errorf("move the old catalog's %s file aside: %w", suffix, err)
		}
	}
	// The renames are durable before a new catalog takes the name.
	if err := durable.SyncParent(dst); err != nil {
		return dst, fmt.Errorf("move the old catalog aside: %w", err)
	}
	return dst, nil
}

// volumeRef is a volume to scan: in a pool's library, or a volume file
// given as an argument (pool "").
type volumeRef struct {
	pool string
	ref  string
}

// volumeRefs lists the volumes of the pools' libraries (device.Library
// List) and the extra volume files, each once; the files as absolute
// paths. A pool whose library cannot list its volumes fails the rebuild:
// it would miss what they hold.
func volumeRefs(ctx context.Context, devs *devices.Set, cfg *config.Config, extra []string) (refs []volumeRef, problems []string, err error) {
	seen := map[string]bool{}
	add := func(v volumeRef) {
		if !seen[v.ref] {
			seen[v.ref] = true
			refs = append(refs, v)
		}
	}
	for _, p := range cfg.Pools {
		lib, err := devs.Pool(p.Name)
		if err != nil {
			return nil, nil, err
		}
		found, err := lib.List(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("pool %s: list the volumes of %s: %w", p.Name, lib.Name(), err)
		}
		for _, f := range found {
			add(volumeRef{pool: p.Name, ref: f.Ref})
		}
	}
	for _, f := range extra {
		if st, err := os.Stat(f); err != nil {
			return nil, nil, fmt.Errorf("%w: volume file %s: %v", ErrUsage, f, err)
		} else if st.IsDir() {
			return nil, nil, fmt.Errorf("%w: %s is a directory, not a volume file", ErrUsage, f)
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		add(volumeRef{ref: abs})
	}
	return refs, problems, nil
}

// scannedFile is the scan of one volume.
type scannedFile struct {
	file string // its reference: a volume file's path
	pool string // the pool whose library listed it ("": given as a file)
	res  *volume.ScanResult
	err  error
}

// scanVolumes scans the volumes, a few at a time (each volume is one
// device's sequential read); those of a library that is not seekable (a
// tape drive, one cartridge at a time) one after the other.
func scanVolumes(ctx context.Context, devs *devices.Set, refs []volumeRef) []scannedFile {
	out := make([]scannedFile, len(refs))
	sem := make(chan struct{}, min(4, max(1, runtime.GOMAXPROCS(0))))
	serial := map[string]*sync.Mutex{}
	for _, v := range refs {
		if lib, err := devs.Pool(v.pool); err == nil && lib != nil && !lib.Caps().Seekable && serial[v.pool] == nil {
			serial[v.pool] = &sync.Mutex{}
		}
	}
	var wg sync.WaitGroup
	for i, v := range refs {
		wg.Go(func() {
			if mu := serial[v.pool]; mu != nil {
				mu.Lock()
				defer mu.Unlock()
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].file, out[i].pool = v.ref, v.pool
			if ctx.Err() != nil {
				out[i].err = ctx.Err()
				return
			}
			m, err := devs.Open(ctx, devices.Volume{Pool: v.pool, Ref: v.ref}, device.ReadOnly)
			if err != nil {
				out[i].err = err
				return
			}
			defer m.Close()
			out[i].res, out[i].err = volume.ScanContext(ctx, m)
		})
	}
	wg.Wait()
	return out
}

type rebuildVolume struct {
	file  string
	res   *volume.ScanResult
	id    string
	label string
}

// rebuildPiece is what one volume holds of one copy of an object.
type rebuildPiece struct {
	vol  *rebuildVolume
	so   *volume.ScannedObject
	copy *records.CopyInfo
}

func (p *rebuildPiece) firstBlock() int64 { return p.so.Extents[0].FirstBlock }
func (p *rebuildPiece) lastBlock() int64  { return p.so.Extents[len(p.so.Extents)-1].LastBlock }

// session returns the session of the volume that holds block n, or nil.
func (v *rebuildVolume) session(n int64) *volume.Session {
	for i := range v.res.Sessions {
		s := &v.res.Sessions[i]
		if s.FirstBlock <= n && n <= s.LastBlock {
			return s
		}
	}
	return nil
}

type rebuildObject struct {
	id     records.ID
	begin  *records.BeginInfo
	end    *records.EndInfo
	endAt  *rebuildPiece
	copies map[int][]*rebuildPiece
	orphan []*rebuildPiece // pieces whose copy is not known
}

type rebuilder struct {
	cfg  *config.Config
	devs *devices.Set
	cat  *catalog.Catalog
	log  *slog.Logger
	res  *RebuildResult
	opts RebuildOptions
	job  catalog.Job

	vols    []*rebuildVolume
	byID    map[string]*rebuildVolume
	byLabel map[string]*rebuildVolume
	objs    map[records.ID]*rebuildObject
	bytes   int64
}

func (b *rebuilder) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.res.Problems = append(b.res.Problems, msg)
	b.log.Warn(msg)
}

func (b *rebuilder) run(ctx context.Context, scans []scannedFile) error {
	for _, p := range b.cfg.Pools {
		if err := b.cat.EnsurePool(ctx, catalog.Pool{Name: p.Name, Type: p.Type, Directory: p.Directory}); err != nil {
			return err
		}
	}
	for _, s := range scans {
		if err := b.addVolume(ctx, s); err != nil {
			return err
		}
	}
	b.collect()
	ids := make([]records.ID, 0, len(b.objs))
	for id, ob := range b.objs {
		if ob.begin == nil {
			b.problem("object %s: its begin record was not found on any volume (lost to damage), so it cannot be recorded; found on %s", id, ob.where())
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, c := b.objs[ids[i]], b.objs[ids[j]]
		if !a.begin.Time.Equal(c.begin.Time) {
			return a.begin.Time.Before(c.begin.Time)
		}
		return ids[i].String() < ids[j].String()
	})
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.addObject(ctx, b.objs[id]); err != nil {
			return err
		}
	}
	if b.opts.Files {
		for i := range b.res.Objects {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := b.addFiles(ctx, &b.res.Objects[i]); err != nil {
				return err
			}
		}
	}
	for _, ro := range b.res.Objects {
		for _, c := range ro.Copies {
			if c.State == CopyGood {
				b.res.CopiesGood++
			} else {
				b.res.CopiesFailed++
			}
		}
	}
	return nil
}

// addVolume records one scanned volume.
func (b *rebuilder) addVolume(ctx context.Context, s scannedFile) error {
	if s.res == nil {
		b.problem("%s: %v", s.file, s.err)
		return nil
	}
	if s.res.Label.Label == "" || s.res.Label.Pool == "" {
		// The label block was damaged beyond repair and the volume read
		// from its block headers: it is named after its file, in the pool
		// whose directory holds it.
		l := &s.res.Label
		if l.Label == "" {
			l.Label = strings.TrimSuffix(filepath.Base(s.file), ".vtape")
		}
		if l.Pool == "" && s.pool != "" {
			l.Pool = s.pool
		}
		if l.Pool == "" && s.pool != "" {
			l.Pool = s.pool
		}
		if l.Pool == "" {
			l.Pool = filepath.Base(filepath.Dir(s.file))
			for _, p := range b.cfg.Pools {
				if p.Directory == filepath.Dir(s.file) {
					l.Pool = p.Name
				}
			}
		}
		b.problem("%s: its label block is damaged beyond repair: volume %s named %s, in pool %s, after its file", s.file, l.VolumeID, l.Label, l.Pool)
	}
	l := s.res.Label
	id := l.VolumeID.String()
	if s.err != nil {
		b.problem("%s (volume %s): read only up to block %d: %v", s.file, l.Label, s.res.GoodEnd, s.err)
	}
	if o := b.byID[id]; o != nil {
		b.problem("%s holds volume %s (%s), already read from %s: ignored", s.file, l.Label, id, o.file)
		return nil
	}
	if o := b.byLabel[l.Label]; o != nil {
		b.problem("%s holds a volume labelled %s (%s), and so does %s (%s): ignored", s.file, l.Label, id, o.file, o.id)
		return nil
	}
	pool, inCfg := b.cfg.Pool(l.Pool)
	if !inCfg {
		if err := b.cat.EnsurePool(ctx, catalog.Pool{Name: l.Pool, Type: "vtape", Directory: filepath.Dir(s.file)}); err != nil {
			return err
		}
	}
	st := catalog.VolumeAppendable
	var written time.Time
	for _, ses := range s.res.Sessions {
		if ses.Trailer != nil {
			st = catalog.VolumeFull
			written = ses.Trailer.Time
		} else if ses.End != nil {
			written = ses.End.Time
		}
	}
	v := catalog.Volume{
		ID: id, Label: l.Label, Pool: l.Pool, State: st, BlockSize: l.BlockSize,
		Blocks: s.res.GoodEnd, Bytes: s.res.GoodEnd * int64(l.BlockSize), Capacity: pool.VolumeCapacity,
		Path: s.file, Created: l.Created, LastWritten: written,
	}
	if err := b.cat.CreateVolume(ctx, v); err != nil {
		return err
	}
	out := RebuiltVolume{File: s.file, ID: id, Label: l.Label, Pool: l.Pool, State: st, Blocks: s.res.GoodEnd,
		Objects: len(s.res.Objects), TruncatedTail: s.res.TruncatedTail}
	for _, d := range s.res.Damage {
		out.Damage = append(out.Damage, d.Error())
	}
	b.res.DamagedBlocks += len(s.res.Damage)
	b.bytes += s.res.Blocks * int64(l.BlockSize)
	b.res.Volumes = append(b.res.Volumes, out)
	rv := &rebuildVolume{file: s.file, res: s.res, id: id, label: l.Label}
	b.vols = append(b.vols, rv)
	b.byID[id], b.byLabel[l.Label] = rv, rv
	return nil
}

// collect groups what the volumes hold by object and copy.
func (b *rebuilder) collect() {
	var orphans []*rebuildPiece
	for _, v := range b.vols {
		for _, so := range v.res.Objects {
			if len(so.Extents) == 0 {
				continue
			}
			ob := b.objs[so.ID]
			if ob == nil {
				ob = &rebuildObject{id: so.ID, copies: map[int][]*rebuildPiece{}}
				b.objs[so.ID] = ob
			}
			p := &rebuildPiece{vol: v, so: so, copy: so.Copy}
			if ob.begin == nil && so.Begin != nil {
				ob.begin = so.Begin
			}
			if so.End != nil && (ob.end == nil || (ob.end.Aborted != "" && so.End.Aborted == "")) {
				ob.end, ob.endAt = so.End, p
			}
			if p.copy == nil {
				orphans = append(orphans, p)
				continue
			}
			ob.copies[p.copy.Copy] = append(ob.copies[p.copy.Copy], p)
		}
	}
	// A piece whose copy mark was lost takes the copy of the same object
	// on the volume its session continues from or on.
	for changed := true; changed; {
		changed = false
		for _, p := range orphans {
			if p.copy != nil {
				continue
			}
			if ci := b.linkedCopy(p); ci != nil {
				p.copy = ci
				ob := b.objs[p.so.ID]
				ob.copies[ci.Copy] = append(ob.copies[ci.Copy], p)
				changed = true
			}
		}
	}
	for _, p := range orphans {
		if p.copy == nil {
			ob := b.objs[p.so.ID]
			ob.orphan = append(ob.orphan, p)
			b.problem("object %s: its records on volume %s (blocks %d..%d) carry no copy mark (lost to damage?) and are not counted in any copy",
				p.so.ID, p.vol.label, p.firstBlock(), p.lastBlock())
		}
	}
}

// linkedCopy finds the copy of p's object on the volumes p's sessions link
// to (the previous volume of its first session, the next volume of its
// last).
func (b *rebuilder) linkedCopy(p *rebuildPiece) *records.CopyInfo {
	find := func(v *rebuildVolume) *records.CopyInfo {
		if v == nil {
			return nil
		}
		if so := v.res.Object(p.so.ID); so != nil {
			if so.Copy != nil {
				return so.Copy
			}
			for _, c := range b.objs[p.so.ID].copies {
				for _, q := range c {
					if q.so == so {
						return q.copy
					}
				}
			}
		}
		return nil
	}
	if s := p.vol.session(p.firstBlock()); s != nil && s.Info.Previous != "" {
		if ci := find(b.byLabel[s.Info.Previous]); ci != nil {
			return ci
		}
	}
	if s := p.vol.session(p.lastBlock()); s != nil && s.Trailer != nil {
		if ci := find(b.byID[s.Trailer.NextVolumeID.String()]); ci != nil {
			return ci
		}
	}
	return nil
}

func (ob *rebuildObject) where() string {
	var s []string
	for n, ps := range ob.copies {
		for _, p := range ps {
			s = append(s, fmt.Sprintf("volume %s (copy %d)", p.vol.label, n))
		}
	}
	for _, p := range ob.orphan {
		s = append(s, fmt.Sprintf("volume %s", p.vol.label))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// addObject records one object and its copies.
func (b *rebuilder) addObject(ctx context.Context, ob *rebuildObject) error {
	bi := ob.begin
	obj := catalog.Object{ID: ob.id.String(), Source: bi.Source, Client: bi.Client, Level: bi.Level, Base: bi.Base, Started: bi.Time, JobID: b.job.ID}
	if obj.Source == "" || obj.Client == "" || obj.Level == "" {
		b.problem("object %s: its begin record names no source, client or level (%+v): not recorded", obj.ID, *bi)
		return nil
	}
	if err := b.cat.AddObject(ctx, obj); err != nil {
		return err
	}
	out := RebuiltObject{ID: obj.ID, Source: obj.Source, Client: obj.Client, Level: obj.Level, State: ObjectComplete, Copies: []RebuiltCopy{}}
	var objErr string
	switch {
	case ob.end == nil:
		objErr = "no end record of the object was found on any volume (its backup did not finish, or the end was lost)"
	case ob.end.Aborted != "":
		objErr = "the object was aborted by its producer: " + ob.end.Aborted
	case ob.end.Hash == "":
		objErr = "the object's end record has no content hash"
	}
	var length, nrec int64
	var hash string
	if ob.end != nil {
		length, nrec, hash = int64(ob.end.Length), int64(ob.end.Records), ob.end.Hash
	}
	if objErr != "" {
		out.State, out.Error, hash = ObjectFailed, objErr, ""
	}
	out.Length = length
	// Copies are recorded before the object is finished (a copy of a
	// complete object is committed with its extents right away).
	nums := make([]int, 0, len(ob.copies))
	for n := range ob.copies {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		ps := ob.copies[n]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].so.FirstSeq < ps[j].so.FirstSeq })
		ci := ps[0].copy
		role := ci.Role
		if role != catalog.RoleBackup && role != catalog.RoleMirror && role != catalog.RoleCopy {
			role = catalog.RoleCopy
		}
		device := ""
		if ma, ok := b.cfg.MediaAgent(ci.MediaAgent); ok {
			device = ma.Device
		}
		cp := catalog.Copy{ObjectID: obj.ID, Number: n, Role: role, Level: max(ci.Level, 0), MediaAgent: ci.MediaAgent,
			Device: device, Pool: ps[0].vol.res.Label.Pool, JobID: b.job.ID, Created: bi.Time}
		if err := b.cat.AddCopy(ctx, cp); err != nil {
			return err
		}
	}
	if err := b.cat.FinishObject(ctx, obj.ID, length, nrec, 0, hash, out.State, b.finished(ob)); err != nil {
		return err
	}
	for _, n := range nums {
		ps := ob.copies[n]
		rc := RebuiltCopy{Copy: n, Role: ps[0].copy.Role, Level: ps[0].copy.Level, MediaAgent: ps[0].copy.MediaAgent,
			Pool: ps[0].vol.res.Label.Pool, State: CopyFailed, Volumes: []string{}}
		var exts []catalog.Extent
		for _, p := range ps {
			rc.Volumes = append(rc.Volumes, p.vol.label)
			for _, e := range p.so.Extents {
				exts = append(exts, catalog.Extent{VolumeID: p.vol.id, FirstBlock: e.FirstBlock, LastBlock: e.LastBlock,
					FirstOffset: int64(e.FirstOffset), EndOffset: int64(e.EndOffset), Records: int64(e.Records),
					Bytes: int64(e.EndOffset - e.FirstOffset)})
			}
		}
		rc.Extents = len(exts)
		reason := objErr
		if reason == "" {
			if why := b.checkCopy(ob, ps); why != "" {
				reason = "scan: " + why
			}
		}
		if reason == "" {
			if err := b.cat.CommitCopy(ctx, obj.ID, n, exts); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			if err := b.cat.FailCopy(ctx, obj.ID, n, reason); err != nil {
				return err
			}
			rc.Error = reason
		} else {
			rc.State = CopyGood
		}
		out.Copies = append(out.Copies, rc)
	}
	b.res.Objects = append(b.res.Objects, out)
	return nil
}

// finished is when the object's End record was written, as near as the
// volume tells: the end of the session that holds it.
func (b *rebuilder) finished(ob *rebuildObject) time.Time {
	if ob.endAt == nil {
		return time.Time{}
	}
	if s := ob.endAt.vol.session(ob.endAt.lastBlock()); s != nil {
		switch {
		case s.End != nil:
			return s.End.Time
		case s.Trailer != nil:
			return s.Trailer.Time
		}
	}
	return time.Time{}
}

// checkCopy says why the pieces of a copy of a complete object do not make
// a good copy ("" if they do): they must hold the object's records from
// its Begin to its End, in sequence across the volumes, without damage.
func (b *rebuilder) checkCopy(ob *rebuildObject, ps []*rebuildPiece) string {
	var why []string
	first := ps[0]
	if first.so.FirstSeq != 0 || first.so.Begin == nil {
		msg := fmt.Sprintf("its first records (up to offset %d) were not found", first.so.Extents[0].FirstOffset)
		if s := first.vol.session(first.firstBlock()); s != nil && s.Info.Previous != "" {
			if b.byLabel[s.Info.Previous] == nil {
				msg += fmt.Sprintf(": volume %s continues from volume %s, which was not found", first.vol.label, s.Info.Previous)
			}
		}
		why = append(why, msg)
	}
	for _, p := range ps {
		for _, m := range p.so.Missing {
			why = append(why, fmt.Sprintf("volume %s: bytes %s lost in damaged block(s) %s", p.vol.label, verifyRange(m.From, m.To), blockList(m.Blocks)))
		}
	}
	for i := 1; i < len(ps); i++ {
		a, c := ps[i-1], ps[i]
		switch {
		case c.so.FirstSeq <= a.so.LastSeq:
			why = append(why, fmt.Sprintf("records %d..%d are on both volume %s and volume %s", c.so.FirstSeq, min(a.so.LastSeq, c.so.LastSeq), a.vol.label, c.vol.label))
		case c.so.FirstSeq > a.so.LastSeq+1:
			msg := fmt.Sprintf("records %d..%d (bytes %d..%d) were not found between volume %s and volume %s",
				a.so.LastSeq+1, c.so.FirstSeq-1, a.so.Extents[len(a.so.Extents)-1].EndOffset, c.so.Extents[0].FirstOffset, a.vol.label, c.vol.label)
			if s := a.vol.session(a.lastBlock()); s != nil && s.Trailer != nil && b.byID[s.Trailer.NextVolumeID.String()] == nil {
				msg += fmt.Sprintf(": volume %s continues on volume %s, which was not found", a.vol.label, s.Trailer.Next)
			}
			why = append(why, msg)
		}
	}
	last := ps[len(ps)-1]
	switch {
	case last.so.End == nil:
		ext := last.so.Extents[len(last.so.Extents)-1]
		msg := fmt.Sprintf("it ends at offset %d on volume %s (block %d) without the object's end record", ext.EndOffset, last.vol.label, ext.LastBlock)
		s := last.vol.session(last.lastBlock())
		switch {
		case s != nil && s.Trailer != nil && b.byID[s.Trailer.NextVolumeID.String()] == nil:
			msg += fmt.Sprintf(": volume %s continues on volume %s, which was not found", last.vol.label, s.Trailer.Next)
		case s != nil && s.End == nil && s.Trailer == nil:
			msg += ": the session writing it did not end (an interrupted or failed write)"
		}
		why = append(why, msg)
	case *last.so.End != *ob.end:
		why = append(why, fmt.Sprintf("its end record on volume %s (%d bytes, %s) differs from the object's (%d bytes, %s)",
			last.vol.label, last.so.End.Length, last.so.End.Hash, ob.end.Length, ob.end.Hash))
	}
	return strings.Join(why, "; ")
}

func blockList(bs []int64) string { return volume.FormatBlocks(bs) }

// addFiles reads a complete object once and records its archive entries.
func (b *rebuilder) addFiles(ctx context.Context, ro *RebuiltObject) error {
	good := false
	for _, c := range ro.Copies {
		good = good || c.State == CopyGood
	}
	if ro.State != ObjectComplete || !good {
		return nil
	}
	obj, err := b.cat.Object(ctx, ro.ID)
	if err != nil {
		return err
	}
	// The entries go to the catalog in batches as the stream is read, so
	// that an object of a million files is not held in memory; if the
	// stream fails part-way, what was recorded is removed again.
	var addErr error
	files, sr, err := objectFiles(ctx, b.cat, obj, b.devs, func(batch []catalog.File) error {
		addErr = b.cat.AddFiles(ctx, batch)
		return addErr
	})
	if err != nil {
		if derr := b.cat.DeleteFiles(context.WithoutCancel(ctx), ro.ID); derr != nil {
			return derr
		}
	}
	if addErr != nil {
		return addErr
	}
	if sr != nil {
		// A copy that could not be read after all is failed.
		for _, a := range sr.Attempts {
			if a.Error == "" {
				continue
			}
			reason := "rebuild: reading the copy: " + a.Error
			if ferr := b.cat.FailCopy(ctx, ro.ID, a.Copy, reason); ferr != nil {
				return ferr
			}
			for i := range ro.Copies {
				if ro.Copies[i].Copy == a.Copy {
					ro.Copies[i].State, ro.Copies[i].Error = CopyFailed, reason
				}
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		b.problem("object %s (%s): its files could not be listed: %v", ro.ID, ro.Source, err)
		return nil
	}
	if err := b.cat.SetObjectFiles(ctx, ro.ID, files); err != nil {
		return err
	}
	ro.Files = files
	b.res.Files += ro.Files
	return nil
}

func (b *rebuilder) finishJob(ctx context.Context, runErr error) {
	res := b.res
	res.Finished = time.Now().UTC()
	j := b.job
	j.Finished, j.Bytes, j.Files = res.Finished, b.bytes, res.Files
	var msgs []string
	msgs = append(msgs, res.Problems...)
	for _, o := range res.Objects {
		for _, c := range o.Copies {
			if c.Error != "" {
				msgs = append(msgs, fmt.Sprintf("%s %s copy %d: %s", o.Source, o.ID, c.Copy, c.Error))
			}
		}
	}
	switch {
	case runErr != nil:
		j.State = JobFailed
		msgs = append([]string{runErr.Error()}, msgs...)
	case res.Damaged():
		j.State = JobPartial
	default:
		j.State = JobSuccess
	}
	res.State = j.State
	j.Error = strings.Join(msgs, "\n")
	if errors.Is(runErr, context.Canceled) {
		j.State = JobInterrupted
	}
	res.State = j.State
	// Recorded even when a signal cancelled ctx.
	if err := b.cat.FinishJob(context.WithoutCancel(ctx), j); err != nil {
		b.log.Error("record job end", "job", j.ID, "err", err)
	}
}

// ObjectFiles reads a complete object's stream (from any good copy, with
// fallback) and gives its archive entries to add, in batches of at most
// filesBatchLimit, as the agent records them: path "/"+name, type, size,
// mode, owner, mtime, link target, and the offset of the entry's first
// header block (its pax extended header when it has one) in the stream.
// It returns how many entries it gave. An error of add ends the read; add
// must not keep the batch, whose memory is reused.
func ObjectFiles(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, add func([]catalog.File) error) (int64, *StreamResult, error) {
	return objectFiles(ctx, cat, obj, nil, add)
}

// objectFiles is ObjectFiles reading the volumes through devs (nil: by
// their path alone).
func objectFiles(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, devs *devices.Set, add func([]catalog.File) error) (int64, *StreamResult, error) {
	pr, pw := io.Pipe()
	type parsed struct {
		n   int64
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		n, err := tarEntries(obj.ID, pr, add)
		if err == nil {
			// The stream goes on to its end, so that its hash is checked.
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(err)
		done <- parsed{n, err}
	}()
	sr, serr := Stream(ctx, cat, obj, pw, StreamOptions{devs: devs})
	pw.CloseWithError(serr)
	p := <-done
	var se *mediaagent.SinkError
	switch {
	case serr != nil && errors.As(serr, &se) && p.err != nil:
		return p.n, sr, fmt.Errorf("the object's tar stream: %w", p.err)
	case serr != nil:
		return p.n, sr, serr
	case p.err != nil:
		return p.n, sr, fmt.Errorf("the object's tar stream: %w", p.err)
	}
	return p.n, sr, nil
}

// tarEntries gives the entries of a tar stream to add, in batches, as the
// agent recorded them (extract.Entries gives each entry's offset);
// deletion entries become TypeDeleted rows. It returns how many it gave.
func tarEntries(objectID string, r io.Reader, add func([]catalog.File) error) (int64, error) {
	var files []catalog.File
	var n int64
	flush := func() error {
		if len(files) == 0 {
			return nil
		}
		if err := add(files); err != nil {
			return err
		}
		n += int64(len(files))
		files = files[:0]
		return nil
	}
	put := func(f catalog.File) error {
		files = append(files, f)
		if len(files) < filesBatchLimit {
			return nil
		}
		return flush()
	}
	err := extract.Entries(r, func(_ *tar.Reader, h *tar.Header, off int64) error {
		if gone, ok := agent.DeletedPaths(h); ok {
			for _, name := range gone {
				if err := put(catalog.File{ObjectID: objectID, Path: "/" + name, Type: catalog.TypeDeleted, Offset: off}); err != nil {
					return err
				}
			}
			return nil
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			return nil
		}
		typ := h.Typeflag
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := h.Size
		if typ != tar.TypeReg {
			size = 0
		}
		return put(catalog.File{
			ObjectID: objectID, Path: "/" + h.Name, Type: typ, Size: size, Mode: h.Mode,
			UID: h.Uid, GID: h.Gid, MTime: h.ModTime, Link: h.Linkname, Offset: off,
		})
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("entry %d: %w", n+int64(len(files))+1, err)
	}
	return n, nil
}
