package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"daisy/internal/jobs"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var o jobs.RestoreOptions
	var at string
	cmd := &cobra.Command{
		Use:   "restore (--source S [--at TIME] | --object ID) [--path P]... [--copy N] --to DIR",
		Short: "Restore a source's tree, as it was at a backup, into a directory",
		Long: `restore recreates the files of a backup (the latest complete backup of
--source, the latest one not after --at TIME, or --object ID) under --to,
each at the target joined with its original absolute path, with modes,
times, links and (as root) owners. An incremental or differential backup is
restored with its chain: the full it is based on and the backups between,
each read once for the files that are its own at that time; files deleted
by then are not brought back.

--path (repeatable) restores only the matching files and directories (a
directory with everything below it), given as absolute paths as backed up
or as shell patterns over whole paths ("/home/*/notes.txt"). A few files of
a large backup are read by seeking to the blocks that hold them.

Without --copy it reads the first good copy and falls back to another one,
at the same place, when a volume is missing or damaged, and back again for
a later range. A range that no copy can give costs only the files it held:
the restore goes on at the next file after it, restores every intact file,
lists the files it lost and exits 3. --salvage reads copies marked failed
too (verify marks a copy failed for one damaged block). Nothing is written
outside the target and no link is followed out of it; existing files are
kept unless --overwrite (counted in the output; when every file existed,
nothing was restored: exit 1). An entry that cannot be written into the
target (permission, space, read-only) fails the restore (exit 1). --resume goes on with an interrupted restore into
the same target: files it already restored are not read again, the others
are written over.

TIME is ` + atHelp + `. A
time covers the whole of its last field (a date its day, a time to the
second that second): the STARTED column of ls objects selects the backup of
its row. The output says which backup was restored (ID, level, start).

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Copy < 0 {
				return usageError("--copy %d: copies are numbered from 1", o.Copy)
			}
			if o.Target == "" {
				return usageError("restore needs --to DIR")
			}
			if at != "" && o.Object != "" {
				return usageError("--at picks an object of --source; it does not go with --object")
			}
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.restore(cmd.Context(), o, at)
			}
			_, cat, err := g.openJob(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			if at != "" {
				obj, err := resolveAt(cmd.Context(), cat, "--at", o.Source, at)
				if err != nil {
					return err
				}
				o.Object, o.Source = obj.ID, ""
			}
			o.Logger = g.log
			var stopProgress func()
			o.Progress, stopProgress = jobProgress(g, "restore")
			res, err := jobs.Restore(cmd.Context(), cat, o)
			stopProgress()
			return finishRestore(g, res, err)
		},
	}
	cmd.Flags().StringVar(&o.Source, "source", "", "restore the latest complete backup of this source")
	cmd.Flags().StringVar(&o.Object, "object", "", "restore this object (ID or unique prefix)")
	cmd.Flags().Var(copyNumber{&o.Copy}, "copy", "read only this copy (default: first good copy, with fallback)")
	cmd.Flags().StringVar(&o.Target, "to", "", "target directory")
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "replace existing files in the target")
	cmd.Flags().BoolVar(&o.Buffered, "buffered", false, "write every file through the page cache (by default the content of files of 1 MiB or more is written with O_DIRECT, straight to the disk)")
	cmd.Flags().StringVar(&at, "at", "", "the tree as it was at the latest backup of --source started within this time (as ls objects shows it), or an object ID")
	cmd.Flags().StringArrayVar(&o.Paths, "path", nil, "restore only this path or pattern (repeatable)")
	cmd.Flags().BoolVar(&o.Resume, "resume", false, "go on with an interrupted restore into the same target")
	cmd.Flags().BoolVar(&o.Salvage, "salvage", false, "read copies marked failed too (after the good ones)")
	return cmd
}

// finishRestore prints a restore's result and the problems it met, and
// returns the error its exit code comes from; err is the error the job
// returned with res.
func finishRestore(g *globals, res *jobs.RestoreResult, err error) error {
	if err == nil {
		err = restoreOutcome(res)
	}
	if res != nil {
		if g.json {
			_ = g.printJSON(res)
		} else {
			reportFallbacks(g, &res.StreamResult)
			if err == nil {
				fmt.Fprintf(g.stdout, "restored %s (%s of %s, started %s) from copy %d into %s: %d entries, %s, read %s from volumes\n",
					res.Object, res.Level, res.Source, res.Started.Local().Format(startedLayout), res.Copy, res.Target, res.Entries, humanBytes(res.Bytes), humanBytes(res.BytesRead))
				for _, p := range res.Chain {
					hash := "hash checked"
					switch {
					case p.Mode == "seek":
						hash = "record CRCs checked"
					case p.Hash == "":
						hash = "hash NOT checked: a range was lost"
					}
					fmt.Fprintf(g.stdout, "  %-12s %s  copy %d  %s  %d entries, read %s, %s\n", p.Level, p.Object, p.Copy, p.Mode, p.Entries, humanBytes(p.BytesRead), hash)
				}
				if res.Resumed > 0 {
					fmt.Fprintf(g.stdout, "  %d entries were already restored (--resume)\n", res.Resumed)
				}
				if res.Kept > 0 {
					fmt.Fprintf(g.stdout, "  %d entries existed in %s and were kept, not overwritten (%s)\n", res.Kept, res.Target, keptHint)
				}
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
	if res != nil && !g.json {
		reportLost(g, res)
	}
	if err != nil {
		return err
	}
	if len(res.LostEntries) > 0 || len(res.LostRanges) > 0 {
		return &exitError{ExitPartial, fmt.Errorf("restore completed without %d entries that no copy could give (%d damaged ranges); every other entry was restored", len(res.LostEntries), len(res.LostRanges))}
	}
	if len(res.Problems) > 0 || res.Refused > 0 {
		return &exitError{ExitPartial, fmt.Errorf("restore completed with %d problem(s)", len(res.Problems))}
	}
	return nil
}

func newCatCmd(g *globals) *cobra.Command {
	var copyN int
	var salvage bool
	cmd := &cobra.Command{
		Use:   "cat OBJECT [--copy N] [--salvage]",
		Short: "Write an object's pax tar stream to standard output",
		Long: `cat demultiplexes one object from its volumes and writes its data, a
POSIX pax tar stream, to standard output: daisy cat OBJECT | tar -tvf -
Every record CRC and the object's hash are checked; a damaged copy falls
back to another one, range by range. --salvage reads copies marked failed
too and writes zeros for a range no copy has (said on stderr, exit 3).

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
			so := jobs.StreamOptions{Copy: copyN, Logger: g.log, Salvage: salvage}
			if salvage {
				// In place of a lost range, as many zero bytes: the
				// offsets after it stay those the catalog lists.
				so.OnLost = func(r jobs.LostRange) error {
					fmt.Fprintf(g.stderr, "daisy: object %s: bytes %d to %d could not be read from any copy; written as zeros (%s)\n", obj.ID, r.From, r.To, r.Error)
					return writeZeros(g.stdout, r.To-r.From)
				}
			}
			res, err := jobs.Stream(cmd.Context(), cat, obj, g.stdout, so)
			if res != nil {
				reportFallbacks(g, res)
			}
			if err == nil && len(res.Lost) > 0 {
				return &exitError{ExitPartial, fmt.Errorf("object %s: %d ranges could not be read from any copy (zeros in their place); its hash was not checked", obj.ID, len(res.Lost))}
			}
			return err
		},
	}
	cmd.Flags().Var(copyNumber{&copyN}, "copy", "read only this copy")
	cmd.Flags().BoolVar(&salvage, "salvage", false, "read copies marked failed too, and write zeros for ranges no copy has (exit 3)")
	return cmd
}

