package api

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"daisy/internal/jobs"
	"daisy/internal/pools"
)

// States of a job of the table besides those of the catalog's jobs
// (success, partial, failed, interrupted).
const (
	StateRunning = "running"
	// StateRefused: the job did not run (a pool was busy, the request
	// named something that does not exist).
	StateRefused = "refused"
)

// job is one job the API started.
type job struct {
	id      int64
	req     JobRequest
	sched   string // the schedule that started it; "" for POST /v1/jobs
	started time.Time
	done    chan struct{} // closed when the job ended
	ready   chan struct{} // closed when progress is registered or the job ended
	cancel  context.CancelCauseFunc

	// Under table.mu:
	catalogJob int64
	snapshot   func() Snapshot
	final      *Snapshot // the last snapshot, taken at the end
	finished   time.Time
	state      string
	result     any
	err        error
	readyOnce  sync.Once
}

// JobView is a job of the API's table as the endpoints show it.
type JobView struct {
	ID         int64      `json:"id"`
	URL        string     `json:"url"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	CatalogJob int64      `json:"catalog_job,omitempty"`
	Schedule   string     `json:"schedule,omitempty"` // the schedule of daisy.yaml that started it; "" for POST /v1/jobs
	Request    JobRequest `json:"request"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished,omitzero"`
	Progress   *Snapshot  `json:"progress,omitempty"`
	Error      string     `json:"error,omitempty"`
	Result     any        `json:"result,omitempty"`
}

// table holds the jobs the API started: the running ones and, for keep,
// those that ended.
type table struct {
	mu     sync.Mutex
	next   int64
	jobs   map[int64]*job
	keep   time.Duration
	wg     sync.WaitGroup
	ended  func(j *job, final Snapshot) // metrics, under mu
	closed bool
}

func newTable(keep time.Duration) *table {
	return &table{jobs: map[int64]*job{}, keep: keep}
}

// start runs req with r in a goroutine of its own, under ctx; sched
// names the schedule that starts it ("": POST /v1/jobs).
func (t *table) start(ctx context.Context, r Runner, req JobRequest, sched string) (*job, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("the server is shutting down")
	}
	t.gc(time.Now())
	t.next++
	ctx, cancel := context.WithCancelCause(ctx)
	j := &job{id: t.next, req: req, sched: sched, started: time.Now().UTC(), done: make(chan struct{}), ready: make(chan struct{}), state: StateRunning, cancel: cancel}
	t.jobs[j.id] = j
	t.wg.Add(1)
	t.mu.Unlock()
	hooks := Hooks{
		Started: func(id int64) {
			t.mu.Lock()
			j.catalogJob = id
			t.mu.Unlock()
		},
		Progress: func(f func() Snapshot) {
			t.mu.Lock()
			j.snapshot = f
			t.mu.Unlock()
			j.readyOnce.Do(func() { close(j.ready) })
		},
	}
	go func() {
		defer t.wg.Done()
		defer cancel(nil)
		res, err := r.Run(ctx, req, hooks)
		t.finish(j, res, err)
	}()
	return j, nil
}

// finish records the end of j: its state from the result's "state"
// field, its final snapshot.
func (t *table) finish(j *job, res any, err error) {
	state := jobs.JobSuccess
	if res != nil {
		var s struct {
			State string `json:"state"`
			Job   int64  `json:"job"`
		}
		if data, merr := json.Marshal(res); merr == nil && json.Unmarshal(data, &s) == nil {
			if s.State != "" {
				state = s.State
			}
			t.mu.Lock()
			if s.Job != 0 && j.catalogJob == 0 {
				j.catalogJob = s.Job
			}
			t.mu.Unlock()
		}
	}
	switch {
	case err != nil && res == nil && (errors.Is(err, pools.ErrPoolBusy) || errors.Is(err, jobs.ErrUsage) || isFieldError(err)):
		state = StateRefused
	case err != nil && errors.Is(err, context.Canceled):
		state = jobs.JobInterrupted
	case err != nil && (state == jobs.JobSuccess || state == StateRunning):
		state = jobs.JobFailed
	}
	t.mu.Lock()
	var final Snapshot
	if j.snapshot != nil {
		final = j.snapshot()
	}
	j.final = &final
	j.snapshot = nil
	j.finished = time.Now().UTC()
	j.state, j.result, j.err = state, res, err
	if t.ended != nil {
		t.ended(j, final)
	}
	t.mu.Unlock()
	j.readyOnce.Do(func() { close(j.ready) })
	close(j.done)
}

// ErrJobEnded is the error of cancelling a job that is over.
var ErrJobEnded = errors.New("the job has ended")

// cancelJob stops j with cause: its job ends interrupted, as at the
// server's SIGTERM (the copies it had not finished are failed).
func (t *table) cancelJob(j *job, cause error) error {
	t.mu.Lock()
	running := j.state == StateRunning
	t.mu.Unlock()
	if !running {
		return ErrJobEnded
	}
	j.cancel(cause)
	return nil
}

func isFieldError(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}

// gc drops the ended jobs older than keep; under mu.
func (t *table) gc(now time.Time) {
	for id, j := range t.jobs {
		if !j.finished.IsZero() && now.Sub(j.finished) > t.keep {
			delete(t.jobs, id)
		}
	}
}

// get returns the job with this ID.
func (t *table) get(id int64) (*job, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.jobs[id]
	return j, ok
}

// view is j as the endpoints show it, with a fresh snapshot.
func (t *table) view(j *job) JobView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.viewLocked(j)
}

func (t *table) viewLocked(j *job) JobView {
	v := JobView{ID: j.id, URL: jobURL(j.id), Kind: j.req.Kind, State: j.state, CatalogJob: j.catalogJob, Schedule: j.sched, Request: j.req, Started: j.started, Finished: j.finished, Result: j.result}
	if j.snapshot != nil {
		s := j.snapshot()
		v.Progress = &s
	} else if j.final != nil {
		v.Progress = j.final
	}
	if j.err != nil {
		v.Error = j.err.Error()
	}
	return v
}

// list is every job of the table, newest first.
func (t *table) list() []JobView {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(time.Now())
	out := make([]JobView, 0, len(t.jobs))
	for _, j := range t.jobs {
		v := t.viewLocked(j)
		v.Result = nil // GET /v1/jobs/{id} has it
		out = append(out, v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID > out[b].ID })
	return out
}

// running calls fn for every running job's snapshot; under mu.
func (t *table) eachRunning(fn func(j *job, s Snapshot)) {
	for _, j := range t.jobs {
		if j.snapshot != nil && j.finished.IsZero() {
			fn(j, j.snapshot())
		}
	}
}

// close refuses new jobs and waits for the running ones to end (their
// context is the caller's to cancel) or ctx to be done.
func (t *table) close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func jobURL(id int64) string { return "/v1/jobs/" + strconv.FormatInt(id, 10) }
