package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// Verify outcomes of one copy.
const (
	VerifyOK      = "ok"
	VerifyDamaged = "damaged"
	// VerifyUnavailable: a volume the copy is on could not be read (its
	// file is missing, unreadable or holds another volume). That is not
	// damage: the copy is left as it is, to be verified once the volume is
	// back.
	VerifyUnavailable = "unavailable"
)

// VerifyReasonPrefix starts the error of every copy verify marked failed:
// only such copies are read again and marked good when they verify clean.
const VerifyReasonPrefix = "verify: "

// VerifyOptions select the copies a verify job reads. The selections add
// up: every copy of the named objects, of every object of the named
// sources, with an extent on the named volumes, or on a volume of the named
// pools. With none of them (or All), every copy. Of those, the good copies
// are read, and the copies verify itself marked failed (read again: one
// that verifies clean now is marked good again).
type VerifyOptions struct {
	Objects []string // IDs or unique prefixes
	Sources []string
	Volumes []string // labels or IDs
	Pools   []string
	All     bool
	// NoMark only reports; by default a damaged copy is marked failed in
	// the catalog, so that restores skip it, and a copy verify had marked
	// failed that verifies clean is marked good again.
	NoMark bool
	Logger *slog.Logger
	// Progress, if set, is called once the copies to read are known,
	// before any is read, with counters of the object bytes checked
	// against the sum of their lengths.
	Progress func(*Progress)
}

// VerifyDamage is one loss found in a copy: the object's bytes [From, To)
// could not be read back, To being volume.EndUnknown when nothing after the
// damage said where the object's data resumed.
type VerifyDamage struct {
	Volume string  `json:"volume"` // label(s) of the volume(s) the damage is on
	Blocks []int64 `json:"blocks,omitempty"`
	From   uint64  `json:"from"`
	To     uint64  `json:"to"`
	Error  string  `json:"error"`
}

// ToUnknown reports whether the end of the lost range is unknown.
func (d VerifyDamage) ToUnknown() bool { return d.To == volume.EndUnknown }

func (d VerifyDamage) String() string {
	var b strings.Builder
	b.WriteString("volume ")
	b.WriteString(d.Volume)
	switch len(d.Blocks) {
	case 0:
	case 1:
		fmt.Fprintf(&b, " block %d", d.Blocks[0])
	default:
		fmt.Fprintf(&b, " blocks %s", volume.FormatBlocks(d.Blocks))
	}
	fmt.Fprintf(&b, ": %s (bytes %s)", d.Error, verifyRange(d.From, d.To))
	return b.String()
}

func verifyRange(from, to uint64) string {
	if to == volume.EndUnknown {
		return fmt.Sprintf("%d..end unknown", from)
	}
	return fmt.Sprintf("%d..%d", from, to)
}

// CopyVerify is what verify found of one copy.
type CopyVerify struct {
	Object string `json:"object"`
	Source string `json:"source"`
	Copy   int    `json:"copy"`
	Pool   string `json:"pool"`
	State  string `json:"state"` // ok, damaged or unavailable
	// Catalog is the copy's state in the catalog when verify began (good,
	// or failed by an earlier verify).
	Catalog   string         `json:"catalog_state"`
	Bytes     int64          `json:"bytes"` // object stream bytes read back and checked
	BytesRead int64          `json:"bytes_read"`
	Volumes   []string       `json:"volumes"`
	Damage    []VerifyDamage `json:"damage,omitempty"`
	// Unavailable lists the ranges not read because their volume could not
	// be (State unavailable when there is no damage).
	Unavailable []VerifyDamage `json:"unavailable,omitempty"`
	// WasFailed is the catalog's reason for a copy that was failed.
	WasFailed string `json:"was_failed,omitempty"`
	// Marked is set when the copy was marked failed in the catalog.
	Marked bool `json:"marked_failed,omitempty"`
	// Revived is set when a failed copy that verified clean was marked good
	// again.
	Revived bool `json:"marked_good,omitempty"`
	// MarkError is why marking it did not work.
	MarkError string `json:"mark_error,omitempty"`
}

