package mediaagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"daisy/internal/device"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// The extent reader is the one place where daisy reads the blocks of
// copies back: restores (stream and seek), verify and the restore media
// agents of copy jobs all read through it. It mounts the volumes of a list
// of extents through Volumes (never a device type itself), checks that
// each holds the volume meant (the label's volume ID), positions at each
// extent and reads only its blocks (volume.Reader.SetLimit), skips
// damaged blocks and reports them (Damage, clipped to the extent), and
// counts the blocks and bytes read per volume (VolumeRead). Fallback to
// other copies is the caller's: CopyStream (copystream.go) switches
// copies per range for one object, the RMA per object and pass.

// Volume is a volume as the catalog records it: what a reader needs to
// mount it and to check that the medium mounted is that volume.
type Volume struct {
	ID        string           // the volume ID its label must carry
	Label     string           // for messages
	Pool      string           // the pool whose library holds it
	Ref       device.VolumeRef // where that library finds it
	BlockSize int              // 0: from the volume's label
	// Created orders volumes as their data was written (an object spans
	// forward).
	Created time.Time
}

// Volumes finds and mounts volumes for reading. The jobs layer implements
// it over the catalog and the device libraries of the pools.
type Volumes interface {
	// Volume returns what the catalog records of the volume with ID id.
	Volume(ctx context.Context, id string) (Volume, error)
	// Open mounts v for reading, positioned at block 0.
	Open(ctx context.Context, v Volume) (device.Medium, error)
}

// ReadExtent is a run of blocks of a volume holding records of one copy
// of an object. FirstOffset and EndOffset are the object offsets its
// records cover, from the catalog; seeking (Locate) needs them.
type ReadExtent struct {
	VolumeID    string
	FirstBlock  int64
	LastBlock   int64
	FirstOffset int64
	EndOffset   int64
}

// MountError says why a volume could not be read at all.
type MountError struct {
	Volume Volume
	Err    error
	// Unavailable: the volume is not there to be read (missing, not
	// readable, another volume in its place); that is not damage of its
	// data.
	Unavailable bool
}

func (e *MountError) Error() string { return "volume " + e.Volume.Label + ": " + e.Err.Error() }
func (e *MountError) Unwrap() error { return e.Err }

// Damage is something a read met that kept it from records: damaged
// blocks (Block..Last, clipped to the extent read), a volume that could
// not be mounted or positioned, or a read error (Block -1).
type Damage struct {
	Volume      Volume
	Block, Last int64
	Err         error
	Unavailable bool // a MountError of an unavailable volume
}

func (d Damage) Error() string {
	switch {
	case d.Block < 0:
		var me *MountError
		if errors.As(d.Err, &me) {
			return d.Err.Error() // names the volume itself
		}
		return fmt.Sprintf("volume %s: %v", d.Volume.Label, d.Err)
	case d.Last > d.Block:
		return fmt.Sprintf("volume %s blocks %d..%d: %v", d.Volume.Label, d.Block, d.Last, d.Err)
	}
	return fmt.Sprintf("volume %s block %d: %v", d.Volume.Label, d.Block, d.Err)
}

// Unwrap returns the reason.
func (d Damage) Unwrap() error { return d.Err }

// Reason is the error without the volume it names.
func (d Damage) Reason() string {
	var me *MountError
	if errors.As(d.Err, &me) {
		return me.Err.Error()
	}
	return d.Err.Error()
}

// JoinDamage returns one error naming every damage, nil for none.
func JoinDamage(ds []Damage) error {
	if len(ds) == 0 {
		return nil
	}
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Error()
	}
	return errors.New(strings.Join(s, "; "))
}

// VolumeRead is what a reader read from one volume: the device counters
// summed over every time it was mounted.
type VolumeRead struct {
	Volume string `json:"volume"` // label
	ID     string `json:"id"`
	Mounts int    `json:"mounts"`
	Blocks int64  `json:"blocks_read"`
	Bytes  int64  `json:"bytes_read"`
}

// AddReads adds the counters of b to a, volume by volume, in a's order
// then b's new volumes.
func AddReads(a, b []VolumeRead) []VolumeRead {
	for _, x := range b {
		found := false
		for i := range a {
			if a[i].ID == x.ID {
				a[i].Mounts += x.Mounts
				a[i].Blocks += x.Blocks
				a[i].Bytes += x.Bytes
				found = true
				break
			}
		}
		if !found {
			a = append(a, x)
		}
	}
	return a
}

