// Package timing models a tape drive on a virtual clock: how long it
// takes to write what a host gives it at the times it gives it, whether it
// streams, and how often it stops and backhitches (shoe-shining).
//
// The model (Drive) follows SPEC §5: a drive writes at up to its native
// speed and matches its speed to a slower feed down to its minimum
// streaming speed; fed more slowly than that, it runs its buffer empty,
// stops, and must reposition (backhitch) before it writes again, losing
// seconds each time. Its own buffer holds what the host sends while the
// tape stands: a stopped drive starts again when the buffer is full (the
// host would otherwise wait) or when the host flushes it (a sync, a
// filemark, an unload). While streaming, the speed is the host's recent
// rate (an exponential average over SpeedWindow) plus a correction that
// brings the buffer back towards half full (over Settle), kept between the
// minimum streaming speed and native; native while the host waits for room
// or for a flush. Real drives have a dozen discrete
// speeds in that range; the model's are continuous.
//
// Drive is the engine of daisy simulate (internal/simulate), which feeds
// it virtual times, and of Wrap, a device.Medium that feeds it the real
// times of a backup's blocks so that a backup to virtual tapes reports what
// a real drive would have done (the job's --json "device_timing").
package timing

import (
	"math"
	"time"
)

// Params describe a drive. They have the fields of config.Timing, in the
// same order: timing.Params(cfg) converts.
type Params struct {
	Preset    string        // the preset the values came from, or ""
	Native    float64       // bytes per second at full speed
	MinStream float64       // slowest streaming speed, bytes per second
	Backhitch time.Duration // lost each time the drive stops and must reposition
	Locate    time.Duration // one positioning (Locate to another block)
	Load      time.Duration // loading a cartridge
	Buffer    int64         // the drive's buffer, bytes
}

// Constants of speed matching.
const (
	// SpeedWindow is the time constant of the drive's estimate of the
	// host's rate.
	SpeedWindow = 1.0 // seconds
	// Settle is the time over which a streaming drive brings its buffer
	// back to half full by running faster or slower than the host.
	Settle = 10.0 // seconds
	// maxStep bounds a step of the model between two events, so that the
	// speed follows the buffer.
	maxStep = 0.05 // seconds
)

// Stats are a drive's counters. The window runs from the first thing the
// drive did (load, locate, write) to the last byte it put on tape.
type Stats struct {
	Model string `json:"model,omitempty"`
	// Bytes written to tape and read from it.
	Bytes     int64   `json:"bytes"`
	BytesRead int64   `json:"bytes_read,omitempty"`
	Window    float64 `json:"window_seconds"`
	// Streaming is the time the tape moved writing (or reading);
	// StreamingShare is Streaming / Window.
	Streaming      float64 `json:"streaming_seconds"`
	StreamingShare float64 `json:"streaming_share"`
	// Backhitches counts the stops after which the drive had to
	// reposition to write again; Repositioning is the time they took.
	Backhitches   int64   `json:"backhitches"`
	Repositioning float64 `json:"repositioning_seconds"`
	Loads         int64   `json:"loads"`
	LoadTime      float64 `json:"load_seconds"`
	Locates       int64   `json:"locates"`
	LocateTime    float64 `json:"locate_seconds"`
	// Idle is the rest of the window: the tape stood waiting for data.
	Idle float64 `json:"idle_seconds"`
	// HostWait is the time the host's writes were held back because the
	// drive's buffer was full (the drive was the bottleneck).
	HostWait float64 `json:"host_wait_seconds"`
	// MeanSpeed is Bytes / Streaming, bytes per second.
	MeanSpeed float64 `json:"mean_speed"`
}

// Drive is the model of one drive on a virtual clock. Times are durations
// since the clock's origin; every call takes the time the host does
// something, and a time before the drive's clock is taken as the drive's
// clock (the host cannot act in the past). It is not safe for concurrent
// use.
type Drive struct {
	p     Params
	cap   float64
	now   float64 // the drive's clock, seconds
	buf   float64 // bytes in the buffer
	moved bool    // the tape is streaming
	// waiting: the host waits for room in the buffer.
	waiting bool

	busyUntil float64 // repositioning, locating or loading until then
	// pending is a backhitch owed since the drive stopped at stoppedAt: it
	// counts when the drive streams again.
	pending   bool
	stoppedAt float64

	rate     float64 // host rate estimate (bytes/s) at lastFeed
	lastFeed float64

	started   bool
	start     float64
	lastTape  float64
	tapeBytes float64
	st        Stats
	trace     *Trace
}

// NewDrive returns an idle drive with an empty buffer.
func NewDrive(p Params) *Drive {
	return &Drive{p: p, cap: float64(p.Buffer)}
}

// Params returns the drive's parameters.
func (d *Drive) Params() Params { return d.p }

// Trace makes the drive record its rates over time (see Trace).
func (d *Drive) Trace(t *Trace) { d.trace = t }

// Now returns the drive's clock.
func (d *Drive) Now() time.Duration { return dur(d.now) }

// Buffered returns the bytes in the drive's buffer, not yet on tape.
func (d *Drive) Buffered() int64 { return int64(d.buf) }

func secs(t time.Duration) float64 { return t.Seconds() }
func dur(s float64) time.Duration  { return time.Duration(math.Round(s * 1e9)) }

// begin moves the clock to the host's time and opens the window.
func (d *Drive) begin(at time.Duration) {
	t := max(secs(at), d.now)
	if !d.started {
		d.started, d.start, d.now, d.lastTape = true, t, t, t
		d.lastFeed = t
	}
	d.advance(t)
}