// Reason is the text recorded in the catalog for a damaged copy.
func (c *CopyVerify) Reason() string {
	s := make([]string, len(c.Damage))
	for i, d := range c.Damage {
		s[i] = d.String()
	}
	return VerifyReasonPrefix + strings.Join(s, "; ")
}

// VerifySkip is a selected copy that was not read, and why.
type VerifySkip struct {
	Object string `json:"object"`
	Source string `json:"source"`
	Copy   int    `json:"copy"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// VerifyVolumeDamage is damage of a volume outside any copy's data: its
// label block, the volume recovered from its block headers.
type VerifyVolumeDamage struct {
	Volume string `json:"volume"`
	Block  int64  `json:"block"`
	Error  string `json:"error"`
}

// VerifyResult is the outcome of a verify job.
type VerifyResult struct {
	Job      int64        `json:"job"`
	State    string       `json:"state"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Copies   []CopyVerify `json:"copies"`
	OK       int          `json:"ok"`
	Damaged  int          `json:"damaged"`
	// Unavailable counts the copies not verified because a volume could
	// not be read; they are left as they are.
	Unavailable int `json:"unavailable"`
	// Revived counts the failed copies that verified clean and were marked
	// good again.
	Revived int          `json:"marked_good"`
	Skipped []VerifySkip `json:"skipped,omitempty"`
	// VolumeDamage lists the volumes read whose label block is damaged
	// (their copies are read from the block headers, and verified).
	VolumeDamage []VerifyVolumeDamage `json:"volume_damage,omitempty"`
	Bytes        int64                `json:"bytes"`
	BytesRead    int64                `json:"bytes_read"`
	// NoMark: the catalog was left as it was (VerifyOptions.NoMark).
	NoMark bool `json:"no_mark,omitempty"`
}

type verifyKey struct {
	object string
	copy   int
}

