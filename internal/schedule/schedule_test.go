package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"daisy/internal/config"
)

var epoch = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder collects the due times of the runs per schedule.
type recorder struct {
	mu   sync.Mutex
	runs map[string][]time.Time
	seen chan string
}

func newRecorder() *recorder {
	return &recorder{runs: map[string][]time.Time{}, seen: make(chan string, 1000)}
}

func (r *recorder) run(ctx context.Context, s config.Schedule) error {
	at, ok := ScheduledAt(ctx)
	if !ok {
		return errors.New("no scheduled time in the context")
	}
	r.mu.Lock()
	r.runs[s.Name] = append(r.runs[s.Name], at)
	r.mu.Unlock()
	r.seen <- s.Name
	return nil
}

func (r *recorder) times(name string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs[name])
}

// step advances the fake clock by d, n times, each time once the
// scheduler's loop waits on its timer and the runs that started have
// ended, but for those of the schedules named by held (a run that has not
// ended yet is still running, and its next start would be skipped).
func step(t *testing.T, fc *clockwork.FakeClock, s *Scheduler, d time.Duration, n int, held ...string) {
	t.Helper()
	settle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("at %s: the scheduler does not wait on its timer: %v", fc.Now(), err)
		}
		waitFor(t, "the runs to end", func() bool {
			for _, r := range s.Running() {
				if !slices.Contains(held, r) {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprint(fc.Now(), s.Running()) })
	}
	for range n {
		settle()
		fc.Advance(d)
	}
	settle()
}