// ExtentReader reads the records of a list of extents, in order: those
// of one object (NewExtentReader with its ID) or all of them (the zero
// ID). It is used by one goroutine.
type ExtentReader struct {
	ctx  context.Context
	vols Volumes
	obj  records.ID
	all  bool
	exts []ReadExtent

	// OnDamage, if set, is called with each damage as it is met; without
	// it damage is kept for TakeDamage.
	OnDamage func(Damage)
	// OnLabel, if set, is called when a volume mounted has a damaged
	// label block that its blocks' headers recovered.
	OnLabel func(v Volume, err error)
	// OnVolume, if set, is called when reading moves to an extent on
	// another volume than the extent before (or the first).
	OnVolume func(v Volume)

	k      int  // the extent being read; -1 before the first
	active bool // positioned inside extent k
	last   int64
	prevID string // volume of the extent before

	cur     *mountedVolume
	damage  []Damage
	probing bool // locate's probes: damage goes to probeErr
	probe   []Damage
	reads   []VolumeRead
}

type mountedVolume struct {
	v  Volume
	m  device.Medium
	rd *volume.Reader
}

// NewExtentReader returns a reader of the records of object obj (every
// record, when obj is the zero ID) in exts.
func NewExtentReader(ctx context.Context, vols Volumes, obj records.ID, exts []ReadExtent) *ExtentReader {
	return &ExtentReader{ctx: ctx, vols: vols, obj: obj, all: obj == records.ID{}, exts: exts, k: -1}
}

// Current returns the volume being read (the zero Volume if none).
func (r *ExtentReader) Current() Volume {
	if r.cur == nil {
		return Volume{}
	}
	return r.cur.v
}

// Extents returns the reader's extents.
func (r *ExtentReader) Extents() []ReadExtent { return r.exts }

// Reads returns the device counters per volume so far, in the order the
// volumes were first mounted.
func (r *ExtentReader) Reads() []VolumeRead {
	out := append([]VolumeRead(nil), r.reads...)
	if r.cur != nil {
		st := r.cur.m.Stats()
		for i := range out {
			if out[i].ID == r.cur.v.ID {
				out[i].Blocks += st.BlocksRead
				out[i].Bytes += st.BytesRead
			}
		}
	}
	return out
}

// BytesRead returns the bytes read from devices so far.
func (r *ExtentReader) BytesRead() int64 {
	var n int64
	for _, x := range r.Reads() {
		n += x.Bytes
	}
	return n
}

// Close unmounts the volume being read. The reader can go on: the next
// read mounts it again.
func (r *ExtentReader) Close() {
	if r.cur == nil {
		return
	}
	st := r.cur.m.Stats()
	for i := range r.reads {
		if r.reads[i].ID == r.cur.v.ID {
			r.reads[i].Blocks += st.BlocksRead
			r.reads[i].Bytes += st.BytesRead
		}
	}
	r.cur.m.Close()
	r.cur, r.active = nil, false
}

// TakeDamage returns the damage met since the last call (without
// OnDamage), and forgets it.
func (r *ExtentReader) TakeDamage() []Damage {
	d := r.damage
	r.damage = nil
	return d
}

// TakeDamageErr is TakeDamage as one error, nil if none.
func (r *ExtentReader) TakeDamageErr() error { return JoinDamage(r.TakeDamage()) }

func (r *ExtentReader) report(d Damage) {
	switch {
	case r.probing:
		r.probe = append(r.probe, d)
	case r.OnDamage != nil:
		r.OnDamage(d)
	default:
		r.damage = append(r.damage, d)
	}
}

// damageOf turns an error of mounting or positioning into damage.
func damageOf(v Volume, block int64, err error) Damage {
	d := Damage{Volume: v, Block: block, Last: block, Err: err}
	var me *MountError
	if errors.As(err, &me) {
		d.Volume, d.Block, d.Last, d.Unavailable = me.Volume, -1, -1, me.Unavailable
	}
	return d
}