// Verify reads back the selected copies, block by block, and checks every
// block CRC, every record CRC, the records' sequence and offsets, and the
// End record (length, record count, content hash) against the catalog.
// Reading goes on past damage to find where the copy's data resumes. A
// damaged copy is marked failed with the reason (unless o.NoMark); a copy
// an earlier verify failed that verifies clean is marked good again. A
// copy on a volume that cannot be read (its file missing) is unavailable,
// not damaged: it keeps its state. Verify returns an error only when it
// could not run; damage and unavailable copies are in the result (State
// partial).
func Verify(ctx context.Context, cat *catalog.Catalog, o VerifyOptions) (*VerifyResult, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sel, skipped, err := verifySelect(ctx, cat, o)
	if err != nil {
		return nil, err
	}
	job, err := cat.StartJob(ctx, "verify")
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{Job: job.ID, Started: job.Started, Copies: []CopyVerify{}, Skipped: skipped, NoMark: o.NoMark}
	var total int64
	for _, s := range sel {
		total += s.obj.Length
	}
	log.Debug("verify: resolved", "job", job.ID, "copies", len(sel), "skipped", len(skipped), "bytes", total)
	prog := startProgress(o.Progress, "verify", total)
	defer prog.end()
	var runErr error
	vols := newCatalogVolumes(cat, nil)
	labelSeen := map[string]bool{}
	onLabel := func(label string, err error) {
		if !labelSeen[label] {
			labelSeen[label] = true
			res.VolumeDamage = append(res.VolumeDamage, VerifyVolumeDamage{Volume: label, Block: 0, Error: strings.TrimPrefix(err.Error(), "volume: ")})
			log.Warn("volume label damaged", "volume", label, "err", err)
		}
	}
	for _, s := range sel {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		log.Debug("verify: reading copy", "object", s.obj.ID, "source", s.obj.Source, "copy", s.cp.Number, "pool", s.cp.Pool, "bytes", s.obj.Length)
		cv, err := verifyCopy(ctx, cat, vols, s.obj, s.cp, onLabel, prog, log)
		if err != nil {
			runErr = fmt.Errorf("verify %s copy %d: %w", s.obj.ID, s.cp.Number, err)
			break
		}
		switch cv.State {
		case VerifyDamaged:
			log.Warn("copy damaged", "object", cv.Object, "source", cv.Source, "copy", cv.Copy, "reason", cv.Reason())
			if !o.NoMark {
				if err := cat.FailCopy(ctx, cv.Object, cv.Copy, cv.Reason()); err != nil {
					cv.MarkError = err.Error()
				} else {
					cv.Marked = s.cp.State == CopyGood
				}
			}
			res.Damaged++
		case VerifyUnavailable:
			log.Warn("copy not verified: volume unavailable", "object", cv.Object, "source", cv.Source, "copy", cv.Copy, "reason", cv.unavailableReason())
			res.Unavailable++
		default:
			if s.cp.State == CopyFailed && !o.NoMark {
				if err := cat.ReviveCopy(ctx, cv.Object, cv.Copy, VerifyReasonPrefix); err != nil {
					cv.MarkError = err.Error()
				} else {
					cv.Revived = true
					res.Revived++
					log.Info("failed copy verifies clean: marked good again", "object", cv.Object, "source", cv.Source, "copy", cv.Copy)
				}
			}
			res.OK++
		}
		log.Debug("verify: copy read", "object", cv.Object, "copy", cv.Copy, "state", cv.State, "volumes", cv.Volumes, "bytes", cv.Bytes, "bytes_read", cv.BytesRead)
		res.Bytes += cv.Bytes
		res.BytesRead += cv.BytesRead
		res.Copies = append(res.Copies, *cv)
	}
	res.Finished = time.Now().UTC()
	j := job
	j.Finished, j.Bytes = res.Finished, res.BytesRead
	switch {
	case runErr != nil:
		j.State, j.Error = JobFailed, runErr.Error()
		res.State = JobFailed
	case res.Damaged > 0 || res.Unavailable > 0 || len(res.VolumeDamage) > 0:
		var msgs []string
		for _, d := range res.VolumeDamage {
			msgs = append(msgs, fmt.Sprintf("volume %s block %d: %s", d.Volume, d.Block, d.Error))
		}
		for _, c := range res.Copies {
			switch c.State {
			case VerifyDamaged:
				msgs = append(msgs, fmt.Sprintf("%s copy %d: %s", c.Source, c.Copy, c.Reason()))
			case VerifyUnavailable:
				msgs = append(msgs, fmt.Sprintf("%s copy %d: not verified: %s", c.Source, c.Copy, c.unavailableReason()))
			}
		}
		j.State, j.Error = JobPartial, strings.Join(msgs, "\n")
		res.State = JobPartial
	default:
		j.State = JobSuccess
		res.State = JobSuccess
	}
	if errors.Is(runErr, context.Canceled) {
		j.State, res.State = JobInterrupted, JobInterrupted
	}
	// Recorded even when a signal cancelled ctx.
	if err := cat.FinishJob(context.WithoutCancel(ctx), j); err != nil {
		log.Error("record job end", "job", j.ID, "err", err)
	}
	return res, runErr
}

type verifySel struct {
	obj catalog.Object
	cp  catalog.Copy
}

