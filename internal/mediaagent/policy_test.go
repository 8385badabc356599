package mediaagent

import (
	"testing"
	"time"

	"daisy/internal/buffers"
)

// fakeFeeds is a Feeds over counters: records queued per input (each of
// recLen bytes), buffer capacity, inputs ended.
type fakeFeeds struct {
	queued []int
	ended  []bool
	cap    int64
	recLen int64
	polls  []int
}

func (f *fakeFeeds) Len() int { return len(f.queued) }

func (f *fakeFeeds) Poll(i int) buffers.State {
	f.polls = append(f.polls, i)
	switch {
	case f.queued[i] > 0:
		return buffers.Ready
	case f.ended[i]:
		return buffers.Done
	}
	return buffers.Empty
}

func (f *fakeFeeds) Holds(i int, part int64) bool {
	return int64(f.queued[i])*f.recLen*part >= f.cap
}

// take writes one record from what the policy picks and returns the pick.
func take(p *Policy, f *fakeFeeds) (int, time.Time) {
	i, hold := p.Next(f)
	if i >= 0 {
		f.queued[i]--
		p.Wrote(f, i, f.recLen)
	}
	return i, hold
}

func TestPolicyStaysOnRunUntilExtentTarget(t *testing.T) {
	now := time.Unix(1000, 0)
	p := NewPolicy(4*64, 50*time.Millisecond)
	p.Now = func() time.Time { return now }
	// Capacity 16 records: both inputs over half full.
	f := &fakeFeeds{queued: []int{12, 12}, ended: []bool{false, false}, cap: 16 * 64, recLen: 64}
	var got []int
	for range 8 {
		i, _ := take(p, f)
		got = append(got, i)
	}
	// A run of 4 records (the extent target) from each input in turn.
	want := []int{0, 0, 0, 0, 1, 1, 1, 1}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("picks %v, want %v", got, want)
		}
	}
}

func TestPolicyHoldsDryRunThenMovesOn(t *testing.T) {
	now := time.Unix(1000, 0)
	p := NewPolicy(1<<20, 50*time.Millisecond)
	p.Now = func() time.Time { return now }
	// Input 1 holds one record: less than an eighth of 16.
	f := &fakeFeeds{queued: []int{2, 1}, ended: []bool{false, false}, cap: 16 * 64, recLen: 64}
	take(p, f)
	take(p, f)
	i, hold := take(p, f)
	if i != -1 || !hold.Equal(now.Add(50*time.Millisecond)) {
		t.Fatalf("dry run: pick %d hold %v, want -1 and a hold of 50 ms", i, hold)
	}
	now = now.Add(49 * time.Millisecond)
	if i, hold2 := take(p, f); i != -1 || !hold2.Equal(hold) {
		t.Fatalf("within the hold: pick %d hold %v, want -1 and the same hold", i, hold2)
	}
	now = now.Add(time.Millisecond)
	if i, _ := take(p, f); i != 1 {
		t.Fatalf("after the hold: pick %d, want input 1", i)
	}
}

func TestPolicyMovesAtOnceWhenAnotherHoldsAnEighth(t *testing.T) {
	now := time.Unix(1000, 0)
	p := NewPolicy(1<<20, 50*time.Millisecond)
	p.Now = func() time.Time { panic("the clock is read only for a hold") }
	f := &fakeFeeds{queued: []int{1, 2}, ended: []bool{false, false}, cap: 16 * 64, recLen: 64}
	take(p, f)
	if i, hold := take(p, f); i != 1 || !hold.IsZero() {
		t.Fatalf("pick %d hold %v, want input 1 at once (it holds an eighth)", i, hold)
	}
	_ = now
}

func TestPolicySkipsEndedInputs(t *testing.T) {
	p := NewPolicy(1<<20, 50*time.Millisecond)
	f := &fakeFeeds{queued: []int{0, 0, 3}, ended: []bool{true, true, false}, cap: 16 * 64, recLen: 64}
	if i, _ := take(p, f); i != 2 {
		t.Fatalf("pick %d, want 2", i)
	}
	f.queued[2] = 0
	f.ended[2] = true
	// The run's input ended: no hold.
	if i, hold := p.Next(f); i != -1 || !hold.IsZero() {
		t.Fatalf("all ended: pick %d hold %v", i, hold)
	}
}
