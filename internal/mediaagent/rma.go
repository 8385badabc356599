package mediaagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"daisy/internal/buffers"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// A restore media agent (RMA) reads volumes, splits their single sequence
// of records into objects by identifier, and puts each selected object's
// records, in order and unchanged, into the buffer its selection names;
// records of other objects are skipped. On a device that can locate, it
// reads only the blocks of the selected objects' extents, each volume once
// and in block order, however many buffers the objects go to. Every block
// CRC, record CRC, sequence number, offset and object hash is checked on the
// way: an object that fails a check is cut off before its End record, so no
// copy of it can be completed downstream. When a task names other copies
// to fall back on, an object whose copy cannot be read (volume missing,
// damaged block) goes on from the next copy at the record where it
// stopped: the records before it were checked and passed on already, and
// the object's hash is still checked over the whole.

// ReadTask is one object to read: its extents on the copy being read, in
// copy order, and the buffer its records go to. Fallbacks are the extents
// of other copies of the object, in the order to try them, FallbackCopies
// their copy numbers.
type ReadTask struct {
	Object         records.ID
	Extents        []ReadExtent
	Out            *buffers.Buffer
	Fallbacks      [][]ReadExtent
	FallbackCopies []int
}

// ReadResult is what the RMA did with one object.
type ReadResult struct {
	Object records.ID
	Bytes  int64 // data bytes passed on
	Err    error // nil when every record, End included, was checked and passed on
	// FellBack holds, for each copy given up, why; Fallback is the index
	// into FallbackCopies of the copy read last (-1: the first copy).
	FellBack []string
	Fallback int
}

// RMA is a restore media agent.
type RMA struct {
	Name    string
	Device  string
	Tasks   []ReadTask
	Volumes Volumes
	Pool    *records.Pool
	// Serial reads the tasks one after the other, each object whole before
	// the next, so that the media agents downstream write each object as
	// one contiguous extent (demultiplexing). Otherwise each volume is read
	// once for all tasks, and objects interleaved on it stay interleaved.
	Serial bool
	// OnRead, if set, is called with the bytes read from the device.
	OnRead func(n int64)

	bytesRead int64
	reads     []VolumeRead
}

// BytesRead returns the bytes read from devices so far.
func (a *RMA) BytesRead() int64 { return a.bytesRead }

// Reads returns the device counters per volume read so far.
func (a *RMA) Reads() []VolumeRead { return a.reads }

type readState struct {
	task    *ReadTask
	extents []ReadExtent // of the copy being read
	asm     *records.Assembler
	res     *ReadResult
	done    bool
	final   bool     // the error is not the copy's (a writer downstream failed): no fallback
	damage  []string // damaged blocks met while the object was being read
}

// Run reads every task's records into its buffer and closes the buffers
// when all is read. It returns one result per task, in task order. An
// error is returned only when the agent could not go on at all (ctx).
func (a *RMA) Run(ctx context.Context) ([]ReadResult, error) {
	results := make([]ReadResult, len(a.Tasks))
	defer func() {
		outs := map[*buffers.Buffer]bool{}
		for i := range a.Tasks {
			outs[a.Tasks[i].Out] = true
		}
		for b := range outs {
			b.Close()
		}
	}()
	if !a.Serial {
		return results, a.read(ctx, a.Tasks, results)
	}
	for i := range a.Tasks {
		if err := a.read(ctx, a.Tasks[i:i+1], results[i:i+1]); err != nil {
			return results, err
		}
	}
	return results, nil
}

// read reads the given tasks in one pass over their volumes, then the
// objects that failed on their fallback copies, a pass per round.
func (a *RMA) read(ctx context.Context, tasks []ReadTask, results []ReadResult) error {
	byID := map[records.ID]*readState{}
	for i := range tasks {
		t := &tasks[i]
		results[i] = ReadResult{Object: t.Object, Fallback: -1}
		byID[t.Object] = &readState{task: t, extents: t.Extents, asm: records.NewAssembler(t.Object, io.Discard), res: &results[i]}
	}
	for {
		if err := a.readPass(ctx, byID); err != nil {
			return err
		}
		again := map[records.ID]*readState{}
		for id, st := range byID {
			r := st.res
			if r.Err == nil || st.final || st.asm.Done() || r.Fallback+1 >= len(st.task.Fallbacks) {
				continue
			}
			r.FellBack = append(r.FellBack, r.Err.Error())
			r.Err, st.damage = nil, nil
			r.Fallback++
			st.extents = st.task.Fallbacks[r.Fallback]
			again[id] = st
		}
		if len(again) == 0 {
			return nil
		}
		byID = again
	}
}