// waitFor polls cond until it holds (or fails after a generous bound).
func waitFor(t *testing.T, what string, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, st := range state {
				what += ": " + st()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func stop(t *testing.T, s *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func every(start time.Time, d time.Duration, n int) []time.Time {
	var out []time.Time
	for i := 1; i <= n; i++ {
		out = append(out, start.Add(time.Duration(i)*d))
	}
	return out
}

func equalTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("%s fired at\n%v\nwant\n%v", what, got, want)
	}
}

func TestSecondsScheduleFiresAtItsTimes(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch.Add(3 * time.Second))
	rec := newRecorder()
	s, err := New([]config.Schedule{{Name: "tick", Cron: "*/10 * * * * *", Job: config.JobVerify}}, rec.run, Options{Clock: fc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if next := s.Next(); len(next) != 1 || !next[0].At.Equal(epoch.Add(10*time.Second)) {
		t.Fatalf("Next = %v, want tick at %s", next, epoch.Add(10*time.Second))
	}
	s.Start()
	defer stop(t, s)
	// Second by second over two minutes: a run at each multiple of 10 s,
	// none in between.
	for range 117 {
		step(t, fc, s, time.Second, 1)
		waitFor(t, "the runs due", func() bool {
			return len(rec.times("tick")) == int(fc.Now().Sub(epoch)/(10*time.Second))
		})
	}
	equalTimes(t, "*/10 * * * * *", rec.times("tick"), every(epoch, 10*time.Second, 12))
	if next := s.Next(); !next[0].At.Equal(epoch.Add(130 * time.Second)) {
		t.Fatalf("Next after 2 minutes = %v, want %s", next, epoch.Add(130*time.Second))
	}
}

func TestDailyScheduleOverAWeek(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	rec := newRecorder()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New([]config.Schedule{
		{Name: "nightly", Cron: "0 1 * * *", Job: config.JobBackup, Level: config.LevelIncremental},
		{Name: "paris", Cron: "CRON_TZ=Europe/Paris 30 2 * * 1-5", Job: config.JobBackup, Level: config.LevelFull},
	}, rec.run, Options{Clock: fc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer stop(t, s)
	// Hours of a week, in steps of 10 minutes (the fake clock starts
	// at midnight UTC, Local in the lines without CRON_TZ is the test's).
	step(t, fc, s, 10*time.Minute, 7*24*6)
	waitFor(t, "a week of runs", func() bool { return len(rec.times("nightly")) == 7 && len(rec.times("paris")) == 5 })
	var want []time.Time
	for d := range 8 {
		day := time.Date(2026, 3, 2+d, 1, 0, 0, 0, time.Local)
		if !day.Before(epoch) && !day.After(fc.Now()) {
			want = append(want, day)
		}
	}
	equalTimes(t, "0 1 * * *", rec.times("nightly"), want)
	want = nil
	for d := range 5 { // Monday to Friday, 02:30 in Paris (01:30 UTC in March)
		want = append(want, time.Date(2026, 3, 2+d, 2, 30, 0, 0, paris))
	}
	equalTimes(t, "CRON_TZ=Europe/Paris 30 2 * * 1-5", rec.times("paris"), want)
}

// Times that passed while the scheduler could not look (a server down, a
// suspended machine: here the fake clock jumps an hour) are not caught
// up: one run for the first time missed, then the times after now.
func TestMissedTimesAreNotCaughtUp(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	rec := newRecorder()
	var skips atomic.Int32
	s, err := New([]config.Schedule{{Name: "tick", Cron: "*/10 * * * * *", Job: config.JobVerify}}, rec.run,
		Options{Clock: fc, Logger: quiet(), OnSkip: func(config.Schedule, time.Time) { skips.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer stop(t, s)
	step(t, fc, s, time.Hour+5*time.Second, 1)
	if next := s.Next(); !next[0].At.Equal(epoch.Add(time.Hour + 10*time.Second)) {
		t.Fatalf("next after the jump: %v, want %s", next, epoch.Add(time.Hour+10*time.Second))
	}
	step(t, fc, s, 5*time.Second, 1)
	waitFor(t, "the run after the jump", func() bool { return len(rec.times("tick")) == 2 })
	equalTimes(t, "tick", rec.times("tick"), []time.Time{epoch.Add(10 * time.Second), epoch.Add(time.Hour + 10*time.Second)})
	if n := skips.Load(); n != 0 {
		t.Fatalf("%d starts skipped: the missed times were caught up", n)
	}
}

func TestTwoSchedulesRunAtOnce(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	release := make(chan struct{})
	var mu sync.Mutex
	started := map[string][]time.Time{}
	run := func(ctx context.Context, s config.Schedule) error {
		at, _ := ScheduledAt(ctx)
		mu.Lock()
		started[s.Name] = append(started[s.Name], at)
		mu.Unlock()
		if at.Equal(epoch.Add(6 * time.Second)) {
			<-release
		}
		return nil
	}
	s, err := New([]config.Schedule{
		{Name: "a", Cron: "*/2 * * * * *", Job: config.JobPrune},
		{Name: "b", Cron: "*/3 * * * * *", Job: config.JobVerify},
	}, run, Options{Clock: fc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer stop(t, s)
	step(t, fc, s, time.Second, 5)
	step(t, fc, s, time.Second, 1, "a", "b")
	// At 6 s both are due: both run at once, each held.
	waitFor(t, "both runs at 6 s", func() bool { return slices.Equal(s.Running(), []string{"a", "b"}) },
		func() string { mu.Lock(); defer mu.Unlock(); return fmt.Sprint(fc.Now(), s.Running(), started) })
	close(release)
	waitFor(t, "the runs to end", func() bool { return len(s.Running()) == 0 })
	step(t, fc, s, time.Second, 6)
	waitFor(t, "the runs up to 12 s", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(started["a"]) == 6 && len(started["b"]) == 4
	}, func() string { mu.Lock(); defer mu.Unlock(); return fmt.Sprint(started) })
	mu.Lock()
	defer mu.Unlock()
	equalTimes(t, "a", started["a"], every(epoch, 2*time.Second, 6))
	equalTimes(t, "b", started["b"], every(epoch, 3*time.Second, 4))
}

func TestRunLongerThanItsPeriodIsNotStartedTwice(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	release := make(chan struct{})
	var mu sync.Mutex
	var starts, ends, skips []time.Time
	run := func(ctx context.Context, s config.Schedule) error {
		mu.Lock()
		starts = append(starts, fc.Now())
		first := len(starts) == 1
		mu.Unlock()
		if first {
			<-release
		}
		mu.Lock()
		ends = append(ends, fc.Now())
		mu.Unlock()
		return nil
	}
	var sched *Scheduler
	onSkip := func(s config.Schedule, at time.Time) {
		// OnSkip may look at the scheduler: the run that made it skip
		// is still running.
		if r := sched.Running(); !slices.Equal(r, []string{"slow"}) {
			t.Errorf("Running() in OnSkip = %v", r)
		}
		mu.Lock()
		skips = append(skips, at)
		mu.Unlock()
	}
	var logs strings.Builder
	var logMu sync.Mutex
	s, err := New([]config.Schedule{{Name: "slow", Cron: "*/10 * * * * *", Job: config.JobBackup, Level: config.LevelFull}}, run,
		Options{Clock: fc, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)), OnSkip: onSkip})
	if err != nil {
		t.Fatal(err)
	}
	sched = s
	s.Start()
	defer stop(t, s)
	step(t, fc, s, 10*time.Second, 1, "slow") // 10 s: the run starts, and holds
	waitFor(t, "the first run", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) == 1 })
	step(t, fc, s, 10*time.Second, 2, "slow") // 20 s, 30 s: still running
	step(t, fc, s, 5*time.Second, 1, "slow")  // 35 s: it ends
	close(release)
	waitFor(t, "the first run to end", func() bool { return len(s.Running()) == 0 })
	step(t, fc, s, 5*time.Second, 1) // 40 s: the next start
	waitFor(t, "the second run", func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) == 2 })

	mu.Lock()
	defer mu.Unlock()
	equalTimes(t, "starts", starts, []time.Time{epoch.Add(10 * time.Second), epoch.Add(40 * time.Second)})
	equalTimes(t, "skips", skips, []time.Time{epoch.Add(20 * time.Second), epoch.Add(30 * time.Second)})
	if !starts[1].After(ends[0]) {
		t.Fatalf("second start %s is not after the first run ended at %s", starts[1], ends[0])
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "level=WARN msg=\"schedule: previous run still running, start skipped\" schedule=slow at=2026-03-02T00:00:"); n != 2 {
		t.Fatalf("want 2 warnings naming the schedule and the time, got %d in:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestReloadSwapsSchedules(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	release := make(chan struct{})
	var mu sync.Mutex
	starts := map[string][]time.Time{}
	run := func(ctx context.Context, s config.Schedule) error {
		at, _ := ScheduledAt(ctx)
		mu.Lock()
		starts[s.Name] = append(starts[s.Name], at)
		n := len(starts[s.Name])
		mu.Unlock()
		if s.Name == "keep" && n == 1 {
			<-release
		}
		return nil
	}
	var skips []time.Time
	s, err := New([]config.Schedule{
		{Name: "keep", Cron: "*/10 * * * * *", Job: config.JobPrune},
		{Name: "gone", Cron: "*/5 * * * * *", Job: config.JobVerify},
	}, run, Options{Clock: fc, Logger: quiet(), OnSkip: func(_ config.Schedule, at time.Time) { mu.Lock(); skips = append(skips, at); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer stop(t, s)
	step(t, fc, s, time.Second, 9)
	step(t, fc, s, time.Second, 1, "keep") // 10 s: keep starts and holds; gone ran at 5 s and runs
	waitFor(t, "keep to run", func() bool { return slices.Contains(s.Running(), "keep") })

	// A bad reload keeps what was there.
	if err := s.Reload([]config.Schedule{{Name: "bad", Cron: "61 * * * * *", Job: config.JobPrune}}); err == nil || !strings.Contains(err.Error(), "second field") {
		t.Fatalf("Reload with a bad line: %v, want an error naming the second field", err)
	}
	if err := s.Reload([]config.Schedule{{Name: "keep", Cron: "*/10 * * * * *", Job: config.JobPrune}, {Name: "x", Cron: "*/3 * * * * *", Job: config.JobPrune}, {Name: "x", Cron: "* * * * *", Job: config.JobPrune}}); err == nil {
		t.Fatal("Reload with a name twice succeeded")
	}

	if err := s.Reload([]config.Schedule{
		{Name: "keep", Cron: "*/10 * * * * *", Job: config.JobPrune},
		{Name: "new", Cron: "*/4 * * * * *", Job: config.JobVerify},
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", func() bool {
		n := s.Next()
		return len(n) == 2 && n[0].Name == "keep" && n[1].Name == "new" && n[1].At.Equal(epoch.Add(12*time.Second))
	})
	step(t, fc, s, time.Second, 10, "keep") // to 20 s: keep still runs, so not started again
	waitFor(t, "new to run at 12, 16 and 20 s", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts["new"]) == 3 })
	close(release)
	waitFor(t, "keep to end", func() bool { return !slices.Contains(s.Running(), "keep") })
	step(t, fc, s, 10*time.Second, 1) // 30 s
	waitFor(t, "keep's second run", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts["keep"]) == 2 })

	mu.Lock()
	defer mu.Unlock()
	equalTimes(t, "gone", starts["gone"], []time.Time{epoch.Add(5 * time.Second), epoch.Add(10 * time.Second)})
	equalTimes(t, "new", starts["new"][:3], []time.Time{epoch.Add(12 * time.Second), epoch.Add(16 * time.Second), epoch.Add(20 * time.Second)})
	equalTimes(t, "keep", starts["keep"], []time.Time{epoch.Add(10 * time.Second), epoch.Add(30 * time.Second)})
	equalTimes(t, "skips of keep", skips, []time.Time{epoch.Add(20 * time.Second)})
}

func TestStopWaitsForRuns(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	release := make(chan struct{})
	var finished atomic.Bool
	run := func(ctx context.Context, s config.Schedule) error {
		<-release
		finished.Store(true)
		return errors.New("a failed run is only logged")
	}
	s, err := New([]config.Schedule{{Name: "long", Cron: "* * * * * *", Job: config.JobPrune}}, run, Options{Clock: fc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	step(t, fc, s, time.Second, 1, "long")
	waitFor(t, "the run", func() bool { return len(s.Running()) == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a run was going", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned before the run ended")
	}
	// After Stop nothing starts.
	fc.Advance(time.Hour)
	time.Sleep(10 * time.Millisecond)
	if r := s.Running(); len(r) != 0 {
		t.Fatalf("running after Stop: %v", r)
	}
	if err := s.Reload([]config.Schedule{{Name: "x", Cron: "* * * * * *"}}); err != nil {
		t.Fatalf("Reload after Stop: %v", err)
	}
}

func TestStopGivesUpWithItsContext(t *testing.T) {
	fc := clockwork.NewFakeClockAt(epoch)
	run := func(ctx context.Context, s config.Schedule) error {
		<-ctx.Done()
		return ctx.Err()
	}
	s, err := New([]config.Schedule{{Name: "stuck", Cron: "* * * * * *", Job: config.JobPrune}}, run, Options{Clock: fc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	step(t, fc, s, time.Second, 1, "stuck")
	waitFor(t, "the run", func() bool { return len(s.Running()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("Stop with a short context: %v, want context.DeadlineExceeded naming the run", err)
	}
	// The run's context was cancelled: it ends.
	waitFor(t, "the cancelled run to end", func() bool { return len(s.Running()) == 0 })
}

func TestNewRefusesBadEntries(t *testing.T) {
	noop := func(context.Context, config.Schedule) error { return nil }
	for _, tc := range []struct {
		entries []config.Schedule
		want    string
	}{
		{[]config.Schedule{{Name: "a", Cron: "0 25 * * *"}}, `schedule "a"`},
		{[]config.Schedule{{Name: "a", Cron: "@every 1h"}}, "@every"},
		{[]config.Schedule{{Name: "a", Cron: "* * * * *"}, {Name: "a", Cron: "* * * * *"}}, "twice"},
		{[]config.Schedule{{Cron: "* * * * *"}}, "no name"},
	} {
		if _, err := New(tc.entries, noop, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want an error with %q", tc.entries, err, tc.want)
		}
	}
	if _, err := New(nil, nil, Options{}); err == nil {
		t.Error("New without a run function succeeded")
	}
}

// The real clock and a schedule of every second: it fires, about once a
// second (counts with generous bounds; nothing about speed).
func TestRealClockFires(t *testing.T) {
	rec := newRecorder()
	s, err := New([]config.Schedule{{Name: "each-second", Cron: "* * * * * *", Job: config.JobVerify}}, rec.run, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	s.Start()
	time.Sleep(3 * time.Second)
	stop(t, s)
	took := time.Since(begin)
	got := rec.times("each-second")
	// 3 whole seconds passed: at least 2 runs even on a loaded machine
	// (a late timer skips a second, it does not catch up), at most one a
	// second.
	if len(got) < 2 || len(got) > int(took/time.Second)+1 {
		t.Fatalf("%d runs in %s with \"* * * * * *\": %v", len(got), took, got)
	}
	for i, at := range got {
		if at.Nanosecond() != 0 || at.Before(begin) || at.After(begin.Add(took)) {
			t.Fatalf("run %d due at %s: not on a whole second between %s and %s", i, at, begin, begin.Add(took))
		}
		if i > 0 && !at.After(got[i-1]) {
			t.Fatalf("runs due at %v: not in order", got)
		}
	}
}