// verifySelect resolves the options into the copies to read (the good ones
// and those an earlier verify failed), in object order, and the selected
// copies that are not read.
func verifySelect(ctx context.Context, cat *catalog.Catalog, o VerifyOptions) ([]verifySel, []VerifySkip, error) {
	all := o.All || (len(o.Objects) == 0 && len(o.Sources) == 0 && len(o.Volumes) == 0 && len(o.Pools) == 0)
	objs := map[string]catalog.Object{}
	want := map[verifyKey]bool{} // a copy selected by number
	wantAll := map[string]bool{} // every copy of the object selected
	object := func(id string) (catalog.Object, error) {
		if ob, ok := objs[id]; ok {
			return ob, nil
		}
		ob, err := cat.Object(ctx, id)
		if err != nil {
			return ob, err
		}
		objs[ob.ID] = ob
		return ob, nil
	}
	if all {
		cps, err := cat.AllCopies(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range cps {
			want[verifyKey{c.ObjectID, c.Number}] = true
		}
	}
	for _, id := range o.Objects {
		ob, err := FindObject(ctx, cat, id, "")
		if err != nil {
			return nil, nil, err
		}
		objs[ob.ID] = ob
		wantAll[ob.ID] = true
	}
	for _, s := range o.Sources {
		list, err := cat.Objects(ctx, catalog.ObjectFilter{Source: s})
		if err != nil {
			return nil, nil, err
		}
		if len(list) == 0 {
			return nil, nil, fmt.Errorf("%w: source %q has no object in the catalog", ErrUsage, s)
		}
		for _, ob := range list {
			objs[ob.ID] = ob
			wantAll[ob.ID] = true
		}
	}
	var vols []catalog.Volume
	for _, name := range o.Volumes {
		v, err := cat.Volume(ctx, name)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: no volume %q in the catalog (daisy ls volumes lists them)", ErrUsage, name)
		}
		if err != nil {
			return nil, nil, err
		}
		vols = append(vols, v)
	}
	for _, p := range o.Pools {
		if _, err := cat.Pool(ctx, p); errors.Is(err, catalog.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: no pool %q in the catalog", ErrUsage, p)
		} else if err != nil {
			return nil, nil, err
		}
		vs, err := cat.Volumes(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		vols = append(vols, vs...)
	}
	for _, v := range vols {
		exts, err := cat.VolumeExtents(ctx, v.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range exts {
			want[verifyKey{e.ObjectID, e.Copy}] = true
		}
	}
	// Every copy of the objects selected whole.
	for id := range wantAll {
		cps, err := cat.Copies(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range cps {
			want[verifyKey{c.ObjectID, c.Number}] = true
		}
	}
	keys := make([]verifyKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].object != keys[j].object {
			return keys[i].object < keys[j].object
		}
		return keys[i].copy < keys[j].copy
	})
	var sel []verifySel
	var skipped []VerifySkip
	for _, k := range keys {
		ob, err := object(k.object)
		if err != nil {
			return nil, nil, err
		}
		cp, err := cat.Copy(ctx, k.object, k.copy)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case ob.State != ObjectComplete:
			skipped = append(skipped, VerifySkip{Object: ob.ID, Source: ob.Source, Copy: cp.Number, State: cp.State, Reason: "object is " + ob.State})
		case cp.State == CopyFailed && !strings.HasPrefix(cp.Error, VerifyReasonPrefix):
			skipped = append(skipped, VerifySkip{Object: ob.ID, Source: ob.Source, Copy: cp.Number, State: cp.State, Reason: "copy failed: " + cp.Error})
		case cp.State != CopyGood && cp.State != CopyFailed:
			skipped = append(skipped, VerifySkip{Object: ob.ID, Source: ob.Source, Copy: cp.Number, State: cp.State, Reason: "copy is " + cp.State})
		default:
			sel = append(sel, verifySel{ob, cp})
		}
	}
	return sel, skipped, nil
}

// verifyPending is damage met while reading a copy, not yet tied to a
// range of the object's bytes.
type verifyPending struct {
	volume string
	block  int64 // -1: not one block (a missing volume, a read error)
	last   int64 // the last block of a damaged run (a hole) starting at block
	err    string
	// unavailable: the volume could not be read at all (not damage).
	unavailable bool
}

// verifyReader reads one copy and tracks its records.
type verifyReader struct {
	ctx     context.Context
	onLabel func(label string, err error) // a volume's label block is damaged
	cat     *catalog.Catalog
	vols    mediaagent.Volumes
	obj     catalog.Object
	id      records.ID
	cv      *CopyVerify
	asm     *records.Assembler // nil once the stream could not be assembled
	pend    []verifyPending
	seq     uint32 // sequence number expected next
	off     uint64 // object offset after the last good data record
	end     bool   // the End record was read
	prog    *Progress
	log     *slog.Logger
}

// verifyCopy reads one copy through its catalog extents. Errors are those
// of the catalog or a cancelled context; damage is in the result.
func verifyCopy(ctx context.Context, cat *catalog.Catalog, vols mediaagent.Volumes, obj catalog.Object, cp catalog.Copy, onLabel func(string, error), prog *Progress, log *slog.Logger) (*CopyVerify, error) {
	id, err := records.ParseID(obj.ID)
	if err != nil {
		return nil, fmt.Errorf("catalog object id %q: %w", obj.ID, err)
	}
	v := &verifyReader{
		ctx: ctx, onLabel: onLabel, cat: cat, vols: vols, obj: obj, id: id, prog: prog, log: log,
		cv: &CopyVerify{Object: obj.ID, Source: obj.Source, Copy: cp.Number, Pool: cp.Pool, Catalog: cp.State,
			Volumes: []string{}},
		asm: records.NewAssembler(id, io.Discard),
	}
	if cp.State == CopyFailed {
		v.cv.WasFailed = cp.Error
	}
	exts, err := cat.Extents(ctx, obj.ID, cp.Number)
	if err != nil {
		return nil, err
	}
	if err := v.read(exts); err != nil {
		return nil, err
	}
	v.finish(exts)
	return v.cv, nil
}

