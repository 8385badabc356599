package mediaagent

import (
	"time"

	"daisy/internal/buffers"
)

// Feeds is what a multiplexing Policy sees of a media agent's buffers: the
// BMA's cursors, or the simulator's model of them (internal/simulate).
type Feeds interface {
	// Len is the number of inputs.
	Len() int
	// Poll says whether input i has a record to write now (Ready), none
	// yet (Empty) or has ended (Done). The policy polls inputs in its
	// order and stops at the first Ready one, which it picks: a Poll that
	// takes the record (a cursor's TryNext) leaves it for the caller to
	// write. Once an input was Done, Poll must keep saying so.
	Poll(i int) buffers.State
	// Holds reports whether input i's buffer holds at least 1/part of its
	// capacity.
	Holds(i int, part int64) bool
}

// Policy is the multiplexing rule of a backup media agent, apart from the
// agent's buffers, device and clock, so that the simulator (daisy
// simulate) runs the very rule the BMA runs, on a virtual clock. It stays
// on one input while that input has records, so that an object is written
// in long extents; it moves to the next input when the run reached
// ExtentTarget while another input is over half full, or when the run's
// input ran dry: at once if another input holds an eighth of its capacity,
// else after holding for up to HoldRun for more.
//
// A Policy is used by one goroutine.
type Policy struct {
	ExtentTarget int64
	HoldRun      time.Duration
	// Now is the clock the hold is measured on (time.Now in a BMA, the
	// virtual clock in the simulator). It is called only to start or test
	// a hold.
	Now func() time.Time

	cur       int   // the input of the run, -1 before the first record
	run       int64 // bytes written in the run
	holdUntil time.Time
}

// NewPolicy returns a policy on the real clock.
func NewPolicy(extentTarget int64, holdRun time.Duration) *Policy {
	return &Policy{ExtentTarget: extentTarget, HoldRun: holdRun, Now: time.Now, cur: -1}
}

// Current returns the input of the run being written (-1 before the first)
// and the bytes written in it.
func (p *Policy) Current() (int, int64) { return p.cur, p.run }

// Next picks the input to write the next record from. It returns i ≥ 0, the
// input whose Poll said Ready; or i = -1 when there is nothing to write
// now: then hold, if not zero, is the time until which the agent holds the
// run's input, which ran dry, rather than moving on; it waits until then
// for a record (of any input) and asks again.
func (p *Policy) Next(f Feeds) (i int, hold time.Time) {
	n := f.Len()
	for k := 0; k < n; k++ {
		i := k
		if p.cur >= 0 {
			// The current input first, then the others in turn.
			i = (p.cur + k) % n
		}
		switch f.Poll(i) {
		case buffers.Done:
			continue
		case buffers.Empty:
			if i == p.cur && p.run > 0 && p.run < p.ExtentTarget && !p.otherHolds(f, 8) {
				now := p.Now()
				if p.holdUntil.IsZero() {
					p.holdUntil = now.Add(p.HoldRun)
				}
				if now.Before(p.holdUntil) {
					return -1, p.holdUntil
				}
			}
			continue
		}
		p.holdUntil = time.Time{}
		if i != p.cur {
			p.cur, p.run = i, 0
		}
		return i, time.Time{}
	}
	return -1, time.Time{}
}

// Wrote accounts for a record of n bytes written from input i, the one Next
// picked, and ends the run when it is long enough and another input is
// filling up.
func (p *Policy) Wrote(f Feeds, i int, n int64) {
	if i != p.cur {
		return
	}
	p.run += n
	if p.run >= p.ExtentTarget && p.otherHolds(f, 2) {
		p.cur, p.run = (p.cur+1)%f.Len(), 0
	}
}

// otherHolds reports whether an input other than the run's holds at least
// 1/part of its buffer's capacity.
func (p *Policy) otherHolds(f Feeds, part int64) bool {
	for i := range f.Len() {
		if i != p.cur && f.Holds(i, part) {
			return true
		}
	}
	return false
}
