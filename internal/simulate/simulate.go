// Package simulate runs a backup topology of daisy.yaml on a virtual clock
// (daisy simulate): synthetic sources of given rates and sizes feed the
// buffers of the backup group, forwarders feed the mirror buffers along the
// chains, and every media agent multiplexes its buffers onto a modelled
// tape drive (internal/device/timing). No data moves: a record is its size,
// a block its records; a run of terabytes takes seconds. It is a discrete
// event simulation: sources push records when they are due, media agents
// take them as the real one does, and the drive model says when each block
// was taken into the drive's buffer.
//
// The media agents run the BMA's own multiplexing rule,
// mediaagent.Policy, with the same defaults (extent size, run hold, idle
// flush of a partly filled block), on the virtual clock; what is modelled
// here is only what is around it: buffers and their backpressure (a
// record counts against a buffer until every consumer took it), packing
// of records into blocks with a copy mark per object and block, spanning
// onto the next volume (a cartridge load) at the pool's volume capacity,
// and the extents of each copy (runs of consecutive blocks holding its
// records, as the BMA reports them).
package simulate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"daisy/internal/buffers"
	"daisy/internal/config"
	"daisy/internal/device/timing"
	"daisy/internal/records"
)

// Source is a synthetic source: Size bytes at Rate bytes per second.
type Source struct {
	Name string
	Rate float64
	Size int64
}

// ParseSource reads NAME=RATE:SIZE, e.g. "D1=60MB/s:500GiB" (the rate and
// size units of daisy.yaml).
func ParseSource(s string) (Source, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Source{}, errors.New("write NAME=RATE:SIZE, e.g. D1=60MB/s:500GiB")
	}
	rate, size, ok := strings.Cut(rest, ":")
	if !ok || rate == "" || size == "" {
		return Source{}, fmt.Errorf("source %s: write NAME=RATE:SIZE, e.g. %s=60MB/s:500GiB", name, name)
	}
	r, err := config.ParseRate(rate)
	if err != nil {
		return Source{}, fmt.Errorf("source %s: %w", name, err)
	}
	n, err := config.ParseSize(size)
	if err != nil {
		return Source{}, fmt.Errorf("source %s: %w", name, err)
	}
	if n == 0 {
		return Source{}, fmt.Errorf("source %s: size 0; give the bytes the source holds, e.g. 500GiB", name)
	}
	return Source{Name: name, Rate: r, Size: n}, nil
}

// Options of a run.
type Options struct {
	Sources []Source
	// Default models the devices whose configuration has no timing.
	Default timing.Params
	// ExtentSize, if not 0, replaces every media agent's extent size;
	// HoldRun and IdleFlush, if not 0, the BMA's defaults (50 ms, 200 ms).
	ExtentSize int64
	HoldRun    time.Duration
	IdleFlush  time.Duration
	// VolumeCapacity, if not 0, replaces the pools' volume capacities.
	VolumeCapacity int64
	// Trace records each drive's rates over time (Drive.Trace).
	Trace bool
}

// Result of a run.
type Result struct {
	// Elapsed is the virtual time until the last drive was done.
	Elapsed float64        `json:"elapsed_seconds"`
	Drives  []DriveResult  `json:"drives"`
	Sources []SourceResult `json:"sources"`
}

// DriveResult is what one media agent's drive did.
type DriveResult struct {
	Device     string         `json:"device"`
	MediaAgent string         `json:"media_agent"`
	Model      timing.Params  `json:"-"`
	Stats      timing.Stats   `json:"timing"`
	Volumes    int            `json:"volumes"`
	BlockSize  int            `json:"block_size"`
	Objects    []ObjectResult `json:"objects"`
	// ShoeShining says the drive stopped and repositioned often enough
	// to matter: a backhitch per 10 GB written or more, or a streaming
	// share under 90 %.
	ShoeShining bool          `json:"shoe_shining"`
	Trace       *timing.Trace `json:"-"`
}

// ObjectResult is one copy written by a drive.
type ObjectResult struct {
	Source  string `json:"source"`
	Copy    int    `json:"copy"`
	Bytes   int64  `json:"bytes"`
	Extents int    `json:"extents"`
	// Blocks is the number of blocks holding its records: a restore of
	// the copy reads them (Blocks × block size against Bytes is what
	// interleaving costs it).
	Blocks int64 `json:"blocks"`
}

// SourceResult is what one source did.
type SourceResult struct {
	Name  string  `json:"name"`
	Bytes int64   `json:"bytes"`
	Rate  float64 `json:"rate"`
	// Finished is when its last record went into its buffer; Waited the
	// time it was held back by a full buffer.
	Finished float64 `json:"finished_seconds"`
	Waited   float64 `json:"waited_seconds"`
}

// Sizes of what moves, as the real stream writer and volume writer make
// them.
const (
	dataPayload = records.DataChunk
	recLen      = records.HeaderSize + dataPayload
	markLen     = records.HeaderSize + 64 // a copy mark without the media agent's name
	blockHeader = 64                      // volume.BlockHeaderSize
	// footprint is what a full data record counts against its buffer
	// (records.Record.Footprint of a pooled full-size record).
	footprint = records.MaxRecordSize + 48
)

// Run simulates a backup of o.Sources through cfg's topology.
func Run(cfg *config.Config, o Options) (*Result, error) {
	s, err := build(cfg, o)
	if err != nil {
		return nil, err
	}
	s.loop()
	return s.result(), nil
}