// read goes through the copy's extents in order, until the End record.
func (v *verifyReader) read(exts []catalog.Extent) error {
	rd := mediaagent.NewExtentReader(v.ctx, v.vols, v.id, readExtents(exts))
	defer func() {
		v.cv.BytesRead += rd.BytesRead()
		rd.Close()
	}()
	failed := map[string]bool{} // volumes whose failure was reported
	rd.OnDamage = func(d mediaagent.Damage) {
		var me *mediaagent.MountError
		if errors.As(d.Err, &me) {
			if failed[me.Volume.ID] {
				return
			}
			failed[me.Volume.ID] = true
		}
		v.pend = append(v.pend, verifyPending{volume: d.Volume.Label, block: d.Block, last: d.Last, err: d.Reason(), unavailable: d.Unavailable})
	}
	rd.OnLabel = func(vol mediaagent.Volume, err error) {
		if v.onLabel != nil {
			v.onLabel(vol.Label, err)
		}
	}
	rd.OnVolume = func(vol mediaagent.Volume) {
		if v.log != nil {
			v.log.Debug("verify: opening volume", "volume", vol.Label, "object", v.obj.ID, "copy", v.cv.Copy)
		}
		if n := len(v.cv.Volumes); n == 0 || v.cv.Volumes[n-1] != vol.Label {
			v.cv.Volumes = append(v.cv.Volumes, vol.Label)
		}
	}
	for !v.end {
		rec, err := rd.Next()
		switch {
		case err == io.EOF:
			return nil
		case v.ctx.Err() != nil:
			return v.ctx.Err()
		case err != nil:
			// A read error: the rest of the extent is damage.
			v.pend = append(v.pend, verifyPending{volume: rd.Current().Label, block: -1, last: -1, err: err.Error()})
			continue
		}
		v.record(rd.Current().Label, rec)
	}
	return nil
}

// record takes one record of the object.
func (v *verifyReader) record(label string, rec volume.Record) {
	h := rec.Header
	if h.Seq < v.seq {
		return // a record already taken (another extent listed it again)
	}
	from, to := h.Offset, h.Offset
	switch h.Type {
	case records.TypeBegin:
		from, to = 0, 0
	case records.TypeData, records.TypeDataZstd:
		n, _ := records.DataLen(h, rec.Payload) // a bad length fails in the assembler
		to = h.Offset + uint64(n)
	}
	if h.Seq > v.seq || len(v.pend) > 0 {
		lostTo := v.off
		if h.Seq > v.seq {
			lostTo = max(from, v.off)
			v.asm = nil // the assembler cannot go on past a gap
		}
		v.lost(v.off, lostTo)
	}
	if v.asm != nil {
		before := v.asm.Offset()
		if err := v.asm.Add(h, rec.Payload); err != nil {
			v.asm = nil
			d := VerifyDamage{Volume: label, Blocks: []int64{rec.Block}, From: before, To: volume.EndUnknown, Error: err.Error()}
			if h.Type == records.TypeEnd {
				d.From, d.To = 0, h.Offset
			}
			v.cv.Damage = append(v.cv.Damage, d)
		}
	}
	if h.Type.IsData() {
		v.cv.Bytes += int64(h.Length)
		v.prog.add(int64(to - from)) // object bytes, compressed or not
	}
	v.seq, v.off = h.Seq+1, to
	if h.Type == records.TypeEnd {
		v.end = true
		v.checkEnd(label, rec)
	}
}

