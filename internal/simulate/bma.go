package simulate

import (
	"math"
	"time"

	"daisy/internal/buffers"
	"daisy/internal/device/timing"
	"daisy/internal/mediaagent"
)

// bma is a backup media agent on the virtual clock: the BMA's Policy over
// simulated cursors, records packed into blocks, blocks into the drive
// model.
type bma struct {
	actorBase
	name, device string
	ins          []*cursor
	copies       []int
	ended        []bool
	nlive        int
	policy       *mediaagent.Policy
	drive        *timing.Drive
	trace        *timing.Trace

	blockSize int
	maxBlocks int64 // blocks per volume before the early warning
	volumes   int
	volBlocks int64 // blocks on the current volume, label included

	room     int     // payload bytes left in the pending block
	pendRecs int     // records in it
	pendObjs []int32 // objects with a record in it

	busyUntil float64
	notified  bool    // a buffer pushed or ended since the last step
	flushAt   float64 // a partly filled block is written then (0: none)
	idleFlush float64
	done      bool
	finished  float64

	objs  map[int32]*copyStat
	order []int32
}

type copyStat struct {
	copy      int
	bytes     int64
	extents   int
	vol       int
	lastBlock int64
	blocks    int64 // blocks holding its records
}

// feeds shows the simulated cursors to the Policy, as cursorFeeds does
// the real ones.
type feeds struct{ a *bma }

func (f feeds) Len() int { return len(f.a.ins) }

func (f feeds) Poll(i int) buffers.State {
	a := f.a
	if a.ended[i] {
		return buffers.Done
	}
	st := a.ins[i].state()
	if st == buffers.Done {
		a.ended[i] = true
		a.nlive--
	}
	return st
}

func (f feeds) Holds(i int, part int64) bool {
	b := f.a.ins[i].b
	return b.used*part >= b.capacity
}

// notify is a buffer of the agent telling it something changed.
func (a *bma) notify(s *sim) {
	a.notified = true
	s.wake(a, max(s.now, a.busyUntil))
}

func (a *bma) step(s *sim) {
	if a.done {
		return
	}
	if s.now < a.busyUntil {
		s.wake(a, a.busyUntil)
		return
	}
	notified := a.notified
	a.notified = false
	f := feeds{a}
	for a.nlive > 0 {
		i, hold := a.policy.Next(f)
		if i >= 0 {
			r := a.ins[i].b.q[a.ins[i].b.head+int(a.ins[i].next-a.ins[i].b.base)]
			need := int(r.n)
			if !a.inPending(r.obj) {
				need += markLen
			}
			if need > a.room && a.pendRecs > 0 {
				// The record does not fit: the block goes to the drive
				// first. If the drive makes the agent wait, the record
				// is taken when it is back (Next picks it again: it is
				// still the run's and still there).
				if a.writeBlock(s) {
					s.wake(a, a.busyUntil)
					return
				}
				continue
			}
			a.ins[i].take(s)
			a.add(r.obj, a.copies[i], need, int64(r.n))
			a.policy.Wrote(f, i, int64(r.n))
			continue
		}
		if a.nlive == 0 {
			break
		}
		if !hold.IsZero() {
			s.wake(a, hold.Sub(epoch).Seconds())
			return
		}
		if a.pendRecs == 0 {
			a.flushAt = 0
			return // wait for a buffer
		}
		// A partly filled block waits IdleFlush for more records; each
		// notification starts the wait again, as the BMA's timer does.
		if a.flushAt > 0 && s.now >= a.flushAt {
			a.flushAt = 0
			if a.writeBlock(s) {
				s.wake(a, a.busyUntil)
				return
			}
			continue
		}
		if notified || a.flushAt == 0 {
			a.flushAt = s.now + a.idleFlush
		}
		s.wake(a, a.flushAt)
		return
	}
	// Every input ended: the last block, then the session's end syncs.
	if a.pendRecs > 0 {
		if a.writeBlock(s) {
			s.wake(a, a.busyUntil)
			return
		}
	}
	a.finished = a.drive.Flush(dur(s.now)).Seconds()
	a.done = true
}

func (a *bma) inPending(obj int32) bool {
	for _, o := range a.pendObjs {
		if o == obj {
			return true
		}
	}
	return false
}

func (a *bma) add(obj int32, copy, need int, n int64) {
	if !a.inPending(obj) {
		a.pendObjs = append(a.pendObjs, obj)
	}
	a.room -= need
	a.pendRecs++
	st := a.objs[obj]
	if st == nil {
		st = &copyStat{copy: copy, vol: -1}
		a.objs[obj] = st
		a.order = append(a.order, obj)
	}
	st.bytes += n - int64(recordHeader)
}

const recordHeader = recLen - dataPayload

// writeBlock puts the pending block on the drive (mounting the next
// volume first at the early warning) and reports whether the agent must
// wait for the drive (busyUntil).
func (a *bma) writeBlock(s *sim) bool {
	t := s.now
	if a.volumes == 0 || a.volBlocks >= a.maxBlocks {
		// Mount a volume: the drive unloads and loads, then the label.
		t = a.drive.Load(dur(t)).Seconds()
		a.volumes++
		a.volBlocks = 0
		t = a.drive.Write(dur(t), a.blockSize).Seconds()
		a.volBlocks++
	}
	t = a.drive.Write(dur(t), a.blockSize).Seconds()
	for _, o := range a.pendObjs {
		st := a.objs[o]
		if st.vol != a.volumes || st.lastBlock+1 < a.volBlocks {
			st.extents++
		}
		st.vol, st.lastBlock = a.volumes, a.volBlocks
		st.blocks++
	}
	a.volBlocks++
	a.room = a.blockSize - blockHeader
	a.pendRecs = 0
	a.pendObjs = a.pendObjs[:0]
	if t > s.now {
		a.busyUntil = t
		return true
	}
	return false
}

func dur(sec float64) time.Duration { return time.Duration(math.Round(sec * 1e9)) }
