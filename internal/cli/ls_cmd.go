package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

func newLsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls objects|copies|volumes|pools|files|jobs|schedules",
		Short: "List what the catalog knows",
		Long: `ls lists objects, copies, volumes, pools, files or jobs from the catalog (no
volume is read), or the schedules of the configuration.

` + exitCodesHelp,
		Args: exactArgs(0),
	}
	var source string
	objects := &cobra.Command{
		Use: "objects [--source S]", Short: "List backed-up objects", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.lsObjects(cmd.Context(), source)
			}
			return g.withCatalog(cmd.Context(), func(cat *jobs.Catalog) error {
				objs, err := cat.Objects(cmd.Context(), jobs.ObjectFilter{Source: source})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(nonNil(objs))
				}
				tw := g.table("OBJECT\tSOURCE\tLEVEL\tSTARTED\tSIZE\tENTRIES\tSTATE\tCOPIES")
				for _, o := range objs {
					cps, err := cat.Copies(cmd.Context(), o.ID)
					if err != nil {
						return err
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, o.Source, o.Level, o.Started.Local().Format(startedLayout),
						humanBytes(o.Length), o.Files, o.State, copySummary(cps))
				}
				return tw.Flush()
			})
		},
	}
	objects.Flags().StringVar(&source, "source", "", "only objects of this source")

	copies := &cobra.Command{
		Use: "copies [OBJECT]", Short: "List copies and their state", Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.lsCopies(cmd.Context(), args)
			}
			return g.withCatalog(cmd.Context(), func(cat *jobs.Catalog) error {
				var cps []jobs.CopyInfo
				var err error
				if len(args) == 1 {
					o, ferr := jobs.FindObject(cmd.Context(), cat, args[0], "")
					if ferr != nil {
						return ferr
					}
					cps, err = cat.Copies(cmd.Context(), o.ID)
				} else {
					cps, err = cat.AllCopies(cmd.Context())
				}
				if err != nil {
					return err
				}
				return printCopies(g, cps)
			})
		},
	}

	var pool string
	volumes := &cobra.Command{
		Use: "volumes [--pool P]", Short: "List volumes", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.lsVolumes(cmd.Context(), pool)
			}
			cfg, cat, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			vols, err := cat.Volumes(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if _, ok := cfg.Pool(pool); pool != "" && !ok && len(vols) == 0 {
				// A pool taken out of the configuration still lists the
				// volumes the catalog has of it; a name neither knows is a
				// mistake, not an empty pool.
				var names []string
				for _, p := range cfg.Pools {
					names = append(names, p.Name)
				}
				return usageError("--pool %q: no such pool in %s; the configured pools are: %s", pool, cfg.File, strings.Join(names, ", "))
			}
			if g.json {
				return g.printJSON(nonNil(vols))
			}
			tw := g.table("LABEL\tPOOL\tSTATE\tBLOCKS\tSIZE\tFILL\tPATH")
			for _, v := range vols {
				fill := "-"
				if v.Capacity > 0 {
					fill = fmt.Sprintf("%.0f%%", 100*float64(v.Bytes)/float64(v.Capacity))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", v.Label, v.Pool, v.State, v.Blocks, humanBytes(v.Bytes), fill, v.Path)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			tots, err := cat.PoolsTotals(cmd.Context(), pool)
			if err != nil {
				return err
			}
			for _, t := range tots {
				fmt.Fprintf(g.stdout, "total %s: %d volume(s) (%s), %s used, %s live, %s recyclable\n",
					t.Pool, t.Volumes, stateCounts(t.States), humanBytes(t.Used), humanBytes(t.Live), humanBytes(t.Recyclable))
			}
			return nil
		},
	}
	volumes.Flags().StringVar(&pool, "pool", "", "only volumes of this pool")

	poolsCmd := &cobra.Command{
		Use: "pools", Short: "List pools with their totals: used, live and recyclable bytes, volumes per state",
		Long: `ls pools lists the configured pools, and those the catalog still has
volumes of, with their totals from the catalog: USED is the bytes their
volumes hold, LIVE the bytes of good copies on them, RECYCLABLE the bytes
held by recyclable volumes (kept until they are relabelled, or given back
by daisy prune --reclaim), and the number of volumes in each state.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.lsPools(cmd.Context())
			}
			cfg, cat, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			tots, err := cat.PoolsTotals(cmd.Context(), "")
			if err != nil {
				return err
			}
			rows := poolRows(cfg.Pools, tots)
			if g.json {
				return g.printJSON(rows)
			}
			tw := g.table("POOL\tTYPE\tVOLUMES\tUSED\tLIVE\tRECYCLABLE\tSTATES\tDIRECTORY")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Pool, r.Type, r.Volumes, humanBytes(r.Used), humanBytes(r.Live),
					humanBytes(r.Recyclable), stateCounts(r.States), r.Directory)
			}
			return tw.Flush()
		},
	}

	var fileSource, fileObject, fileAt string
	var recursive bool
	files := &cobra.Command{
		Use:   "files (--source S [--at TIME] | --object ID) [PATH]",
		Short: "List a directory of a backup as it was (the top of the tree without PATH)",
		Long: `files lists, from the catalog alone, the direct entries of directory PATH
in an object, with modes, owners, sizes and modification times; without
PATH it lists the top of the object's tree (the source's paths). With -R
it lists PATH and everything below it (without PATH: the whole object).

The object is --object ID, or the latest complete backup of --source S, or
with --at TIME the latest complete backup of S that started not after TIME.
TIME is ` + atHelp + `. A time
covers the whole of its last field (a date its day, a time to the second
that second), so the STARTED column of ls objects selects that backup.
Which backup --at chose is said on stderr.

` + exitCodesHelp,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if fileAt != "" && fileObject != "" {
				return usageError("--at picks an object of --source; it does not go with --object")
			}
			return g.withCatalog(ctx, func(cat *jobs.Catalog) error {
				var o jobs.Object
				var err error
				if fileAt != "" {
					if o, err = resolveAt(ctx, cat, "--at", fileSource, fileAt); err != nil {
						return err
					}
					// Which backup --at chose, beside the listing (on
					// stderr, so that the table and the JSON stay as
					// they are).
					fmt.Fprintf(g.stderr, "daisy: --at %s: %s\n", fileAt, chosen(o))
				} else {
					o, err = jobs.FindObject(ctx, cat, fileObject, fileSource)
				}
				if err != nil {
					return err
				}
				// Paths in a backup are absolute: a relative PATH is taken
				// from the current directory, as ls would.
				if len(args) == 1 && !filepath.IsAbs(args[0]) {
					abs, err := filepath.Abs(args[0])
					if err != nil {
						return err
					}
					args = []string{abs}
				}
				// An incremental or differential holds only what changed:
				// the tree is read through its restore chain.
				chain, err := cat.Chain(ctx, o)
				if err != nil {
					return err
				}
				if recursive {
					dir := ""
					if len(args) == 1 {
						dir = args[0]
					}
					return g.printFiles(func(fn func(jobs.File) error) error {
						return cat.WalkTree(ctx, chain, dir, fn)
					})
				}
				var fl []jobs.File
				switch {
				case len(args) == 0:
					fl, err = cat.TreeRoots(ctx, chain)
				default:
					fl, err = listDir(ctx, cat, chain, args[0])
				}
				if err != nil {
					return err
				}
				return g.printFiles(func(fn func(jobs.File) error) error {
					for _, f := range fl {
						if err := fn(f); err != nil {
							return err
						}
					}
					return nil
				})
			})
		},
	}
	files.Flags().StringVar(&fileSource, "source", "", "the latest complete object of this source")
	files.Flags().StringVar(&fileAt, "at", "", "the latest complete object of --source started within this time (as ls objects shows it, a date, a duration ago like 3d), or an object ID")
	files.Flags().StringVar(&fileObject, "object", "", "this object (ID or unique prefix)")
	files.Flags().BoolVarP(&recursive, "recursive", "R", false, "list everything below PATH (the whole object without PATH)")

	var limit int
	jobsCmd := &cobra.Command{
		Use: "jobs [--limit N]", Short: "List jobs, newest first",
		Long: `ls jobs lists jobs, newest first, with their state: running, success,
partial (a copy failed, every object has a good one), failed, or
interrupted (stopped by SIGINT or SIGTERM, or its process is gone: killed,
crashed, power lost; found by the next command, which also fails the
copies it left unfinished). WARNINGS counts what a backup could not read
(a job "success" with warnings exited 3).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.lsJobs(cmd.Context(), limit)
			}
			return g.withCatalog(cmd.Context(), func(cat *jobs.Catalog) error {
				js, err := cat.Jobs(cmd.Context(), limit)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(nonNil(js))
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
			})
		},
	}
	jobsCmd.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	cmd.AddCommand(objects, copies, volumes, poolsCmd, files, jobsCmd, newLsSchedulesCmd(g))
	kindsOnly(cmd)
	return cmd
}