// Write gives the drive n bytes at time at. It returns the time the drive
// took them into its buffer: later than at when the buffer was full and
// the host had to wait.
func (d *Drive) Write(at time.Duration, n int) time.Duration {
	d.begin(at)
	t0 := d.now
	need := float64(n)
	for d.buf+need > d.cap+1e-6 && d.buf > 0 {
		// No room: the drive must take data off the buffer first, and
		// runs at full speed while the host waits.
		d.waiting = true
		d.stream()
		if d.now < d.busyUntil {
			d.advance(d.busyUntil)
			continue
		}
		h := (d.buf + need - d.cap) / d.speed()
		d.advance(d.now + max(min(h, maxStep), 1e-9))
	}
	d.waiting = false
	d.st.HostWait += d.now - t0
	d.buf += need
	d.rate = d.rateAt(d.now) + need/SpeedWindow
	d.lastFeed = d.now
	if d.trace != nil {
		d.trace.add(d.now-d.start, d.now-d.start, need, false)
	}
	return d.Now()
}

// Flush writes the buffer out (a sync, a filemark) and returns when its
// last byte is on tape. The tape then stands: writing again costs a
// backhitch.
func (d *Drive) Flush(at time.Duration) time.Duration {
	d.begin(at)
	d.waiting = true // the host waits for the flush
	defer func() { d.waiting = false }()
	for d.buf > 0 {
		d.stream()
		if d.now < d.busyUntil {
			d.advance(d.busyUntil)
			continue
		}
		d.advance(d.now + min(d.buf/d.speed()+1e-9, maxStep))
	}
	return d.Now()
}

// Load flushes the buffer and loads a cartridge (unloading the one in the
// drive): the drive is busy for Params.Load. It returns when the drive is
// ready.
func (d *Drive) Load(at time.Duration) time.Duration {
	return d.busy(at, d.p.Load, &d.st.Loads, &d.st.LoadTime)
}

// Locate flushes the buffer and positions the tape (Params.Locate). It
// returns when the drive is ready.
func (d *Drive) Locate(at time.Duration) time.Duration {
	return d.busy(at, d.p.Locate, &d.st.Locates, &d.st.LocateTime)
}

// busy flushes the buffer, then keeps the drive busy for took once the
// work before is done, counted in n and total. A tape moved away (or
// unloaded) owes no backhitch.
func (d *Drive) busy(at, took time.Duration, n *int64, total *float64) time.Duration {
	d.Flush(at)
	d.pending = false
	t := max(d.now, d.busyUntil)
	if t > d.now {
		d.advance(t)
	}
	d.busyUntil = t + secs(took)
	*n++
	*total += secs(took)
	d.lastTape = max(d.lastTape, d.busyUntil)
	return dur(d.busyUntil)
}

// Read reads n bytes at native speed (after writing out the buffer) and
// returns when they are read. Reads are not matched nor shoe-shined by the
// model: they count as streaming.
func (d *Drive) Read(at time.Duration, n int) time.Duration {
	d.Flush(at)
	d.pending = false
	t := max(d.now, d.busyUntil)
	h := float64(n) / d.p.Native
	d.advance(t)
	d.now = t + h
	d.st.Streaming += h
	d.st.BytesRead += int64(n)
	d.lastTape = d.now
	if d.trace != nil {
		d.trace.add(t-d.start, d.now-d.start, float64(n), true)
	}
	return d.Now()
}

// Stats returns the counters so far. The window ends with the last byte on
// tape; bytes still in the buffer are not counted.
func (d *Drive) Stats() Stats {
	s := d.st
	s.Model = d.p.Preset
	s.Bytes = int64(math.Round(d.tapeBytes))
	if d.started {
		s.Window = d.lastTape - d.start
	}
	s.Idle = max(0, s.Window-s.Streaming-s.Repositioning-s.LoadTime-s.LocateTime)
	if s.Window > 0 {
		s.StreamingShare = s.Streaming / s.Window
	}
	if s.Streaming > 0 {
		s.MeanSpeed = float64(s.Bytes+s.BytesRead) / s.Streaming
	}
	return s
}

// stream starts the tape if it stands: after a stop it first
// repositions (the backhitch owed since the stop).
func (d *Drive) stream() {
	if d.moved {
		return
	}
	d.moved = true
	if d.pending {
		d.pending = false
		d.st.Backhitches++
		d.st.Repositioning += secs(d.p.Backhitch)
		d.busyUntil = max(d.busyUntil, d.stoppedAt+secs(d.p.Backhitch))
	}
}

func (d *Drive) rateAt(t float64) float64 {
	return d.rate * math.Exp(-(t-d.lastFeed)/SpeedWindow)
}

// speed is the tape speed now: the host's rate, corrected towards a half
// full buffer, between the minimum streaming speed and native; native
// while the host waits for room.
func (d *Drive) speed() float64 {
	if d.waiting {
		return d.p.Native
	}
	v := d.rateAt(d.now) + (d.buf-d.cap/2)/Settle
	return min(max(v, d.p.MinStream), d.p.Native)
}

// advance runs the drive until time to with no host action in between.
func (d *Drive) advance(to float64) {
	for d.now < to {
		if d.now < d.busyUntil {
			d.now = min(to, d.busyUntil)
			continue
		}
		if !d.moved {
			d.now = to
			return
		}
		v := d.speed()
		h := min(to-d.now, maxStep)
		w := v * h
		if d.buf <= w {
			// The buffer runs empty: the tape stops and owes a
			// backhitch before it writes again.
			h, w = d.buf/v, d.buf
			d.moved, d.pending = false, true
			d.stoppedAt = d.now + h
		}
		if d.trace != nil {
			d.trace.add(d.now-d.start, d.now+h-d.start, w, true)
		}
		d.buf -= w
		d.tapeBytes += w
		d.st.Streaming += h
		d.now += h
		d.lastTape = d.now
		if !d.moved {
			d.buf = 0
		}
	}
}
