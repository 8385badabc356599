package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/pools"
)

// Options configure the API.
type Options struct {
	// Config returns the configuration in force (the server reloads it
	// on SIGHUP). Required.
	Config func() *config.Config
	// Catalog is the server's open catalog. Required.
	Catalog *jobs.Catalog
	// Runner runs the jobs POST /v1/jobs starts. Required.
	Runner Runner
	// Tokens is the store of bearer tokens; nil: only certificates.
	Tokens *pki.Tokens
	// Fleet, if set, gives the hosts' connection states.
	Fleet Fleet
	// Logger logs each request (method, path, status, duration) and each
	// job's end; nil: discard.
	Logger *slog.Logger
	// Context is the parent of the jobs' contexts (cancel it to stop
	// them); nil: context.Background().
	Context context.Context
	// Keep is how long an ended job stays in the table (default 1h).
	Keep time.Duration
	// FollowEvery is the interval of GET /v1/jobs/{id}/follow's lines
	// (default 1s).
	FollowEvery time.Duration
	// Ready is how long POST /v1/jobs waits for a job to get going, so
	// that a refusal (pool busy, unknown object) is its answer (default 2s).
	Ready time.Duration
}

// API is the HTTP API; it is an http.Handler.
type API struct {
	opts    Options
	mux     *http.ServeMux
	table   *table
	metrics *metrics
}

var _ http.Handler = (*API)(nil)

// New makes the API of o.
func New(o Options) (*API, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("api: no configuration")
	case o.Catalog == nil:
		return nil, errors.New("api: no catalog")
	case o.Runner == nil:
		return nil, errors.New("api: no runner")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Keep <= 0 {
		o.Keep = time.Hour
	}
	if o.FollowEvery <= 0 {
		o.FollowEvery = time.Second
	}
	if o.Ready <= 0 {
		o.Ready = 2 * time.Second
	}
	a := &API{opts: o, mux: http.NewServeMux(), table: newTable(o.Keep)}
	a.metrics = newMetrics(a)
	a.table.ended = a.metrics.ended
	a.routes()
	return a, nil
}

// Registry is the API's Prometheus registry (served at /metrics): the
// server may register collectors of its own in it.
func (a *API) Registry() *prometheus.Registry { return a.metrics.reg }

// Shutdown refuses new jobs and waits until the running ones end (cancel
// Options.Context to make them end) or ctx is done.
func (a *API) Shutdown(ctx context.Context) error { return a.table.close(ctx) }

// Endpoints are the API's routes (docs/API.md documents each).
var Endpoints = []string{
	"POST /v1/jobs", "GET /v1/jobs", "GET /v1/jobs/{id}", "GET /v1/jobs/{id}/follow", "POST /v1/jobs/{id}/cancel",
	"GET /v1/topology", "GET /v1/objects", "GET /v1/objects/{id}", "GET /v1/objects/{id}/copies", "GET /v1/objects/{id}/files",
	"GET /v1/volumes", "GET /v1/pools", "GET /v1/health", "GET /metrics",
}

func (a *API) routes() {
	handlers := map[string]http.HandlerFunc{
		"POST /v1/jobs":               a.postJob,
		"GET /v1/jobs":                a.listJobs,
		"GET /v1/jobs/{id}":           a.getJob,
		"GET /v1/jobs/{id}/follow":    a.followJob,
		"POST /v1/jobs/{id}/cancel":   a.cancelJob,
		"GET /v1/topology":            a.topology,
		"GET /v1/objects":             a.objects,
		"GET /v1/objects/{id}":        a.object,
		"GET /v1/objects/{id}/copies": a.copies,
		"GET /v1/objects/{id}/files":  a.files,
		"GET /v1/volumes":             a.volumes,
		"GET /v1/pools":               a.pools,
		"GET /v1/health":              a.health,
		"GET /metrics":                a.metrics.handler().ServeHTTP,
	}
	m := a.mux
	for _, e := range Endpoints {
		m.HandleFunc(e, handlers[e])
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s (docs/API.md lists them)", r.Method, r.URL.Path))
	})
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets follow stream through the recorder.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ServeHTTP authenticates the request, serves it and logs it (never its
// headers: no token reaches the log).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	who, ok := a.authenticate(sw, r)
	if ok {
		a.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), callerKey{}, who)))
	}
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	level := slog.LevelInfo
	if r.URL.Path == "/metrics" || r.URL.Path == "/v1/health" {
		level = slog.LevelDebug
	}
	a.opts.Logger.Log(r.Context(), level, "api request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
		"duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr, "caller", who.Name)
}

