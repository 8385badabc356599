package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// lsNow is the time ls schedules counts the next runs from; tests set it.
var lsNow = time.Now

// scheduleRow is a line of ls schedules: a schedule of the configuration
// and its next start.
type scheduleRow struct {
	Name    string    `json:"name"`
	Cron    string    `json:"cron"`
	Job     string    `json:"job"`
	Level   string    `json:"level,omitempty"`
	Sources []string  `json:"sources,omitempty"`
	CopyJob string    `json:"copy_job,omitempty"`
	Reclaim bool      `json:"reclaim,omitempty"`
	What    string    `json:"what"`
	Next    time.Time `json:"next"`
}

// newLsSchedulesCmd is "ls schedules".
func newLsSchedulesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schedules",
		Short: "List the schedules of the configuration with their next start",
		Long: `ls schedules lists the schedules of daisy.yaml, which daisy server runs:
their cron line, the job and what it covers, and the next time the line
names (local time), from the configuration alone (no catalog is opened).
A run still going at its next start is not started twice, and times
missed while the server was down are not caught up.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			now := lsNow()
			rows := make([]scheduleRow, 0, len(cfg.Schedules))
			for _, s := range cfg.Schedules {
				rows = append(rows, scheduleRow{Name: s.Name, Cron: s.Cron, Job: s.Job, Level: s.Level, Sources: s.Sources,
					CopyJob: s.CopyJob, Reclaim: s.Reclaim, What: s.What(), Next: s.Next(now)})
			}
			if g.json {
				return g.printJSON(rows)
			}
			tw := g.table("NAME\tCRON\tJOB\tWHAT\tNEXT")
			for _, r := range rows {
				next := "-"
				if !r.Next.IsZero() {
					next = r.Next.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(strings.Fields(r.Cron), " "), r.Job, r.What, next)
			}
			return tw.Flush()
		},
	}
}
