package cli

import (
	"daisy/internal/jobs"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/spf13/cobra"
)

// newFindCmd is `daisy find PATTERN`: a search of the files of every
// complete object, from the catalog alone (Catalog.Find). A path pattern
// with a literal prefix reads only that key range of each object; a
// base-name pattern, or a path pattern that starts with a wildcard, scans
// each object's files (no base-name index) and stops after --limit matches.
func newFindCmd(g *globals) *cobra.Command {
	var source string
	var limit int
	cmd := &cobra.Command{
		Use:   "find PATTERN [--source S] [--limit N]",
		Short: "Search the files of all backups by name or path pattern",
		Long: `find searches the catalog (no volume is read) for files of every complete
backup, or of one source's backups with --source, and prints the object,
source, backup time, path, size and modification time of each match,
oldest backup first.

PATTERN is a shell pattern (* ? [a-z], \ quotes). Without a "/" it matches
base names: '*.conf'. With a "/" it matches whole paths, and * does not
cross a "/": '/etc/*.conf'; without a leading "/" it matches the path
without its leading "/" too ('etc/*.conf'). Quote the pattern so that the
shell does not expand it.

A path pattern that starts with a literal directory ('/etc/...') reads only
that part of the catalog's index. A base-name pattern has no index to use:
it reads every file entry of every backup (about 0.35 s per million entries
on a small machine) and stops after --limit matches (0: no limit); a note
on stderr says when the limit cut the search short.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pattern := args[0]
			if _, err := path.Match(pattern, ""); err != nil || pattern == "" {
				return usageError("find: bad pattern %q: use * ? [a-z] and \\ quoting, e.g. '*.conf' or '/etc/*.conf'", pattern)
			}
			if limit < 0 {
				return usageError("find: --limit %d: give 0 (no limit) or more", limit)
			}
			return g.withCatalog(cmd.Context(), func(cat *jobs.Catalog) error {
				found, more, err := cat.Find(cmd.Context(), jobs.FindQuery{Pattern: pattern, Source: source, Limit: limit})
				if errors.Is(err, path.ErrBadPattern) {
					return usageError("find: bad pattern %q: %v", pattern, err)
				}
				if err != nil {
					return err
				}
				if more {
					fmt.Fprintf(g.stderr, "daisy: find: stopped after %d matches (--limit); there are more\n", limit)
				}
				if g.json {
					return g.printJSON(nonNil(found))
				}
				tw := g.table("OBJECT\tSOURCE\tBACKUP\tMODE\tSIZE\tMODIFIED\tPATH")
				for _, f := range found {
					name := f.Path
					if f.Link != "" {
						name += " -> " + f.Link
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", f.ObjectID, f.Source, f.Started.Local().Format(startedLayout),
						modeString(f.Type, f.Mode), f.Size, f.MTime.Local().Format(time.DateTime), name)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only the backups of this source")
	cmd.Flags().IntVar(&limit, "limit", 1000, "stop after this many matches (0: no limit)")
	return cmd
}