// ---- the event loop ----

type actor interface {
	step(s *sim)
	base() *actorBase
	// notify tells a consumer that its buffer got a record or ended.
	notify(s *sim)
}

type actorBase struct {
	next float64 // earliest wake scheduled, +Inf for none
	id   int32   // index in sim.actors
}

func (a *actorBase) base() *actorBase { return a }

// event wakes actor a at time t; seq orders events of the same time.
// Events hold no pointers, so that the queue costs the collector nothing.
type event struct {
	t   float64
	seq uint64
	a   int32
}

// queue is a binary min-heap of events.
type queue []event

func (q queue) less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}

func (q *queue) push(e event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *queue) pop() event {
	h := *q
	e := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return e
}

type sim struct {
	now     float64
	q       queue
	seq     uint64
	actors  []actor
	sources []*source
	bmas    []*bma
	fwds    []*forwarder
	names   []string
}

var epoch = time.Unix(0, 0)

// clock is the virtual clock as the Policy reads it. It rounds up, so that
// an agent woken at the end of a hold sees the hold over.
func (s *sim) clock() time.Time { return epoch.Add(time.Duration(math.Ceil(s.now * 1e9))) }

// wake schedules a to run at t unless it runs earlier already.
func (s *sim) wake(a actor, t float64) {
	b := a.base()
	if t >= b.next {
		return
	}
	b.next = t
	s.seq++
	s.q.push(event{t: t, seq: s.seq, a: b.id})
}

// add registers an actor.
func (s *sim) add(a actor) {
	b := a.base()
	b.next, b.id = math.Inf(1), int32(len(s.actors))
	s.actors = append(s.actors, a)
}

func (s *sim) loop() {
	for len(s.q) > 0 {
		e := s.q.pop()
		a := s.actors[e.a]
		b := a.base()
		if e.t != b.next {
			continue // superseded by an earlier wake
		}
		b.next = math.Inf(1)
		s.now = e.t
		a.step(s)
	}
}

// ---- buffers ----

type rec struct {
	obj int32 // index of the object (source)
	n   int32 // encoded length
}

type buffer struct {
	id       string
	capacity int64
	used     int64
	q        []rec
	head     int    // q[head] has absolute index base
	base     uint64 // absolute index of q[head]
	closed   bool
	cursors  []*cursor
	producer actor // woken when space is freed
}

type cursor struct {
	b     *buffer
	next  uint64
	owner actor
}

func (b *buffer) room() bool { return b.used == 0 || b.used+footprint <= b.capacity }

func (b *buffer) push(s *sim, r rec) {
	b.q = append(b.q, r)
	b.used += footprint
	for _, c := range b.cursors {
		c.owner.notify(s)
	}
}

func (b *buffer) close(s *sim) {
	b.closed = true
	for _, c := range b.cursors {
		c.owner.notify(s)
	}
}

func (c *cursor) state() buffers.State {
	if c.next < c.b.base+uint64(len(c.b.q)-c.b.head) {
		return buffers.Ready
	}
	if c.b.closed {
		return buffers.Done
	}
	return buffers.Empty
}

// take returns the next record and acknowledges it; records every cursor
// took are released.
func (c *cursor) take(s *sim) rec {
	b := c.b
	r := b.q[b.head+int(c.next-b.base)]
	c.next++
	low := c.next
	for _, o := range b.cursors {
		low = min(low, o.next)
	}
	freed := false
	for b.base < low {
		b.head++
		b.base++
		b.used -= footprint
		freed = true
	}
	if b.head > 1024 && b.head*2 > len(b.q) {
		b.q = append(b.q[:0], b.q[b.head:]...)
		b.head = 0
	}
	if freed && b.producer != nil {
		s.wake(b.producer, s.now)
	}
	return r
}

// ---- sources ----

type source struct {
	actorBase
	name    string
	obj     int32
	rate    float64
	size    int64
	left    int64
	due     float64 // when the next record is due
	buf     *buffer
	waited  float64
	done    float64
	blocked bool
}

func (x *source) notify(s *sim) { s.wake(x, s.now) }

func (x *source) step(s *sim) {
	for x.left > 0 && x.due <= s.now {
		if !x.buf.room() {
			x.blocked = true
			return // woken when the buffer has room
		}
		if x.blocked {
			x.waited += s.now - x.due
			x.due = s.now
			x.blocked = false
		}
		n := min(x.left, dataPayload)
		x.left -= n
		x.buf.push(s, rec{obj: x.obj, n: int32(records.HeaderSize + n)})
		x.due += float64(n) / x.rate
	}
	if x.left > 0 {
		s.wake(x, x.due)
		return
	}
	if !x.buf.closed {
		x.done = s.now
		x.buf.close(s)
	}
}

// ---- forwarders ----

type forwarder struct {
	actorBase
	from *cursor
	to   *buffer
}

func (f *forwarder) notify(s *sim) { s.wake(f, s.now) }

func (f *forwarder) step(s *sim) {
	for {
		switch f.from.state() {
		case buffers.Done:
			if !f.to.closed {
				f.to.close(s)
			}
			return
		case buffers.Empty:
			return
		}
		if !f.to.room() {
			return // woken when it has
		}
		f.to.push(s, f.from.take(s))
	}
}
