package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"daisy/internal/api"
	"daisy/internal/jobs"
)

// lsObjects is ls objects from the server's catalog.
func (c *remoteClient) lsObjects(ctx context.Context, source string) error {
	q := url.Values{}
	if source != "" {
		q.Set("source", source)
	}
	var ans struct {
		Objects []jobs.Object `json:"objects"`
	}
	if err := c.getJSON(ctx, "/v1/objects", q, &ans); err != nil {
		return err
	}
	g := c.g
	if g.json {
		return g.printJSON(nonNil(ans.Objects))
	}
	tw := g.table("OBJECT\tSOURCE\tLEVEL\tSTARTED\tSIZE\tENTRIES\tSTATE\tCOPIES")
	for _, o := range ans.Objects {
		var cps struct {
			Copies []jobs.CopyInfo `json:"copies"`
		}
		if err := c.getJSON(ctx, "/v1/objects/"+url.PathEscape(o.ID)+"/copies", nil, &cps); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, o.Source, o.Level, o.Started.Local().Format(startedLayout),
			humanBytes(o.Length), o.Files, o.State, copySummary(cps.Copies))
	}
	return tw.Flush()
}

// lsCopies is ls copies from the server's catalog: of one object (ID or
// unique prefix), or of every object, oldest first.
func (c *remoteClient) lsCopies(ctx context.Context, args []string) error {
	ids := args
	if len(ids) == 0 {
		var ans struct {
			Objects []jobs.Object `json:"objects"`
		}
		if err := c.getJSON(ctx, "/v1/objects", nil, &ans); err != nil {
			return err
		}
		for _, o := range ans.Objects {
			ids = append(ids, o.ID)
		}
	}
	var all []jobs.CopyInfo
	for _, id := range ids {
		var cps struct {
			Copies []jobs.CopyInfo `json:"copies"`
		}
		if err := c.getJSON(ctx, "/v1/objects/"+url.PathEscape(id)+"/copies", nil, &cps); err != nil {
			return err
		}
		all = append(all, cps.Copies...)
	}
	return printCopies(c.g, all)
}

// lsJobs is ls jobs from the server's catalog (its history: the jobs of
// every process).
func (c *remoteClient) lsJobs(ctx context.Context, limit int) error {
	if limit < 1 || limit > 10000 {
		return usageError("--limit %d: with --server give 1 to 10000", limit)
	}
	var ans struct {
		History json.RawMessage `json:"history"`
	}
	if err := c.getJSON(ctx, "/v1/jobs", url.Values{"limit": {strconv.Itoa(limit)}}, &ans); err != nil {
		return err
	}
	var js []struct {
		ID       int64     `json:"id"`
		Kind     string    `json:"kind"`
		State    string    `json:"state"`
		Started  time.Time `json:"started"`
		Finished time.Time `json:"finished"`
		Bytes    int64     `json:"bytes"`
		Files    int64     `json:"files"`
		Error    string    `json:"error"`
		Warnings int64     `json:"warnings"`
	}
	if len(ans.History) > 0 && string(ans.History) != "null" {
		if err := json.Unmarshal(ans.History, &js); err != nil {
			return fmt.Errorf("server %s: GET /v1/jobs: the history is not a list of jobs: %w", c.base, err)
		}
	}
	g := c.g
	if g.json {
		if len(js) == 0 {
			return g.printJSON([]struct{}{})
		}
		return g.printJSON(ans.History)
	}
	tw := g.table("JOB\tKIND\tSTATE\tSTARTED\tDURATION\tSIZE\tFILES\tWARNINGS\tERROR")
	for _, j := range js {
		dur := "-"
		if !j.Finished.IsZero() {
			dur = j.Finished.Sub(j.Started).Round(time.Millisecond).String()
		}
		msg, _, _ := strings.Cut(j.Error, "\n")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", j.ID, j.Kind, j.State, j.Started.Local().Format(startedLayout), dur, humanBytes(j.Bytes), j.Files, j.Warnings, msg)
	}
	return tw.Flush()
}

// lsVolumes is ls volumes from the server's catalog, with the totals of
// the server's configured pools.
func (c *remoteClient) lsVolumes(ctx context.Context, pool string) error {
	q := url.Values{}
	if pool != "" {
		q.Set("pool", pool)
	}
	var ans struct {
		Volumes []jobs.Volume `json:"volumes"`
	}
	if err := c.getJSON(ctx, "/v1/volumes", q, &ans); err != nil {
		return err
	}
	g := c.g
	if g.json {
		return g.printJSON(nonNil(ans.Volumes))
	}
	tw := g.table("LABEL\tPOOL\tSTATE\tBLOCKS\tSIZE\tFILL\tPATH")
	for _, v := range ans.Volumes {
		fill := "-"
		if v.Capacity > 0 {
			fill = fmt.Sprintf("%.0f%%", 100*float64(v.Bytes)/float64(v.Capacity))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", v.Label, v.Pool, v.State, v.Blocks, humanBytes(v.Bytes), fill, v.Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	pools, err := c.pools(ctx)
	if err != nil {
		return err
	}
	for _, p := range pools {
		t := p.Totals
		if t == nil || (pool != "" && p.Name != pool) {
			continue
		}
		fmt.Fprintf(g.stdout, "total %s: %d volume(s) (%s), %s used, %s live, %s recyclable\n",
			t.Pool, t.Volumes, stateCounts(t.States), humanBytes(t.Used), humanBytes(t.Live), humanBytes(t.Recyclable))
	}
	return nil
}

func (c *remoteClient) pools(ctx context.Context) ([]api.PoolView, error) {
	var ans struct {
		Pools []api.PoolView `json:"pools"`
	}
	err := c.getJSON(ctx, "/v1/pools", nil, &ans)
	return ans.Pools, err
}

// lsPools is ls pools of the server's configuration with their totals.
func (c *remoteClient) lsPools(ctx context.Context) error {
	pools, err := c.pools(ctx)
	if err != nil {
		return err
	}
	rows := []poolRow{}
	for _, p := range pools {
		t := jobs.PoolTotals{Pool: p.Name, States: map[string]int{}, StateBytes: map[string]int64{}}
		if p.Totals != nil {
			t = *p.Totals
		}
		rows = append(rows, poolRow{PoolTotals: t, Type: p.Type, Directory: p.Directory})
	}
	g := c.g
	if g.json {
		return g.printJSON(rows)
	}
	tw := g.table("POOL\tTYPE\tVOLUMES\tUSED\tLIVE\tRECYCLABLE\tSTATES\tDIRECTORY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Pool, r.Type, r.Volumes, humanBytes(r.Used), humanBytes(r.Live),
			humanBytes(r.Recyclable), stateCounts(r.States), r.Directory)
	}
	return tw.Flush()
}
