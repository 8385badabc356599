package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// A schedule's job run by RunScheduled is a job of the table: it returns
// at the job's end with its view, GET /v1/jobs and GET /v1/jobs/{id} show
// it with its schedule, and daisy_jobs_total counts it. A request that
// does not check makes no job; after Shutdown none starts.
func TestRunScheduled(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 2, SmallFiles: 10})
	ctx := context.Background()
	v, err := e.api.RunScheduled(ctx, "nightly", JobRequest{Kind: KindBackup, Level: "full"})
	if err != nil {
		t.Fatalf("RunScheduled: %v", err)
	}
	if v.State != jobs.JobSuccess || v.Schedule != "nightly" || v.CatalogJob == 0 || v.Finished.IsZero() || v.Result == nil {
		t.Fatalf("the scheduled job's view: %+v", v)
	}
	var l JobList
	e.get("/v1/jobs", http.StatusOK, &l)
	if len(l.Jobs) != 1 || l.Jobs[0].ID != v.ID || l.Jobs[0].Schedule != "nightly" || l.Jobs[0].State != jobs.JobSuccess {
		t.Fatalf("GET /v1/jobs: %+v", l.Jobs)
	}
	var one JobView
	e.get(jobURL(v.ID), http.StatusOK, &one)
	if one.Schedule != "nightly" || one.CatalogJob != v.CatalogJob {
		t.Errorf("GET %s: %+v", jobURL(v.ID), one)
	}
	metrics := string(e.get("/metrics", http.StatusOK, nil))
	if !strings.Contains(metrics, `daisy_jobs_total{kind="backup",state="success"} 1`+"\n") {
		t.Errorf("daisy_jobs_total does not count the scheduled job:\n%s", metrics)
	}

	_, err = e.api.RunScheduled(ctx, "bad", JobRequest{Kind: KindBackup, Sources: []string{"nope"}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "sources" || !strings.Contains(err.Error(), "schedule bad") {
		t.Errorf("a scheduled request naming no source: %v", err)
	}
	e.get("/v1/jobs", http.StatusOK, &l)
	if len(l.Jobs) != 1 {
		t.Errorf("a refused scheduled request made a job: %+v", l.Jobs)
	}

	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := e.api.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.RunScheduled(ctx, "late", JobRequest{Kind: KindBackup}); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("RunScheduled after Shutdown: %v", err)
	}
}
