// Package schedule runs the schedules of daisy.yaml ([config.Schedule])
// for daisy server: each one's job starts at the times of its cron line.
//
// Cron lines are parsed by github.com/robfig/cron/v3 (through
// [config.ParseCron], so that daisy check and the scheduler agree on the
// syntax); the loop that waits for the next time is this package's own,
// over an injected clock (github.com/jonboulle/clockwork), rather than
// robfig's runner or gocron. The rules daisy needs are few and must hold
// exactly — skip, never queue, a start that finds the schedule's previous
// run still going; keep that guard across a reload; never catch up — and a
// loop of one timer states them directly and is tested with a fake clock
// without the sleeps and races a library's own goroutines would bring.
//
// The rules:
//   - A schedule whose previous run still runs at its next start time is
//     not started again: the start is skipped, logged at warn level with the
//     schedule's name and the time, and passed to Options.OnSkip. Its next
//     start is the cron line's next time after that.
//   - Different schedules may run at the same time; what conflicts (the
//     locks of pools and devices) is for the jobs to serialize.
//   - Times missed while the server was down, or while the process was
//     stopped, are not caught up: after a start the next time is the cron
//     line's first time after now.
//   - A run's error is logged; it stops nothing.
//   - [Scheduler.Reload] swaps the schedules; runs under way go on, and a
//     schedule that still runs and is still present (by name) is not
//     started twice.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"daisy/internal/config"
)

// Run runs the job of a schedule. Its context ends when the scheduler is
// stopped and the stop's own context ends; [ScheduledAt] of it is the time
// the run was due.
type Run func(ctx context.Context, s config.Schedule) error

// Options tune a Scheduler; the zero value is usable.
type Options struct {
	// Clock tells the time and makes the timers; the real clock when nil.
	Clock clockwork.Clock
	// Logger receives the scheduler's logs; slog.Default() when nil.
	Logger *slog.Logger
	// OnSkip, if set, is called when a start time of s came while the
	// previous run of s still ran (at is that start time). It may call
	// the scheduler's methods but not block for long: the scheduler's
	// loop waits for it.
	OnSkip func(s config.Schedule, at time.Time)
}

// NextRun is when a schedule fires next.
type NextRun struct {
	Name string
	At   time.Time // zero when the line never fires again
}

// entry is one schedule with its parsed line and its next time.
type entry struct {
	s    config.Schedule
	cron config.Cron
	next time.Time
}

// Scheduler starts the runs of a set of schedules. Its methods may be
// called from any goroutine.
type Scheduler struct {
	run    Run
	clock  clockwork.Clock
	log    *slog.Logger
	onSkip func(config.Schedule, time.Time)

	mu      sync.Mutex
	entries []*entry
	running map[string]bool // by schedule name
	started bool
	stopped bool

	wake   chan chan struct{} // the entries changed: re-arm, then close the channel
	quit   chan struct{}      // Stop was called
	done   chan struct{}      // the loop ended
	runs   sync.WaitGroup
	ctx    context.Context // of the runs
	cancel context.CancelFunc
}

// New returns a scheduler of entries that calls run at their times, once
// Start is called. An entry whose cron line is bad, or a name given twice,
// is an error.
func New(entries []config.Schedule, run Run, opts Options) (*Scheduler, error) {
	if run == nil {
		return nil, errors.New("schedule: no run function")
	}
	s := &Scheduler{
		run: run, clock: opts.Clock, log: opts.Logger, onSkip: opts.OnSkip,
		running: map[string]bool{},
		wake:    make(chan chan struct{}), quit: make(chan struct{}), done: make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	es, err := s.parse(entries)
	if err != nil {
		return nil, err
	}
	s.entries = es
	return s, nil
}

// parse checks entries and computes their next times from now.
func (s *Scheduler) parse(entries []config.Schedule) ([]*entry, error) {
	now := s.clock.Now()
	seen := map[string]bool{}
	out := make([]*entry, 0, len(entries))
	for _, sc := range entries {
		if sc.Name == "" {
			return nil, errors.New("schedule: a schedule has no name")
		}
		if seen[sc.Name] {
			return nil, fmt.Errorf("schedule: schedule %q is given twice", sc.Name)
		}
		seen[sc.Name] = true
		c, err := config.ParseCron(sc.Cron)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: cron %q: %w", sc.Name, sc.Cron, err)
		}
		sc.Sources = slices.Clone(sc.Sources)
		out = append(out, &entry{s: sc, cron: c, next: c.Next(now)})
	}
	return out, nil
}

