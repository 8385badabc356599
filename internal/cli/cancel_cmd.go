package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/api"
)

func newCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB",
		Short: "Stop a running job of daisy server",
		Long: `cancel stops a job daisy server runs: JOB is its number as daisy ls jobs
lists it. The job ends interrupted, as at the server's SIGTERM: what it
finished is recorded, the copies it had not finished are failed. cancel
waits for the job's end and prints its state. It goes through the server
(--server, DAISY_SERVER or the server: api: of daisy.yaml); a job that a
daisy command runs here is stopped with Ctrl-C or SIGTERM of that process.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return usageError("cancel %q: give the job's number, as daisy ls jobs lists it", args[0])
			}
			rc, err := g.remote()
			if err != nil {
				return err
			}
			if rc == nil {
				return usageError("cancel stops jobs of daisy server: give --server (a job run here stops with Ctrl-C or SIGTERM of its process)")
			}
			return rc.cancel(cmd.Context(), id)
		},
	}
}

// cancel stops the running job whose catalog job is id.
func (c *remoteClient) cancel(ctx context.Context, id int64) error {
	var list api.JobList
	if err := c.getJSON(ctx, "/v1/jobs", nil, &list); err != nil {
		return err
	}
	var j *api.JobView
	for i := range list.Jobs {
		if v := &list.Jobs[i]; v.CatalogJob == id && v.State == api.StateRunning {
			j = v
		}
	}
	if j == nil {
		return &exitError{ExitFailure, fmt.Errorf("server %s: job %d is not running there (daisy ls jobs lists the jobs)", c.base, id)}
	}
	path := "/v1/jobs/" + strconv.FormatInt(j.ID, 10)
	resp, err := c.request(ctx, http.MethodPost, path+"/cancel", nil, nil)
	var ee *exitError
	if errors.As(err, &ee) && resp == nil {
		// Ended between the list and the cancel: say how it ended.
		var v remoteView
		if gerr := c.getJSON(ctx, path, nil, &v); gerr == nil && v.State != api.StateRunning {
			return &exitError{ExitFailure, fmt.Errorf("server %s: job %d ended before it was cancelled: %s", c.base, id, v.State)}
		}
		return err
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	for {
		var v remoteView
		if err := c.getJSON(ctx, path, nil, &v); err != nil {
			return err
		}
		if v.State != api.StateRunning {
			if c.g.json {
				return c.g.printJSON(v)
			}
			fmt.Fprintf(c.g.stdout, "job %d (%s): %s\n", id, v.Kind, v.State)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
