package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"daisy/internal/jobs"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var o jobs.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore (--source S | --object ID) [--copy N] --to DIR",
		Short: "Restore an object's tree into a directory",
		Long: `restore recreates the files of an object (the latest complete backup of
--source, or --object ID) under --to, each at the target joined with its
original absolute path, with modes, times, links and (as root) owners.
Without --copy it reads the first good copy and falls back to the next one,
at the same place, when a volume is missing or damaged. Nothing is written
outside the target and no link is followed out of it.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Copy < 0 {
				return usageError("--copy %d: copies are numbered from 1", o.Copy)
			}
			if o.Target == "" {
				return usageError("restore needs --to DIR")
			}
			_, cat, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			o.Logger = g.log
			res, err := jobs.Restore(cmd.Context(), cat, o)
			if res != nil {
				if g.json {
					_ = g.printJSON(res)
				} else {
					reportFallbacks(g, &res.StreamResult)
					if err == nil {
						fmt.Fprintf(g.stdout, "restored object %s (%s) from copy %d into %s: %d entries, %s, read %s from volumes\n",
							res.Object, res.Source, res.Copy, res.Target, res.Entries, humanBytes(res.Bytes), humanBytes(res.BytesRead))
					}
					for i, p := range res.Problems {
						if i == 20 {
							fmt.Fprintf(g.stderr, "daisy: … %d more problems (see --json)\n", len(res.Problems)-20)
							break
						}
						fmt.Fprintf(g.stderr, "daisy: %s\n", p)
					}
				}
			}
			if err != nil {
				return err
			}
			if len(res.Problems) > 0 || res.Refused > 0 {
				return &exitError{ExitPartial, fmt.Errorf("restore completed with %d problem(s)", len(res.Problems))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Source, "source", "", "restore the latest complete backup of this source")
	cmd.Flags().StringVar(&o.Object, "object", "", "restore this object (ID or unique prefix)")
	cmd.Flags().IntVar(&o.Copy, "copy", 0, "read only this copy (default: first good copy, with fallback)")
	cmd.Flags().StringVar(&o.Target, "to", "", "target directory")
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "replace existing files in the target")
	return cmd
}

func newCatCmd(g *globals) *cobra.Command {
	var copyN int
	cmd := &cobra.Command{
		Use:   "cat OBJECT [--copy N]",
		Short: "Write an object's pax tar stream to standard output",
		Long: `cat demultiplexes one object from its volumes and writes its data, a
POSIX pax tar stream, to standard output: daisy cat OBJECT | tar -tvf -
Every record CRC and the object's hash are checked; a damaged copy falls
back to the next one.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cat, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			obj, err := jobs.FindObject(cmd.Context(), cat, args[0], "")
			if err != nil {
				return err
			}
			res, err := jobs.Stream(cmd.Context(), cat, obj, g.stdout, jobs.StreamOptions{Copy: copyN, Logger: g.log})
			if res != nil {
				reportFallbacks(g, res)
			}
			return err
		},
	}
	cmd.Flags().IntVar(&copyN, "copy", 0, "read only this copy")
	return cmd
}

// reportFallbacks tells which copies failed and which one took over.
func reportFallbacks(g *globals, res *jobs.StreamResult) {
	for i, a := range res.Attempts {
		if a.Error != "" && i+1 < len(res.Attempts) {
			fmt.Fprintf(g.stderr, "daisy: copy %d could not be read (%s); fell back to copy %d at the same position\n", a.Copy, a.Error, res.Attempts[i+1].Copy)
		}
	}
}
