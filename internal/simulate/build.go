package simulate

import (
	"fmt"
	"math"
	"time"

	"daisy/internal/config"
	"daisy/internal/device/timing"
	"daisy/internal/mediaagent"
)

// The BMA's defaults (mediaagent.BMA.Run).
const (
	defaultExtent    = 64 << 20
	defaultHoldRun   = 50 * time.Millisecond
	defaultIdleFlush = 200 * time.Millisecond
	// reserveBlocks are the blocks after a volume's early warning (the
	// trailer's reserve).
	reserveBlocks = 2
)

// build wires the topology: buffers, cursors, forwarders, media agents,
// sources.
func build(cfg *config.Config, o Options) (*sim, error) {
	if len(o.Sources) == 0 {
		return nil, fmt.Errorf("no source to simulate; give at least one as NAME=RATE:SIZE")
	}
	s := &sim{}
	bufs := map[string]*buffer{}
	for _, ma := range cfg.MediaAgents() {
		for _, b := range ma.Buffers {
			bufs[b.ID(ma.Name)] = &buffer{id: b.ID(ma.Name), capacity: b.Size}
		}
	}
	// Sources, each into the backup-group buffer of its chain.
	used := map[string]bool{}
	names := make([]string, len(o.Sources))
	for i, src := range o.Sources {
		if _, ok := cfg.Source(src.Name); !ok {
			return nil, fmt.Errorf("source %s is not in %s", src.Name, cfg.File)
		}
		chain := cfg.Chain(src.Name)
		if len(chain) == 0 {
			return nil, fmt.Errorf("source %s is in no buffer of the backup group, so it has nowhere to go", src.Name)
		}
		if src.Rate <= 0 || src.Size <= 0 || math.IsInf(src.Rate, 0) || math.IsNaN(src.Rate) {
			return nil, fmt.Errorf("source %s: rate and size must be above 0", src.Name)
		}
		id := chain[0].Buffer.ID(chain[0].Agent.Name)
		if used[id] {
			return nil, fmt.Errorf("source %s is given twice", src.Name)
		}
		used[id] = true
		names[i] = src.Name
		x := &source{name: src.Name, obj: int32(i), rate: src.Rate, size: src.Size, left: src.Size, buf: bufs[id]}
		s.add(x)
		bufs[id].producer = x
		s.sources = append(s.sources, x)
	}
	// Media agents and their drives.
	for _, ma := range cfg.MediaAgents() {
		dev, _ := cfg.Device(ma.Device)
		pool, _ := cfg.Pool(ma.Pool)
		p := o.Default
		if dev.Timing != nil {
			p = timing.Params(*dev.Timing)
		}
		if p.Native <= 0 || p.MinStream <= 0 || p.Buffer <= 0 {
			return nil, fmt.Errorf("device %s has no timing model; give it timing: (e.g. timing: lto9) or choose a default model", dev.Name)
		}
		bs := int(dev.BlockSize)
		if bs <= 0 {
			bs = int(config.DefaultBlockSize)
		}
		capacity := pool.VolumeCapacity
		if o.VolumeCapacity > 0 {
			capacity = o.VolumeCapacity
		}
		maxBlocks := max(capacity/int64(bs)-reserveBlocks, 3)
		extent := ma.ExtentSize
		if o.ExtentSize > 0 {
			extent = o.ExtentSize
		}
		if extent <= 0 {
			extent = defaultExtent
		}
		hold, idle := o.HoldRun, o.IdleFlush
		if hold <= 0 {
			hold = defaultHoldRun
		}
		if idle <= 0 {
			idle = defaultIdleFlush
		}
		a := &bma{
			name: ma.Name, device: ma.Device, drive: timing.NewDrive(p),
			blockSize: bs, maxBlocks: maxBlocks, room: bs - blockHeader,
			idleFlush: idle.Seconds(), objs: map[int32]*copyStat{},
		}
		s.add(a)
		a.policy = mediaagent.NewPolicy(extent, hold)
		a.policy.Now = s.clock
		if o.Trace {
			a.trace = timing.NewTrace(1)
			a.drive.Trace(a.trace)
		}
		for _, b := range ma.Buffers {
			buf := bufs[b.ID(ma.Name)]
			c := &cursor{b: buf, owner: a}
			buf.cursors = append(buf.cursors, c)
			a.ins = append(a.ins, c)
			a.copies = append(a.copies, ma.Level+1)
		}
		a.ended = make([]bool, len(a.ins))
		a.nlive = len(a.ins)
		s.bmas = append(s.bmas, a)
	}
	// Chains: a forwarder per mirror buffer.
	for _, ma := range cfg.MediaAgents() {
		for _, b := range ma.Buffers {
			if b.Follows == "" {
				continue
			}
			up, down := bufs[b.Follows], bufs[b.ID(ma.Name)]
			f := &forwarder{to: down}
			s.add(f)
			f.from = &cursor{b: up, owner: f}
			up.cursors = append(up.cursors, f.from)
			down.producer = f
			s.fwds = append(s.fwds, f)
		}
	}
	s.names = names
	// Backup-group buffers without a source carry nothing.
	for _, ma := range cfg.BackupGroup {
		for _, b := range ma.Buffers {
			if !used[b.ID(ma.Name)] {
				bufs[b.ID(ma.Name)].close(s)
			}
		}
	}
	for _, x := range s.sources {
		s.wake(x, 0)
	}
	return s, nil
}

func (s *sim) result() *Result {
	r := &Result{}
	for _, x := range s.sources {
		r.Sources = append(r.Sources, SourceResult{Name: x.name, Bytes: x.size, Rate: x.rate, Finished: x.done, Waited: x.waited})
	}
	for _, a := range s.bmas {
		d := DriveResult{Device: a.device, MediaAgent: a.name, Model: a.drive.Params(), Stats: a.drive.Stats(), Volumes: a.volumes, BlockSize: a.blockSize, Trace: a.trace}
		for _, o := range a.order {
			st := a.objs[o]
			d.Objects = append(d.Objects, ObjectResult{Source: s.names[o], Copy: st.copy, Bytes: st.bytes, Extents: st.extents, Blocks: st.blocks})
		}
		bh := d.Stats.Backhitches
		d.ShoeShining = bh >= 2 && float64(bh)*10e9 >= float64(d.Stats.Bytes)
		r.Drives = append(r.Drives, d)
		r.Elapsed = max(r.Elapsed, a.finished)
	}
	return r
}

// Model returns the timing model of a drive as daisy.yaml (or a preset)
// describes it: what Options.Default takes, so that the command line
// needs no device package.
func Model(t config.Timing) timing.Params { return timing.Params(t) }
