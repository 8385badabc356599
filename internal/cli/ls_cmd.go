package cli

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
)

func newLsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls objects|copies|volumes|files|jobs",
		Short: "List what the catalog knows",
		Long: `ls lists objects, copies, volumes, files or jobs from the catalog (no
volume is read).

` + exitCodesHelp,
		Args: exactArgs(0),
	}
	var source string
	objects := &cobra.Command{
		Use: "objects [--source S]", Short: "List backed-up objects", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withCatalog(cmd.Context(), func(cat *catalog.Catalog) error {
				objs, err := cat.Objects(cmd.Context(), catalog.ObjectFilter{Source: source})
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
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, o.Source, o.Level, o.Started.Local().Format(time.DateTime),
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
			return g.withCatalog(cmd.Context(), func(cat *catalog.Catalog) error {
				var cps []catalog.Copy
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
				if g.json {
					return g.printJSON(nonNil(cps))
				}
				tw := g.table("OBJECT\tCOPY\tROLE\tLEVEL\tMEDIA AGENT\tDEVICE\tPOOL\tSTATE\tERROR")
				for _, c := range cps {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.ObjectID, c.Number, c.Role, c.Level, c.MediaAgent, c.Device, c.Pool, c.State, c.Error)
				}
				return tw.Flush()
			})
		},
	}

	var pool string
	volumes := &cobra.Command{
		Use: "volumes [--pool P]", Short: "List volumes", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withCatalog(cmd.Context(), func(cat *catalog.Catalog) error {
				vols, err := cat.Volumes(cmd.Context(), pool)
				if err != nil {
					return err
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
				return tw.Flush()
			})
		},
	}
	volumes.Flags().StringVar(&pool, "pool", "", "only volumes of this pool")

	var fileSource, fileObject string
	files := &cobra.Command{
		Use: "files (--source S | --object ID) [DIR]", Short: "List the files of an object (a directory's entries with DIR)", Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withCatalog(cmd.Context(), func(cat *catalog.Catalog) error {
				o, err := jobs.FindObject(cmd.Context(), cat, fileObject, fileSource)
				if err != nil {
					return err
				}
				dir := ""
				if len(args) == 1 {
					dir = args[0]
				}
				fl, err := cat.Files(cmd.Context(), o.ID, dir)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(nonNil(fl))
				}
				tw := g.table("MODE\tUID\tGID\tSIZE\tMODIFIED\tPATH")
				for _, f := range fl {
					name := f.Path
					if f.Link != "" {
						name += " -> " + f.Link
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", modeString(f.Type, f.Mode), f.UID, f.GID, f.Size, f.MTime.Local().Format(time.DateTime), name)
				}
				return tw.Flush()
			})
		},
	}
	files.Flags().StringVar(&fileSource, "source", "", "the latest complete object of this source")
	files.Flags().StringVar(&fileObject, "object", "", "this object (ID or unique prefix)")

	var limit int
	jobsCmd := &cobra.Command{
		Use: "jobs [--limit N]", Short: "List jobs, newest first", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withCatalog(cmd.Context(), func(cat *catalog.Catalog) error {
				js, err := cat.Jobs(cmd.Context(), limit)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(nonNil(js))
				}
				tw := g.table("JOB\tKIND\tSTATE\tSTARTED\tDURATION\tSIZE\tFILES\tERROR")
				for _, j := range js {
					dur := "-"
					if !j.Finished.IsZero() {
						dur = j.Finished.Sub(j.Started).Round(time.Millisecond).String()
					}
					msg, _, _ := strings.Cut(j.Error, "\n")
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", j.ID, j.Kind, j.State, j.Started.Local().Format(time.DateTime), dur, humanBytes(j.Bytes), j.Files, msg)
				}
				return tw.Flush()
			})
		},
	}
	jobsCmd.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	cmd.AddCommand(objects, copies, volumes, files, jobsCmd)
	return cmd
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (g *globals) withCatalog(ctx context.Context, f func(*catalog.Catalog) error) error {
	_, cat, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	return f(cat)
}

func (g *globals) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func copySummary(cps []catalog.Copy) string {
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