type callerKey struct{}

// errorBody is the JSON of every error.
type errorBody struct {
	Error string `json:"error"`
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// failErr answers err with the status its kind says.
func (a *API) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		a.fail(w, r, http.StatusBadRequest, fe.Error())
	case errors.Is(err, jobs.ErrNotFound):
		a.fail(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, jobs.ErrAmbiguous), errors.Is(err, jobs.ErrUsage):
		a.fail(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, pools.ErrPoolBusy):
		a.fail(w, r, http.StatusConflict, err.Error())
	default:
		a.opts.Logger.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
		a.fail(w, r, http.StatusInternalServerError, err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxBody bounds a request's body.
const maxBody = 1 << 20

// decodeRequest reads a JobRequest, naming the field of a JSON error.
func decodeRequest(r *http.Request) (JobRequest, error) {
	var req JobRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return req, fieldErr("", "the body is empty: give a JSON object such as {\"kind\": \"backup\"}")
	case errors.As(err, &te):
		return req, fieldErr(te.Field, "%s is not a %s", te.Value, te.Type)
	case errors.As(err, &se):
		return req, fieldErr("", "the body is not JSON: %v (at byte %d)", se, se.Offset)
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return req, fieldErr(name, "unknown field (docs/API.md lists a job request's fields)")
	case err != nil && strings.Contains(err.Error(), "parsing time"):
		return req, fieldErr("at", "%v: give an RFC 3339 time such as 2026-11-01T08:00:00Z", err)
	case err != nil:
		return req, fieldErr("", "the body is not a job request: %v", err)
	}
	if dec.More() {
		return req, fieldErr("", "the body holds more than one JSON value")
	}
	return req, nil
}

// StartedJob is the answer of POST /v1/jobs.
type StartedJob struct {
	Job int64  `json:"job"`
	URL string `json:"url"`
	// State is the job's state when the answer was sent: running, or
	// the state it ended in already.
	State string `json:"state"`
}

func (a *API) postJob(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRequest(r)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if err := req.Validate(a.opts.Config()); err != nil {
		a.failErr(w, r, err)
		return
	}
	j, err := a.table.start(a.opts.Context, a.opts.Runner, req, "")
	if err != nil {
		a.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.opts.Logger.Info("job started", "job", j.id, "kind", req.Kind, "caller", callerName(r))
	// Wait a moment for the job to get going, so that a refusal is the
	// answer rather than a job that failed at once.
	t := time.NewTimer(a.opts.Ready)
	defer t.Stop()
	select {
	case <-j.ready:
	case <-t.C:
	case <-r.Context().Done():
	}
	v := a.table.view(j)
	if v.State == StateRefused {
		a.table.mu.Lock()
		err := j.err
		a.table.mu.Unlock()
		a.failErr(w, r, fmt.Errorf("job %d refused: %w", j.id, err))
		return
	}
	w.Header().Set("Location", v.URL)
	writeJSON(w, http.StatusAccepted, StartedJob{Job: j.id, URL: v.URL, State: v.State})
}

// RunScheduled runs the job of the schedule named schedule to its end as
// a job of the API's table, as POST /v1/jobs runs req: GET /v1/jobs and
// GET /v1/jobs/{id} show it (with its schedule's name), the job metrics
// count it. req is checked first (Validate: an error is a *FieldError,
// and no job is made). The job runs under ctx, and stops too when
// Options.Context ends. RunScheduled returns the job as GET
// /v1/jobs/{id} shows it at its end, and the job's error; once Shutdown
// was called it refuses to start one.
func (a *API) RunScheduled(ctx context.Context, schedule string, req JobRequest) (JobView, error) {
	if err := req.Validate(a.opts.Config()); err != nil {
		return JobView{}, fmt.Errorf("schedule %s: %w", schedule, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(a.opts.Context, cancel)
	defer stop()
	j, err := a.table.start(ctx, a.opts.Runner, req, schedule)
	if err != nil {
		return JobView{}, fmt.Errorf("schedule %s: %w", schedule, err)
	}
	a.opts.Logger.Info("job started", "job", j.id, "kind", req.Kind, "schedule", schedule)
	<-j.done
	a.table.mu.Lock()
	err = j.err
	a.table.mu.Unlock()
	return a.table.view(j), err
}

func callerName(r *http.Request) string {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c.Name
}

// JobList is the answer of GET /v1/jobs.
type JobList struct {
	// Jobs are those the API started, by POST /v1/jobs or for the
	// server's schedules (running, and ended ones for a while),
	// newest first, without their results.
	Jobs []JobView `json:"jobs"`
	// History is the catalog's newest jobs (every process's), newest first.
	History any `json:"history"`
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 50, 1, 10000)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	hist, err := a.opts.Catalog.Jobs(r.Context(), int(limit))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, JobList{Jobs: a.table.list(), History: hist})
}

func (a *API) jobOf(w http.ResponseWriter, r *http.Request) (*job, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Sprintf("job %q: give the number POST /v1/jobs answered", r.PathValue("id")))
		return nil, false
	}
	j, ok := a.table.get(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, fmt.Sprintf("no job %d (the API keeps ended jobs for %s; GET /v1/jobs lists the catalog's history)", id, a.opts.Keep))
		return nil, false
	}
	return j, true
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	if j, ok := a.jobOf(w, r); ok {
		writeJSON(w, http.StatusOK, a.table.view(j))
	}
}