// kindsOnly makes cmd, a command that only groups subcommands, print its
// help when given none and refuse an unknown one as a usage error naming
// the valid ones (cobra would print the help and exit 0).
func kindsOnly(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		var kinds []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				kinds = append(kinds, sub.Name())
			}
		}
		return usageError("%s: unknown kind %q: use %s (see %s --help)", c.CommandPath(), args[0], strings.Join(kinds, ", "), c.CommandPath())
	}
}

// listDir lists the entries of directory dir of object o. A dir that the
// object neither holds nor has entries below is an error, not an empty
// listing.
func listDir(ctx context.Context, cat *jobs.Catalog, chain []jobs.Object, dir string) ([]jobs.File, error) {
	o := chain[len(chain)-1]
	fl, err := cat.TreeChildren(ctx, chain, dir)
	if err != nil || len(fl) > 0 {
		return fl, err
	}
	p := strings.TrimRight(dir, "/")
	if p == "" {
		p = "/"
	}
	f, err := cat.TreeFile(ctx, chain, p)
	if err == nil {
		if f.Type != '5' {
			return []jobs.File{f}, nil // a file lists itself, as ls does
		}
		return fl, nil // an empty directory
	}
	if !errors.Is(err, jobs.ErrNotFound) {
		return nil, err
	}
	return nil, fmt.Errorf("%s is not in object %s of %s (%s); daisy ls files without a path lists the top of the tree",
		dir, o.ID, o.Source, o.Started.Local().Format(startedLayout))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (g *globals) withCatalog(ctx context.Context, f func(*jobs.Catalog) error) error {
	_, cat, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	return f(cat)
}

// filesTableRows is how many rows of a file listing are aligned together:
// the table is written out in blocks, so that listing a whole object (-R)
// does not hold it in memory.
const filesTableRows = 4096

// printFiles writes the files that each calls fn with, as they come: a
// JSON array or a table.
func (g *globals) printFiles(each func(fn func(jobs.File) error) error) error {
	if g.json {
		n := 0
		err := each(func(f jobs.File) error {
			b, err := json.MarshalIndent(f, "  ", "  ")
			if err != nil {
				return err
			}
			sep := ",\n  "
			if n == 0 {
				sep = "[\n  "
			}
			n++
			_, err = fmt.Fprintf(g.stdout, "%s%s", sep, b)
			return err
		})
		if err != nil {
			return err
		}
		if n == 0 {
			_, err = io.WriteString(g.stdout, "[]\n")
		} else {
			_, err = io.WriteString(g.stdout, "\n]\n")
		}
		return err
	}
	tw := g.table("MODE\tUID\tGID\tSIZE\tMODIFIED\tPATH")
	n := 0
	err := each(func(f jobs.File) error {
		name := f.Path
		if f.Link != "" {
			name += " -> " + f.Link
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", modeString(f.Type, f.Mode), f.UID, f.GID, f.Size, f.MTime.Local().Format(time.DateTime), name)
		if n++; n%filesTableRows == 0 {
			return tw.Flush()
		}
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (g *globals) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func copySummary(cps []jobs.CopyInfo) string {
	var parts []string
	for _, c := range cps {
		parts = append(parts, fmt.Sprintf("%d:%s", c.Number, c.State))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func modeString(typ byte, mode int64) string {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch typ {
	case '5':
		m |= fs.ModeDir
	case '2':
		m |= fs.ModeSymlink
	case '3':
		m |= fs.ModeCharDevice | fs.ModeDevice
	case '4':
		m |= fs.ModeDevice
	case '6':
		m |= fs.ModeNamedPipe
	}
	return m.String()
}

// poolRow is a line of ls pools: a pool's totals with its configuration
// (Type and Directory are empty for a pool the configuration no longer
// has).
type poolRow struct {
	jobs.PoolTotals
	Type      string `json:"type"`
	Directory string `json:"directory"`
}

// poolRows joins the configured pools (in their order, with zero totals
// when they have no volume yet) and the totals of pools the catalog has
// volumes of but the configuration no longer names.
func poolRows(cfgPools []config.Pool, tots []jobs.PoolTotals) []poolRow {
	byName := map[string]jobs.PoolTotals{}
	for _, t := range tots {
		byName[t.Pool] = t
	}
	rows := []poolRow{}
	for _, p := range cfgPools {
		t, ok := byName[p.Name]
		if !ok {
			t = jobs.PoolTotals{Pool: p.Name, States: map[string]int{}, StateBytes: map[string]int64{}}
		}
		delete(byName, p.Name)
		rows = append(rows, poolRow{PoolTotals: t, Type: p.Type, Directory: p.Directory})
	}
	for _, t := range tots {
		if _, ok := byName[t.Pool]; ok {
			rows = append(rows, poolRow{PoolTotals: t})
		}
	}
	return rows
}

// stateCounts formats volumes per state, in the order of their life:
// "2 full, 1 recyclable" ("-" for none).
func stateCounts(states map[string]int) string {
	var parts []string
	for _, st := range []string{jobs.VolumeBlank, jobs.VolumeAppendable, jobs.VolumeFull, jobs.VolumeRecyclable, jobs.VolumeRetired} {
		if n := states[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// printCopies prints ls copies' table (or JSON).
func printCopies(g *globals, cps []jobs.CopyInfo) error {
	if g.json {
		return g.printJSON(nonNil(cps))
	}
	tw := g.table("OBJECT\tCOPY\tROLE\tLEVEL\tMEDIA AGENT\tDEVICE\tPOOL\tSTATE\tERROR")
	for _, c := range cps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.ObjectID, c.Number, c.Role, c.Level, c.MediaAgent, c.Device, c.Pool, c.State, c.Error)
	}
	return tw.Flush()
}
