package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"daisy/internal/jobs"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var o jobs.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify [--object ID]... [--source S]... [--volume LABEL]... [--pool P]... [--all] [--no-mark]",
		Short: "Read copies back and check every CRC and hash against the catalog",
		Long: `verify reads copies back from their volumes, block by block, and checks
every block CRC, every record CRC, the records' order and offsets, and the
object's length, record count and content hash against the catalog. The
selections add up: the copies of the named objects, of every object of the
named sources, the copies with an extent on the named volumes, or on the
volumes of the named pools; with none of them (or --all), every copy. It
reads the good copies and the copies an earlier verify marked failed.

For a damaged copy it reports the volume, the damaged blocks and the
object's byte range that was lost (reading goes on past the damage to find
where the data resumes), and marks the copy failed in the catalog so that
restores use another copy. A copy an earlier verify marked failed that now
verifies clean is marked good again (never one that failed while it was
being written). --no-mark only reports.

A volume that cannot be read (its file missing, unreadable, or holding
another volume) is not damage: its copies are reported unavailable and
keep their state; verify them again once the volume is back. A volume
whose label block is damaged is read from its block headers (every block
names its volume): the damage is reported, its copies are verified as
usual. Exit 3 when damage was found, else 1 when a copy could not be
verified.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.verify(cmd.Context(), o)
			}
			_, cat, err := g.openJob(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			o.Logger = g.log
			var stopProgress func()
			o.Progress, stopProgress = jobProgress(g, "verify")
			res, err := jobs.Verify(cmd.Context(), cat, o)
			stopProgress()
			return finishVerify(g, res, err)
		},
	}
	cmd.Flags().StringArrayVar(&o.Objects, "object", nil, "verify the copies of this object (ID or unique prefix; repeatable)")
	cmd.Flags().StringArrayVar(&o.Sources, "source", nil, "verify the copies of every object of this source (repeatable)")
	cmd.Flags().StringArrayVar(&o.Volumes, "volume", nil, "verify the copies with an extent on this volume (label or ID; repeatable)")
	cmd.Flags().StringArrayVar(&o.Pools, "pool", nil, "verify the copies on the volumes of this pool (repeatable)")
	cmd.Flags().BoolVar(&o.All, "all", false, "verify every copy (the default when nothing is selected)")
	cmd.Flags().BoolVar(&o.NoMark, "no-mark", false, "only report; do not mark damaged copies failed, nor clean ones good again")
	return cmd
}

// finishVerify prints a verify's result and returns the error its exit
// code comes from; err is the error the job returned with res.
func finishVerify(g *globals, res *jobs.VerifyResult, err error) error {
	if res != nil {
		if g.json {
			_ = g.printJSON(res)
		} else {
			printVerify(g, res)
		}
	}
	if err != nil {
		return err
	}
	switch {
	case res.Damaged > 0:
		return &exitError{ExitPartial, fmt.Errorf("damage found in %d of %d copies", res.Damaged, len(res.Copies))}
	case len(res.VolumeDamage) > 0:
		return &exitError{ExitPartial, fmt.Errorf("damage found in the label block of %d volume(s)", len(res.VolumeDamage))}
	case res.Unavailable > 0:
		return &exitError{ExitFailure, fmt.Errorf("%d of %d copies not verified: volume unavailable", res.Unavailable, len(res.Copies))}
	}
	return nil
}

func printVerify(g *globals, res *jobs.VerifyResult) {
	w := g.stdout
	for _, c := range res.Copies {
		state := "ok     "
		switch c.State {
		case jobs.VerifyDamaged:
			state = "DAMAGED"
		case jobs.VerifyUnavailable:
			state = "UNAVAILABLE"
		}
		fmt.Fprintf(w, "%s %s copy %d of %s (%s): %s checked, %s read from %v\n",
			state, c.Source, c.Copy, c.Object, c.Pool, humanBytes(c.Bytes), humanBytes(c.BytesRead), c.Volumes)
		for _, d := range c.Damage {
			fmt.Fprintf(w, "    %s\n", d.String())
		}
		for _, d := range c.Unavailable {
			fmt.Fprintf(w, "    not read: %s\n", d.String())
		}
		was := c.Catalog == jobs.CopyFailed
		switch {
		case c.MarkError != "" && c.State == jobs.VerifyOK:
			fmt.Fprintf(w, "    copy %d verifies clean but could not be marked good again: %s\n", c.Copy, c.MarkError)
		case c.MarkError != "":
			fmt.Fprintf(w, "    copy %d could not be marked failed: %s\n", c.Copy, c.MarkError)
		case c.Marked:
			fmt.Fprintf(w, "    copy %d marked failed in the catalog\n", c.Copy)
		case c.Revived:
			fmt.Fprintf(w, "    copy %d was failed (%s); it verifies clean now: marked good again\n", c.Copy, c.WasFailed)
		case c.State == jobs.VerifyUnavailable:
			fmt.Fprintf(w, "    copy %d unavailable, left %s: verify it again once the volume is back\n", c.Copy, c.Catalog)
		case c.State == jobs.VerifyDamaged && was && !res.NoMark:
			fmt.Fprintf(w, "    copy %d stays failed\n", c.Copy)
		case c.State == jobs.VerifyDamaged:
			fmt.Fprintf(w, "    copy %d left as it is (--no-mark)\n", c.Copy)
		case was:
			fmt.Fprintf(w, "    copy %d is failed in the catalog but verifies clean: left failed (--no-mark)\n", c.Copy)
		}
	}
	for _, d := range res.VolumeDamage {
		fmt.Fprintf(w, "DAMAGED volume %s block %d: %s\n", d.Volume, d.Block, d.Error)
		fmt.Fprintf(w, "    its copies were read from the block headers; daisy refresh %s rewrites them onto a new volume\n", d.Volume)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped %s copy %d of %s: %s\n", s.Source, s.Copy, s.Object, s.Reason)
	}
	if len(res.Copies) == 0 {
		fmt.Fprintln(w, "no good copy was selected: nothing to verify")
	}
	fmt.Fprintf(w, "verify job %d: %d copies read, %d ok, %d damaged, %d unavailable, %d marked good again; %s checked, %s read from volumes\n",
		res.Job, len(res.Copies), res.OK, res.Damaged, res.Unavailable, res.Revived, humanBytes(res.Bytes), humanBytes(res.BytesRead))
}