// Start starts the loop that waits for the schedules' times. A second
// call, or one after Stop, does nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	// Times that passed between New and Start are not caught up either.
	now := s.clock.Now()
	for _, e := range s.entries {
		e.next = e.cron.Next(now)
	}
	go s.loop()
}

// Stop stops starting runs and waits for those under way to end, or for
// ctx to end: their contexts are then cancelled, and Stop returns ctx's
// error without waiting further.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.quit)
	}
	started := s.started
	s.mu.Unlock()
	if started {
		<-s.done
	}
	ended := make(chan struct{})
	go func() { s.runs.Wait(); close(ended) }()
	select {
	case <-ended:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return fmt.Errorf("schedule: stop: runs still going: %v: %w", s.Running(), ctx.Err())
	}
}

// Reload replaces the schedules by entries. Runs under way go on; a
// schedule of the same name that still runs is not started again before
// its run ended. On an error the schedules stay as they were. When Reload
// returns, the scheduler waits for the new schedules' times.
func (s *Scheduler) Reload(entries []config.Schedule) error {
	es, err := s.parse(entries)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.entries = es
	running := s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		return nil
	}
	ack := make(chan struct{})
	select {
	case s.wake <- ack:
	case <-s.done:
		return nil
	}
	select {
	case <-ack:
	case <-s.done:
	}
	return nil
}

// Next returns each schedule's next start time, in the order of the
// schedules.
func (s *Scheduler) Next() []NextRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NextRun, len(s.entries))
	for i, e := range s.entries {
		out[i] = NextRun{Name: e.s.Name, At: e.next}
	}
	return out
}

// Running returns the names of the schedules whose run is under way,
// sorted.
func (s *Scheduler) Running() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for n := range s.running {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// loop waits for the earliest next time, starts what is due and repeats.
func (s *Scheduler) loop() {
	defer close(s.done)
	var acks []chan struct{} // reloads waiting for the new timer
	for {
		s.mu.Lock()
		now := s.clock.Now()
		var earliest time.Time
		var skipped []skip
		for _, e := range s.entries {
			if !e.next.IsZero() && !e.next.After(now) {
				if !s.fire(e, e.next) {
					skipped = append(skipped, skip{e.s, e.next})
				}
				// No catch-up: the next time after now, not after the
				// time that was due.
				e.next = e.cron.Next(now)
			}
			if !e.next.IsZero() && (earliest.IsZero() || e.next.Before(earliest)) {
				earliest = e.next
			}
		}
		s.mu.Unlock()
		for _, k := range skipped {
			s.log.Warn("schedule: previous run still running, start skipped", "schedule", k.s.Name, "at", k.at, "job", k.s.Job)
			if s.onSkip != nil {
				s.onSkip(k.s, k.at)
			}
		}

		var timer clockwork.Timer
		var fired <-chan time.Time
		if !earliest.IsZero() {
			timer = s.clock.NewTimer(earliest.Sub(now))
			fired = timer.Chan()
		}
		for _, a := range acks {
			close(a)
		}
		acks = acks[:0]
		select {
		case <-fired:
		case a := <-s.wake:
			acks = append(acks, a)
		case <-s.quit:
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// skip is a start time that found the schedule's previous run going.
type skip struct {
	s  config.Schedule
	at time.Time
}

// fire starts the run of e due at at and returns true, or returns false
// when e's previous run still runs. s.mu is held.
func (s *Scheduler) fire(e *entry, at time.Time) bool {
	sc := e.s
	if s.running[sc.Name] {
		return false
	}
	s.running[sc.Name] = true
	s.runs.Add(1)
	s.log.Info("schedule: starting run", "schedule", sc.Name, "at", at, "job", sc.Job)
	go func() {
		defer s.runs.Done()
		start := s.clock.Now()
		err := s.safeRun(context.WithValue(s.ctx, scheduledAtKey{}, at), sc)
		s.mu.Lock()
		delete(s.running, sc.Name)
		s.mu.Unlock()
		if err != nil {
			s.log.Error("schedule: run failed", "schedule", sc.Name, "at", at, "job", sc.Job, "err", err)
			return
		}
		s.log.Info("schedule: run ended", "schedule", sc.Name, "at", at, "job", sc.Job, "took", s.clock.Since(start))
	}()
	return true
}

// safeRun calls run, turning a panic into an error: one schedule's job
// must not bring the server down.
func (s *Scheduler) safeRun(ctx context.Context, sc config.Schedule) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("run panicked: %v", r)
		}
	}()
	return s.run(ctx, sc)
}

type scheduledAtKey struct{}

// ScheduledAt returns the time the run of ctx was due (its cron time), and
// whether ctx is the context of a scheduled run.
func ScheduledAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(scheduledAtKey{}).(time.Time)
	return t, ok
}