// cancelJob stops a running job (POST /v1/jobs/{id}/cancel): 202 with the
// job, which ends interrupted; 409 when it has ended already.
func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, ok := a.jobOf(w, r)
	if !ok {
		return
	}
	who := callerName(r)
	if err := a.table.cancelJob(j, fmt.Errorf("cancelled through the API by %s", who)); err != nil {
		a.fail(w, r, http.StatusConflict, fmt.Sprintf("job %d: %v (%s)", j.id, err, a.table.view(j).State))
		return
	}
	a.opts.Logger.Info("job cancelled", "job", j.id, "kind", j.req.Kind, "caller", who)
	writeJSON(w, http.StatusAccepted, a.table.view(j))
}

// FollowLine is a line of GET /v1/jobs/{id}/follow but the last, which is
// the job's JobView.
type FollowLine struct {
	Job      int64     `json:"job"`
	State    string    `json:"state"`
	Time     time.Time `json:"time"`
	Progress *Snapshot `json:"progress,omitempty"`
}

func (a *API) followJob(w http.ResponseWriter, r *http.Request) {
	j, ok := a.jobOf(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	tick := time.NewTicker(a.opts.FollowEvery)
	defer tick.Stop()
	for {
		select {
		case <-j.done:
			_ = enc.Encode(a.table.view(j))
			flush()
			return
		default:
		}
		v := a.table.view(j)
		if err := enc.Encode(FollowLine{Job: v.ID, State: v.State, Time: time.Now().UTC(), Progress: v.Progress}); err != nil {
			return
		}
		flush()
		select {
		case <-j.done:
		case <-tick.C:
		case <-r.Context().Done():
			return
		}
	}
}

// intParam reads an integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fieldErr(name, "%q: give a number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// HealthStatus is the answer of GET /v1/health.
type HealthStatus struct {
	Status  string `json:"status"` // "ok"
	Running int    `json:"running_jobs"`
	Catalog string `json:"catalog"`
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if _, err := a.opts.Catalog.SchemaVersion(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "catalog unusable", "error": err.Error()})
		return
	}
	n := 0
	for _, v := range a.table.list() {
		if v.State == StateRunning {
			n++
		}
	}
	writeJSON(w, http.StatusOK, HealthStatus{Status: "ok", Running: n, Catalog: a.opts.Catalog.Path()})
}
