package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Job is one run of a backup, restore, copy, verify ... job.
type Job struct {
	ID       int64     `json:"id"`
	Kind     string    `json:"kind"`
	State    string    `json:"state"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"` // zero while running
	Bytes    int64     `json:"bytes"`
	Files    int64     `json:"files"`
	Error    string    `json:"error,omitempty"`
}

// StartJob records a new running job of the given kind and returns it with
// its ID.
func (c *Catalog) StartJob(ctx context.Context, kind string) (Job, error) {
	if kind == "" {
		return Job{}, fmt.Errorf("catalog: start job: empty kind")
	}
	// UTC drops the monotonic reading: the job is handed out as it will
	// read back from the database.
	j := Job{Kind: kind, State: JobRunning, Started: time.Now().UTC()}
	if err := c.w.QueryRowContext(ctx, sqlStartJob, kind, nanos(j.Started)).Scan(&j.ID); err != nil {
		return Job{}, fmt.Errorf("catalog: start job %s: %w", kind, err)
	}
	return j, nil
}

// FinishJob records the outcome of a job, found by ID: state (success,
// partial or failed), finished (now if zero), bytes, files and error.
func (c *Catalog) FinishJob(ctx context.Context, j Job) error {
	if !oneOf(j.State, JobSuccess, JobPartial, JobFailed) {
		return fmt.Errorf("catalog: finish job %d: state %q is not success, partial or failed", j.ID, j.State)
	}
	res, err := c.w.ExecContext(ctx, sqlFinishJob, j.State, nanos(nowIfZero(j.Finished)), j.Bytes, j.Files, j.Error, j.ID)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("catalog: finish job %d: %w", j.ID, err)
	}
	return nil
}

func scanJob(s scanner) (Job, error) {
	var j Job
	var started, finished sql.NullInt64
	if err := s.Scan(&j.ID, &j.Kind, &j.State, &started, &finished, &j.Bytes, &j.Files, &j.Error); err != nil {
		return Job{}, err
	}
	j.Started, j.Finished = fromNanos(started), fromNanos(finished)
	return j, nil
}

// Job returns the job with that ID, or ErrNotFound.
func (c *Catalog) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(c.r.QueryRowContext(ctx, sqlJob, id))
	if err != nil {
		return Job{}, fmt.Errorf("catalog: job %d: %w", id, notFound(err))
	}
	return j, nil
}

// Jobs lists the newest limit jobs, newest first; all of them if limit <= 0.
func (c *Catalog) Jobs(ctx context.Context, limit int) ([]Job, error) {
	var rows *sql.Rows
	var err error
	if limit > 0 {
		rows, err = c.r.QueryContext(ctx, sqlJobsLimit, limit)
	} else {
		rows, err = c.r.QueryContext(ctx, sqlJobs)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: jobs: %w", err)
	}
	return out, nil
}
