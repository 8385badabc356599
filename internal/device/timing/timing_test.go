package timing

import (
	"math"
	"testing"
	"time"
)

var lto9 = Params{Preset: "lto9", Native: 400e6, MinStream: 177e6, Backhitch: 2500 * time.Millisecond, Locate: 50 * time.Second, Load: 15 * time.Second, Buffer: 1 << 30}

const block = 256 << 10

// feed writes blocks at rate bytes/s for secs seconds, as a host that
// waits when the drive's buffer is full, then flushes.
func feed(d *Drive, rate, secs float64) {
	gap := float64(block) / rate
	t := 0.0
	for t < secs {
		got := d.Write(dur(t), block)
		t = max(t+gap, got.Seconds())
	}
	d.Flush(dur(t))
}

// A drive fed at twice its minimum streaming speed (below native) matches
// its speed and streams the whole window but the first fill of its
// buffer, without a backhitch.
func TestTwiceMinStreamStreams(t *testing.T) {
	d := NewDrive(lto9)
	rate := 2 * lto9.MinStream
	feed(d, rate, 600)
	s := d.Stats()
	fill := float64(lto9.Buffer) / rate
	if s.Backhitches != 0 {
		t.Fatalf("%d backhitches at 2× min stream", s.Backhitches)
	}
	if want := 1 - fill/s.Window; s.StreamingShare < want-0.005 || s.StreamingShare < 0.99 {
		t.Fatalf("streaming share %.4f, want about %.4f (all but the first fill)", s.StreamingShare, want)
	}
	if math.Abs(s.MeanSpeed-rate)/rate > 0.01 {
		t.Fatalf("mean speed %.0f, want the feed's %.0f (speed matching)", s.MeanSpeed, rate)
	}
	if s.HostWait > 0.01 {
		t.Fatalf("host waited %.3fs for a drive faster than its feed", s.HostWait)
	}
}

// Fed at half its minimum streaming speed, the drive streams at that
// minimum until its buffer is empty, stops, and starts again when the
// buffer is full: a cycle of C/(min-r) streaming and C/r filling, so one
// backhitch per cycle and a streaming share of r/min.
func TestHalfMinStreamBackhitches(t *testing.T) {
	d := NewDrive(lto9)
	r := lto9.MinStream / 2
	const secs = 1200
	feed(d, r, secs)
	s := d.Stats()
	c := float64(lto9.Buffer)
	cycle := c/(lto9.MinStream-r) + c/r
	// The first fill, then cycles; the last stop is no backhitch (nothing
	// followed it).
	want := math.Floor((secs - c/r) / cycle)
	if math.Abs(float64(s.Backhitches)-want) > 1 {
		t.Fatalf("%d backhitches in %ds, the model predicts %.0f (cycle %.1fs)", s.Backhitches, secs, want, cycle)
	}
	if s.Backhitches < 10 {
		t.Fatalf("only %d backhitches: no shoe-shining", s.Backhitches)
	}
	if share := r / lto9.MinStream; math.Abs(s.StreamingShare-share) > 0.03 {
		t.Fatalf("streaming share %.3f, want about %.3f", s.StreamingShare, share)
	}
	if math.Abs(s.MeanSpeed-lto9.MinStream)/lto9.MinStream > 0.01 {
		t.Fatalf("mean speed %.0f, want the minimum streaming speed", s.MeanSpeed)
	}
	if got, wantR := s.Repositioning, float64(s.Backhitches)*lto9.Backhitch.Seconds(); math.Abs(got-wantR) > 1e-6 {
		t.Fatalf("repositioning %.1fs for %d backhitches", got, s.Backhitches)
	}
	if sum := s.Streaming + s.Repositioning + s.Idle; math.Abs(sum-s.Window) > 1e-6 {
		t.Fatalf("streaming+repositioning+idle %.3f != window %.3f", sum, s.Window)
	}
}

// A host faster than native waits for the drive, which streams at
// native.
func TestFasterThanNative(t *testing.T) {
	d := NewDrive(lto9)
	feed(d, 2*lto9.Native, 100)
	s := d.Stats()
	fill := float64(lto9.Buffer) / (2 * lto9.Native)
	if s.Backhitches != 0 || s.StreamingShare < 1-fill/s.Window-0.005 {
		t.Fatalf("share %.3f, %d backhitches", s.StreamingShare, s.Backhitches)
	}
	if math.Abs(s.MeanSpeed-lto9.Native)/lto9.Native > 0.01 {
		t.Fatalf("mean speed %.0f, want native", s.MeanSpeed)
	}
	if s.HostWait < 40 {
		t.Fatalf("host waited %.1fs, want about half of the window", s.HostWait)
	}
}

// Loads and locates take their time and end in the window; the trace
// holds every byte.
func TestLoadLocateTrace(t *testing.T) {
	d := NewDrive(lto9)
	tr := NewTrace(0.001) // coarsens to fit
	d.Trace(tr)
	ready := d.Load(0)
	if ready != lto9.Load {
		t.Fatalf("load ready at %v", ready)
	}
	// The host writes at once; the drive takes it into its buffer.
	if got := d.Write(time.Second, block); got != time.Second {
		t.Fatalf("write during a load taken at %v", got)
	}
	end := d.Flush(2 * time.Second)
	if end <= lto9.Load {
		t.Fatalf("flush done at %v, before the load ended", end)
	}
	d.Locate(end)
	d.Read(end, 4*block)
	s := d.Stats()
	if s.Loads != 1 || s.Locates != 1 || s.Bytes != block || s.BytesRead != 4*block {
		t.Fatalf("stats %+v", s)
	}
	if want := lto9.Load.Seconds() + lto9.Locate.Seconds() + 5*block/lto9.Native; math.Abs(s.Window-want) > 0.01 {
		t.Fatalf("window %.3f, want %.3f", s.Window, want)
	}
	var tape, host float64
	for _, v := range tr.Tape {
		tape += v
	}
	for _, v := range tr.Host {
		host += v
	}
	if math.Abs(tape-5*block) > 1 || host != block || len(tr.Tape) > MaxBuckets {
		t.Fatalf("trace: tape %.0f host %.0f in %d buckets of %.3fs", tape, host, len(tr.Tape), tr.Step)
	}
}