// checkEnd compares the End record with the catalog.
func (v *verifyReader) checkEnd(label string, rec volume.Record) {
	var end records.EndInfo
	if err := json.Unmarshal(rec.Payload, &end); err != nil {
		if v.asm != nil { // else the assembler reported it
			v.cv.Damage = append(v.cv.Damage, VerifyDamage{Volume: label, Blocks: []int64{rec.Block}, From: 0, To: rec.Header.Offset, Error: "end record: " + err.Error()})
		}
		return
	}
	var diff []string
	if int64(end.Length) != v.obj.Length {
		diff = append(diff, fmt.Sprintf("length %d, the catalog %d", end.Length, v.obj.Length))
	}
	if int64(end.Records) != v.obj.Records {
		diff = append(diff, fmt.Sprintf("%d data records, the catalog %d", end.Records, v.obj.Records))
	}
	if end.Hash != v.obj.Hash {
		diff = append(diff, fmt.Sprintf("hash %s, the catalog %s", end.Hash, v.obj.Hash))
	}
	if len(diff) > 0 {
		v.cv.Damage = append(v.cv.Damage, VerifyDamage{Volume: label, Blocks: []int64{rec.Block}, From: 0, To: end.Length,
			Error: "end record says " + strings.Join(diff, ", ")})
	}
}

// lost turns the pending damage into a lost range [from, to): damage, or
// a range not read when every volume that held it was unavailable.
func (v *verifyReader) lost(from, to uint64) {
	d := VerifyDamage{From: from, To: to}
	var vols, errs []string
	seenErr := map[string]bool{}
	unavailable := len(v.pend) > 0
	for _, p := range v.pend {
		unavailable = unavailable && p.unavailable
		if len(vols) == 0 || vols[len(vols)-1] != p.volume {
			vols = append(vols, p.volume)
		}
		for b := p.block; b >= 0 && b <= max(p.block, p.last); b++ {
			d.Blocks = append(d.Blocks, b)
		}
		if !seenErr[p.err] {
			seenErr[p.err] = true
			errs = append(errs, p.err)
		}
	}
	if len(errs) > 3 {
		errs = append(errs[:3], fmt.Sprintf("and %d more", len(errs)-3))
	}
	if len(v.pend) == 0 {
		errs = append(errs, fmt.Sprintf("records from %d on are missing from the copy's extents", v.seq))
	}
	d.Volume = strings.Join(vols, ", ")
	d.Error = strings.Join(errs, "; ")
	if unavailable {
		v.cv.Unavailable = append(v.cv.Unavailable, d)
	} else {
		v.cv.Damage = append(v.cv.Damage, d)
	}
	v.pend = nil
}

// unavailableReason says which volumes could not be read.
func (c *CopyVerify) unavailableReason() string {
	s := make([]string, len(c.Unavailable))
	for i, d := range c.Unavailable {
		s[i] = d.String()
	}
	return strings.Join(s, "; ")
}

// finish reports what is missing at the end and sets the copy's state.
func (v *verifyReader) finish(exts []catalog.Extent) {
	switch {
	case len(exts) == 0:
		v.cv.Damage = append(v.cv.Damage, VerifyDamage{From: 0, To: volume.EndUnknown, Error: "the catalog lists no extent for the copy"})
	case len(v.pend) > 0:
		v.lost(v.off, volume.EndUnknown)
	case !v.end:
		last := exts[len(exts)-1]
		lbl := last.VolumeID
		if n := len(v.cv.Volumes); n > 0 {
			lbl = v.cv.Volumes[n-1]
		}
		v.cv.Damage = append(v.cv.Damage, VerifyDamage{Volume: lbl, From: v.off, To: volume.EndUnknown,
			Error: fmt.Sprintf("the copy's extents end (block %d) before the object's end record", last.LastBlock)})
	case v.asm != nil && !v.asm.Done() && len(v.cv.Damage) == 0:
		v.cv.Damage = append(v.cv.Damage, VerifyDamage{From: v.off, To: volume.EndUnknown, Error: "the object's stream did not complete"})
	}
	switch {
	case len(v.cv.Damage) > 0:
		v.cv.State = VerifyDamaged
	case len(v.cv.Unavailable) > 0:
		v.cv.State = VerifyUnavailable
	default:
		v.cv.State = VerifyOK
	}
}