// mount makes the volume with ID id the one read.
func (r *ExtentReader) mount(id string) error {
	if r.cur != nil && r.cur.v.ID == id {
		return nil
	}
	r.Close()
	v, err := r.vols.Volume(r.ctx, id)
	if err != nil {
		return &MountError{Volume: Volume{ID: id, Label: id}, Err: fmt.Errorf("not in the catalog: %w", err)}
	}
	if v.ID == "" {
		v.ID = id
	}
	if v.Label == "" {
		v.Label = id
	}
	m, err := r.vols.Open(r.ctx, v)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, device.ErrNoVolume):
			return &MountError{Volume: v, Err: fmt.Errorf("volume unavailable: %s is missing: %w", v.Ref, err), Unavailable: true}
		case errors.Is(err, fs.ErrPermission):
			return &MountError{Volume: v, Err: fmt.Errorf("volume unavailable: %w", err), Unavailable: true}
		}
		return &MountError{Volume: v, Err: err}
	}
	r.countMount(v)
	rd, err := volume.NewReader(m)
	if err != nil {
		r.cur = &mountedVolume{v: v, m: m}
		r.Close()
		return &MountError{Volume: v, Err: err}
	}
	if got := rd.Label().VolumeID.String(); got != v.ID {
		r.cur = &mountedVolume{v: v, m: m}
		r.Close()
		// Labels repeat across installations: the IDs tell them apart.
		return &MountError{Volume: v, Unavailable: true,
			Err: fmt.Errorf("volume unavailable: %s holds volume %s (ID %s), not %s (ID %s)", v.Ref, rd.Label().Label, got, v.Label, v.ID)}
	}
	if err := rd.LabelDamage(); err != nil && r.OnLabel != nil {
		r.OnLabel(v, err)
	}
	rd.SetContext(r.ctx) // a signal stops a long read of damage, too
	rd.SetOnDamage(r.blockDamage)
	r.cur = &mountedVolume{v: v, m: m, rd: rd}
	return nil
}

func (r *ExtentReader) countMount(v Volume) {
	for i := range r.reads {
		if r.reads[i].ID == v.ID {
			r.reads[i].Mounts++
			return
		}
	}
	r.reads = append(r.reads, VolumeRead{Volume: v.Label, ID: v.ID, Mounts: 1})
}

// blockDamage reports damaged blocks met by the volume reader: the part
// inside the extent being read.
func (r *ExtentReader) blockDamage(d volume.Damage) {
	first, last := d.Block, d.LastBlock()
	if r.k >= 0 && r.k < len(r.exts) {
		e := r.exts[r.k]
		first, last = max(first, e.FirstBlock), min(last, e.LastBlock)
	}
	if first > last {
		return
	}
	r.last = max(r.last, last)
	r.report(Damage{Volume: r.cur.v, Block: first, Last: last, Err: trimmed{d.Err}})
}

// trimmed is a volume reader's error without its "volume: " prefix: the
// damage names the volume.
type trimmed struct{ err error }

func (e trimmed) Error() string { return strings.TrimPrefix(e.err.Error(), "volume: ") }
func (e trimmed) Unwrap() error { return e.err }

// Start positions the reader at the first block of extent k.
func (r *ExtentReader) Start(k int) error {
	if k < 0 || k >= len(r.exts) {
		return fmt.Errorf("extent %d of %d", k, len(r.exts))
	}
	e := r.exts[k]
	r.k, r.active, r.last = k, false, e.FirstBlock-1
	err := r.mount(e.VolumeID)
	if e.VolumeID != r.prevID {
		r.prevID = e.VolumeID
		if r.OnVolume != nil {
			var me *MountError
			switch {
			case err == nil:
				r.OnVolume(r.cur.v)
			case errors.As(err, &me):
				r.OnVolume(me.Volume)
			default:
				r.OnVolume(Volume{ID: e.VolumeID, Label: e.VolumeID})
			}
		}
	}
	if err != nil {
		return err
	}
	r.cur.rd.SetLimit(e.LastBlock)
	if err := r.cur.rd.SeekBlock(e.FirstBlock); err != nil {
		return err
	}
	r.active = true
	return nil
}

// Next returns the next record (of the reader's object, or any) in the
// extents, or io.EOF after the last extent. An extent whose volume cannot
// be mounted or positioned is damage and passed over; so is the rest of
// an extent after a read error, which Next returns (the next call goes on
// with the next extent).
func (r *ExtentReader) Next() (volume.Record, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return volume.Record{}, err
		}
		if !r.active {
			if r.k+1 >= len(r.exts) {
				return volume.Record{}, io.EOF
			}
			k := r.k + 1
			if err := r.Start(k); err != nil {
				if r.ctx.Err() != nil {
					return volume.Record{}, r.ctx.Err()
				}
				v := Volume{ID: r.exts[k].VolumeID, Label: r.exts[k].VolumeID}
				if r.cur != nil {
					v = r.cur.v
				}
				r.report(damageOf(v, r.exts[k].FirstBlock, err))
				r.active = false
			}
			continue
		}
		e := r.exts[r.k]
		rec, err := r.cur.rd.Next()
		if err == io.EOF || (err == nil && rec.Block > e.LastBlock) {
			r.active = false
			if r.last < e.LastBlock {
				r.report(Damage{Volume: r.cur.v, Block: -1, Last: -1,
					Err: fmt.Errorf("the volume ends before block %d: blocks %d..%d are missing", r.last+1, r.last+1, e.LastBlock)})
			}
			continue
		}
		if err != nil {
			r.active = false
			if r.ctx.Err() != nil {
				return volume.Record{}, r.ctx.Err()
			}
			return rec, err // names the volume and block
		}
		r.last = max(r.last, rec.Block)
		if h := rec.Header; !r.all && (h.Object != r.obj || !h.Type.IsObject()) {
			continue
		}
		return rec, nil
	}
}