// readPass reads the objects of byID that have not failed from their
// current copies' extents, each volume once, in the order the volumes were
// written, each in block order.
func (a *RMA) readPass(ctx context.Context, byID map[records.ID]*readState) error {
	ranges := map[string][][2]int64{}
	var vols []string
	for _, st := range byID {
		for _, e := range st.extents {
			if _, ok := ranges[e.VolumeID]; !ok {
				vols = append(vols, e.VolumeID)
			}
			ranges[e.VolumeID] = append(ranges[e.VolumeID], [2]int64{e.FirstBlock, e.LastBlock})
		}
	}
	var exts []ReadExtent
	for _, vol := range a.order(ctx, vols) {
		for _, r := range merge(ranges[vol]) {
			exts = append(exts, ReadExtent{VolumeID: vol, FirstBlock: r[0], LastBlock: r[1]})
		}
	}
	// failVolume fails every object still waiting for records from vol.
	failVolume := func(vol string, err error) {
		for _, st := range byID {
			if !st.done && st.res.Err == nil && st.usesVolume(vol) {
				st.res.Err = err
			}
		}
	}
	rd := NewExtentReader(ctx, a.Volumes, records.ID{}, exts)
	var damage []string
	rd.OnDamage = func(d Damage) {
		var me *MountError
		if errors.As(d.Err, &me) {
			failVolume(me.Volume.ID, fmt.Errorf("media agent %s: %w", a.Name, me))
			return
		}
		damage = append(damage, d.Error())
	}
	defer func() {
		n := rd.BytesRead()
		a.reads = AddReads(a.reads, rd.Reads())
		a.bytesRead += n
		if a.OnRead != nil {
			a.OnRead(n)
		}
		rd.Close()
	}()
	var runErr error
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break
			}
			// The rest of the volume cannot be read.
			failVolume(exts[rd.k].VolumeID, err)
			continue
		}
		if len(damage) > 0 {
			// Objects of the damaged blocks show it as a sequence gap
			// at their next record; name the damage there.
			for _, st := range byID {
				st.damage = append(st.damage, damage...)
			}
			damage = damage[:0]
		}
		h := rec.Header
		st := byID[h.Object]
		if st == nil || st.done || st.res.Err != nil || !h.Type.IsObject() || h.Seq < st.asm.NextSeq() {
			continue
		}
		if err := a.pass(ctx, st, rec); err != nil {
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break
			}
			st.res.Err = err
		}
	}
	for _, st := range byID {
		if st.res.Err == nil && !st.done {
			st.res.Err = fmt.Errorf("object %s: its extents ended at offset %d before its end record", st.task.Object, st.asm.Offset())
		}
	}
	return runErr
}

// order sorts volume IDs in the order their data was written (spanning
// goes forward), so that each object's records are met in sequence.
func (a *RMA) order(ctx context.Context, ids []string) []string {
	out := append([]string(nil), ids...)
	info := map[string]Volume{}
	for _, id := range out {
		info[id], _ = a.Volumes.Volume(ctx, id) // an unknown volume fails when mounted
	}
	sort.SliceStable(out, func(i, j int) bool {
		x, y := info[out[i]], info[out[j]]
		if !x.Created.Equal(y.Created) {
			return x.Created.Before(y.Created)
		}
		return x.Label < y.Label
	})
	return out
}

func (st *readState) usesVolume(vol string) bool {
	for _, e := range st.extents {
		if e.VolumeID == vol {
			return true
		}
	}
	return false
}

// merge sorts block ranges and joins those that overlap or touch.
func merge(rs [][2]int64) [][2]int64 {
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	var out [][2]int64
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// pass checks one record of a selected object and puts it into the
// object's buffer. The End record goes on only if the whole object checked.
func (a *RMA) pass(ctx context.Context, st *readState, rec volume.Record) error {
	h := rec.Header
	if err := st.asm.Add(h, rec.Payload); err != nil {
		if len(st.damage) > 0 {
			err = fmt.Errorf("%w (after damage: %s)", err, st.damage[0])
		}
		return err
	}
	r := a.Pool.FromBytes(rec.Raw)
	if err := st.task.Out.Push(ctx, r); err != nil {
		st.final = true
		if errors.Is(err, buffers.ErrNoConsumers) {
			return fmt.Errorf("every writer of %s failed", st.task.Out.Name())
		}
		return err
	}
	if h.Type.IsData() {
		st.res.Bytes += int64(h.Length)
	}
	if h.Type == records.TypeEnd {
		st.done = true
	}
	return nil
}
