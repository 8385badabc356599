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
	// Warnings counts what a backup could not read (paths, files): a
	// job of state success with warnings completed "with warnings".
	Warnings int64 `json:"warnings"`
	Owner    Owner `json:"owner"`
}

// StartJob records a new running job of the given kind, owned by this
// process, and returns it with its ID.
func (c *Catalog) StartJob(ctx context.Context, kind string) (Job, error) {
	if kind == "" {
		return Job{}, fmt.Errorf("catalog: start job: empty kind")
	}
	// UTC drops the monotonic reading: the job is handed out as it will
	// read back from the database.
	j := Job{Kind: kind, State: JobRunning, Started: time.Now().UTC(), Owner: self}
	if err := c.w.QueryRowContext(ctx, sqlStartJob, kind, nanos(j.Started), j.Owner.PID, j.Owner.Boot, j.Owner.Start).Scan(&j.ID); err != nil {
		return Job{}, fmt.Errorf("catalog: start job %s: %w", kind, err)
	}
	return j, nil
}

// FinishJob records the outcome of a job, found by ID: state (success,
// partial, failed, or interrupted for a job a signal stopped), finished
// (now if zero), bytes, files, error and warnings.
func (c *Catalog) FinishJob(ctx context.Context, j Job) error {
	if !oneOf(j.State, JobSuccess, JobPartial, JobFailed, JobInterrupted) {
		return fmt.Errorf("catalog: finish job %d: state %q is not success, partial, failed or interrupted", j.ID, j.State)
	}
	if j.Warnings < 0 {
		return fmt.Errorf("catalog: finish job %d: %d warnings", j.ID, j.Warnings)
	}
	res, err := c.w.ExecContext(ctx, sqlFinishJob, j.State, nanos(nowIfZero(j.Finished)), j.Bytes, j.Files, j.Error, j.Warnings, j.ID)
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
	if err := s.Scan(&j.ID, &j.Kind, &j.State, &started, &finished, &j.Bytes, &j.Files, &j.Error,
		&j.Owner.PID, &j.Owner.Boot, &j.Owner.Start, &j.Warnings); err != nil {
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

// ReapInterrupted finds the running jobs whose owner is gone (the process
// was killed, or the machine lost power or rebooted) and, in one
// transaction, marks each interrupted, its copies still being written
// failed, and its objects still being written or left without a good copy
// failed, all with the reason. Jobs of a process that still runs, this one
// or another daisy, are left alone. It returns the jobs it marked, as they
// now are. Open calls it.
func (c *Catalog) ReapInterrupted(ctx context.Context) ([]Job, error) {
	// A read first: every command opens the catalog, and most find nothing
	// to reap; they need not wait for the write lock a running job holds.
	if gone, err := c.anyJobGone(ctx); err != nil {
		return nil, fmt.Errorf("catalog: mark interrupted jobs: %w", err)
	} else if !gone {
		return nil, nil
	}
	var out []Job
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlRunningJobs)
		if err != nil {
			return err
		}
		var gone []Job
		for rows.Next() {
			var j Job
			if err := rows.Scan(&j.ID, &j.Kind, &j.Owner.PID, &j.Owner.Boot, &j.Owner.Start); err != nil {
				rows.Close()
				return err
			}
			if j.Owner.gone() {
				gone = append(gone, j)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, j := range gone {
			reason := fmt.Sprintf("interrupted: the %s job's process (%s) ended before it finished (killed, crashed or power lost)", j.Kind, j.Owner)
			if j.Owner.PID <= 0 {
				reason = fmt.Sprintf("interrupted: the %s job's process, not recorded, no longer runs", j.Kind)
			}
			if _, err := tx.ExecContext(ctx, sqlInterruptJob, nanos(now), reason, j.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlInterruptCopy, reason, now.UnixNano(), j.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlInterruptObj, nanos(now), j.ID); err != nil {
				return err
			}
			j.State, j.Finished, j.Error = JobInterrupted, now, reason
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: mark interrupted jobs: %w", err)
	}
	return out, nil
}

// anyJobGone reports whether a running job's owner is gone, read without
// the write lock. ReapInterrupted checks again inside its transaction.
func (c *Catalog) anyJobGone(ctx context.Context) (bool, error) {
	rows, err := c.r.QueryContext(ctx, sqlRunningJobs)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var j Job
		if err := rows.Scan(&j.ID, &j.Kind, &j.Owner.PID, &j.Owner.Boot, &j.Owner.Start); err != nil {
			return false, err
		}
		if j.Owner.gone() {
			return true, nil
		}
	}
	return false, rows.Err()
}

// FailUnfinished marks what a job left unfinished failed, with the reason:
// its copies still being written, and its objects still being written or
// left without a good copy. A job calls it on its way out, so that nothing
// it stopped half-way (on an error or a signal) stays writing.
func (c *Catalog) FailUnfinished(ctx context.Context, jobID int64, reason string) error {
	now := time.Now().UTC()
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlInterruptCopy, reason, now.UnixNano(), jobID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlInterruptObj, nanos(now), jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: fail what job %d left unfinished: %w", jobID, err)
	}
	return nil
}