// keptHint says what to do about entries a restore kept.
const keptHint = "--overwrite replaces them; --resume writes over those that differ from the backup in size or modification time"

// restoreOutcome fails a restore that returned without an error but did
// not restore what it was asked to: entries it could not write into the
// target (exit 1), or nothing restored because every entry already
// existed and was kept (exit 1, with the hint).
func restoreOutcome(res *jobs.RestoreResult) error {
	switch {
	case res.Failed > 0:
		first := ""
		if len(res.Problems) > 0 {
			first = ": " + res.Problems[0]
		}
		return &exitError{ExitFailure, fmt.Errorf("restore into %s failed: %d entries could not be written (%d restored)%s", res.Target, res.Failed, res.Entries, first)}
	case res.Entries == 0 && res.Kept > 0 && len(res.LostEntries) == 0 && len(res.LostRanges) == 0:
		return &exitError{ExitFailure, fmt.Errorf("nothing restored from %s into %s: its %d files exist there and were kept, not overwritten; %s", res.Object, res.Target, res.Kept, keptHint)}
	}
	return nil
}

// writeZeros writes n zero bytes to w.
func writeZeros(w io.Writer, n int64) error {
	_, err := io.CopyN(w, zeroReader{}, n)
	return err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// reportLost lists what a restore lost to damage.
func reportLost(g *globals, res *jobs.RestoreResult) {
	for _, r := range res.LostRanges {
		fmt.Fprintf(g.stderr, "daisy: object %s: bytes %d to %d could not be read from any copy: %s\n", r.Object, r.From, r.To, r.Error)
	}
	for i, e := range res.LostEntries {
		if i == 1000 {
			fmt.Fprintf(g.stderr, "daisy: … %d more lost entries (see --json)\n", len(res.LostEntries)-1000)
			break
		}
		fmt.Fprintf(g.stderr, "daisy: lost %s (object %s, offset %d)\n", e.Path, e.Object, e.Offset)
	}
}

// reportFallbacks tells which copies failed and which one took over.
func reportFallbacks(g *globals, res *jobs.StreamResult) {
	for i, a := range res.Attempts {
		if a.Error != "" && i+1 < len(res.Attempts) && res.Attempts[i+1].Copy != a.Copy {
			fmt.Fprintf(g.stderr, "daisy: copy %d could not be read (%s); fell back to copy %d at the same position\n", a.Copy, a.Error, res.Attempts[i+1].Copy)
		}
	}
}
