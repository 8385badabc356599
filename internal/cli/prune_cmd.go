package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/api"
	"daisy/internal/jobs"
)

func newPruneCmd(g *globals) *cobra.Command {
	var (
		dry, reclaim bool
		wait         waitFlag
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Expire copies past their pool's retention; recycle emptied volumes",
		Long: `prune applies the retention of every pool that has one. With an age
(retention: 30d) a copy in the pool expires when its object was backed up
longer ago than that; with a count (retention: 12 copies) the pool keeps
the copies of each source's 12 newest objects that have a good copy there,
and the older ones expire. Expired copies are dropped from the catalog, an object left
without any copy is removed with its file list, and volumes left without a
good copy become recyclable: they are labelled anew when their pool needs
a volume. An object that a remaining object is based on is never expired.
With --reclaim every recyclable vtape volume of the configured pools
(those this prune made recyclable too) gives its space back: its file is
cut to its label block and synced, and it stays recyclable, to be
labelled anew when its pool needs a volume; the bytes freed are printed.
Without it a recyclable volume keeps its bytes until it is relabelled.
With --dry-run nothing changes and the same lists are printed (with
--reclaim, what would be freed).

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			locks, err := wait.locks(g)
			if err != nil {
				return err
			}
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.prune(cmd.Context(), api.JobRequest{Kind: api.KindPrune, DryRun: dry, Reclaim: reclaim, WaitSeconds: waitSeconds(wait.d)})
			}
			cfg, cat, err := g.openJob(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			res, err := jobs.Prune(cmd.Context(), cfg, cat, jobs.PruneOptions{Now: time.Now(), DryRun: dry, Reclaim: reclaim, Logger: g.log, Locks: locks})
			if res == nil {
				return wait.busyHint(err)
			}
			return finishPrune(g, res, err)
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "print what would expire and be recycled; change nothing")
	cmd.Flags().BoolVar(&reclaim, "reclaim", false, "cut the files of recyclable vtape volumes to their label block, freeing their space")
	wait.add(cmd.Flags())
	return cmd
}

// finishPrune prints a prune's result and returns the error its exit
// code comes from; err is the error the job returned with res.
func finishPrune(g *globals, res *jobs.PruneResult, err error) error {
	if g.json {
		if perr := g.printJSON(res); perr != nil && err == nil {
			err = perr
		}
	} else {
		printPrune(g, res)
	}
	return err
}

func printPrune(g *globals, res *jobs.PruneResult) {
	w := g.stdout
	head, would := fmt.Sprintf("prune job %d", res.Job), ""
	switch {
	case res.DryRun:
		head, would = "prune (dry run)", "would be "
	case res.Job == 0:
		// jobs records no job when no pool has a retention.
		if res.Reclaimed == nil {
			fmt.Fprintf(w, "prune: nothing to do: %s\n", res.NothingToDo)
			return
		}
		fmt.Fprintln(w, "prune: no pool has a retention; no job was recorded")
		printReclaim(w, res, would)
		return
	}
	fmt.Fprintf(w, "%s: %d cop%s %sexpired, %d object(s) %sremoved, %d volume(s) %smade recyclable\n", head,
		len(res.Expired), map[bool]string{true: "y", false: "ies"}[len(res.Expired) == 1], would,
		len(res.Removed), would, len(res.Recycled), would)
	for _, e := range res.Expired {
		fmt.Fprintf(w, "  expired  %-10s %s copy %d (pool %s, %s, backed up %s)\n", e.Source, e.Object, e.Copy, e.Pool, e.State, e.Started.Local().Format(startedLayout))
	}
	for _, r := range res.Removed {
		fmt.Fprintf(w, "  removed  %-10s %s (backed up %s)\n", r.Source, r.Object, r.Started.Local().Format(startedLayout))
	}
	for _, k := range res.Kept {
		fmt.Fprintf(w, "  kept     %-10s %s: past retention, but %s is based on it\n", k.Source, k.Object, k.NeededBy)
	}
	for _, v := range res.Recycled {
		fmt.Fprintf(w, "  volume   %s (pool %s): %s → recyclable\n", v.Label, v.Pool, v.From)
	}
	printReclaim(w, res, would)
}

// printReclaim prints what prune --reclaim freed (would free, with would
// "would be ").
func printReclaim(w io.Writer, res *jobs.PruneResult, would string) {
	if res.Reclaimed == nil {
		return
	}
	fmt.Fprintf(w, "reclaim: %d volume file(s) %scut to their label, %s (%d bytes) %sfreed\n", len(res.Reclaimed), would, humanBytes(res.Freed), res.Freed, would)
	for _, r := range res.Reclaimed {
		fmt.Fprintf(w, "  reclaim  %s (pool %s): %s → %s, %s\n", r.Label, r.Pool, humanBytes(r.Before), humanBytes(r.After), r.Path)
	}
}