// extentOf returns the index of the extent that holds offset off.
func (r *ExtentReader) extentOf(off int64) int {
	for k, e := range r.exts {
		if off >= e.FirstOffset && (off < e.EndOffset || k == len(r.exts)-1) {
			return k
		}
	}
	return -1
}

// Locate positions the reader at the block that holds object offset off
// (a single-object reader): the extent from the extents' offsets, the
// block by an interpolation search over the extent's blocks (a block read
// per probe, about 6 for a 1 GiB extent). A damaged probe block is passed
// over: reading on from the block found meets the damage again if it held
// data that is needed.
func (r *ExtentReader) Locate(off int64) error {
	i := r.extentOf(off)
	if i < 0 {
		return fmt.Errorf("no extent holds offset %d", off)
	}
	e := r.exts[i]
	if err := r.Start(i); err != nil {
		return err
	}
	r.probing = true
	defer func() { r.probing, r.probe = false, nil }()
	// The block is in [lo, hi]: the object's data at loOff starts in
	// block lo, that at hiEnd after block hi. Offsets grow about linearly
	// with blocks within an extent, so a probe where the line between the
	// two says usually lands next to the block; a probe that did not halve
	// the range is followed by a bisection, which bounds the probes at
	// twice a binary search's.
	lo, hi := e.FirstBlock, e.LastBlock
	loOff, hiEnd := e.FirstOffset, e.EndOffset
	bisect := false
	for lo < hi {
		var mid int64
		if bisect || hiEnd <= loOff {
			mid = lo + (hi-lo+1)/2
		} else {
			mid = lo + int64(float64(off-loOff)/float64(hiEnd-loOff)*float64(hi+1-lo))
			mid = min(max(mid, lo+1), hi)
		}
		first, err := r.firstOffset(mid)
		// A damaged probe: the next intact block after it answers, or
		// the search goes on below it.
		probe := mid
		for errors.Is(err, errDamagedProbe) && probe < hi {
			probe++
			first, err = r.firstOffset(probe)
		}
		if errors.Is(err, errDamagedProbe) {
			hi, bisect = mid-1, false
			continue
		}
		if err != nil {
			r.active = false
			return err
		}
		width := hi - lo
		if first <= off {
			lo = probe
			if first > loOff {
				loOff = first
			}
		} else {
			hi, hiEnd = probe-1, first
		}
		bisect = !bisect && 2*(hi-lo) > width
	}
	r.cur.rd.SetLimit(e.LastBlock)
	if err := r.cur.rd.SeekBlock(lo); err != nil {
		r.active = false
		return err
	}
	r.active, r.last = true, lo-1
	return nil
}

// errDamagedProbe marks a block Locate could not use.
var errDamagedProbe = errors.New("damaged block")

// firstOffset returns the offset of the first data record of the object
// in block n, or -1 when the block holds none (its Begin record only); an
// error wrapping errDamagedProbe when the block is damaged.
func (r *ExtentReader) firstOffset(n int64) (int64, error) {
	rd := r.cur.rd
	r.probe = nil
	rd.SetLimit(n)
	if err := rd.SeekBlock(n); err != nil {
		return 0, err
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if len(r.probe) > 0 {
			return 0, fmt.Errorf("%w: %w", errDamagedProbe, JoinDamage(r.probe))
		}
		if rec.Header.Object == r.obj && rec.Header.Type.IsData() {
			return int64(rec.Header.Offset), nil
		}
	}
	if len(r.probe) > 0 {
		return 0, fmt.Errorf("%w: %w", errDamagedProbe, JoinDamage(r.probe))
	}
	return -1, nil
}

// SeekNear positions the reader before the record that holds offset off:
// by Locate, or, when that fails, at the start of the extent that holds
// it (reading on from there finds the damage again, with the records
// after it).
func (r *ExtentReader) SeekNear(off int64) error {
	if err := r.Locate(off); err == nil {
		return nil
	}
	k := r.extentOf(off)
	if k < 0 {
		k = 0
	}
	return r.Start(k)
}
