package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

// selectFlags are the object selection flags of the copy job types.
type selectFlags struct {
	objects                     []string
	source, client              string
	since, until                string
	fromPool, volume, notInPool string
	all                         bool
}

func (s *selectFlags) add(f *pflag.FlagSet) {
	f.StringArrayVar(&s.objects, "object", nil, "this object (ID or unique prefix; repeatable)")
	f.StringVar(&s.source, "source", "", "objects of this source")
	f.StringVar(&s.client, "client", "", "objects of this client")
	f.StringVar(&s.since, "since", "", "objects backed up since: "+whenHelp)
	f.StringVar(&s.until, "until", "", "objects backed up until, inclusive (same forms as --since)")
	f.StringVar(&s.fromPool, "from-pool", "", "objects with a good copy in this pool (read from it)")
	f.StringVar(&s.volume, "volume", "", "objects with a good copy on this volume (read from it)")
	f.StringVar(&s.notInPool, "not-in-pool", "", "only objects with no good copy in this pool yet")
	f.BoolVar(&s.all, "all", false, "every complete object")
}

func (s *selectFlags) resolve() (jobs.CopySelect, error) {
	sel := jobs.CopySelect{Objects: s.objects, Source: s.source, Client: s.client, FromPool: s.fromPool, Volume: s.volume, NotInPool: s.notInPool, All: s.all}
	var err error
	if sel.Since, err = parseWhen("--since", s.since, false); err != nil {
		return sel, err
	}
	if sel.Until, err = parseWhen("--until", s.until, true); err != nil {
		return sel, err
	}
	return sel, nil
}

// parseWhen reads a bound of --since or --until in the forms --at takes
// for a time (see at.go): as ls objects shows a start, RFC 3339, a date,
// a duration ago. A time covers the whole of its last field: --since
// takes its first instant, --until its last, so that both bounds include
// what they name (--since 2026-11-01 --until 2026-11-01 is that day; the
// STARTED column of ls objects selects that backup).
func parseWhen(flag, s string, until bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	first, last, isTime, err := parseAtSpan(s)
	switch {
	case err != nil:
		return time.Time{}, usageError("%s %q: %v", flag, s, err)
	case isTime && until:
		return last, nil
	case isTime:
		return first, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usageError("%s %q: give %s", flag, s, whenHelp)
}

// whenHelp says what --since and --until take.
const whenHelp = "a time as ls objects shows it (2026-11-01 08:00:00.250, local time, or with a zone: 2026-11-01T08:00:00+01:00), a date (2026-11-01) or a duration ago (7d, 12h)"

// copyCommand builds a copy job type's command around run.
func copyCommand(g *globals, use, short, long string, args cobra.PositionalArgs, run func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, args []string, o jobs.CopyOptions) (*jobs.CopyResult, error)) *cobra.Command {
	var (
		dry  bool
		wait waitFlag
	)
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long + "\n\n" + exitCodesHelp, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			locks, err := wait.locks(g)
			if err != nil {
				return err
			}
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.copy(cmd, a, dry, wait.d)
			}
			cfg, cat, err := g.openJob(cmd.Context())
			if err != nil {
				return err
			}
			defer cat.Close()
			limitMemory(cfg)
			onProgress, stopProgress := jobProgress(g, cmd.Name())
			res, err := run(cmd.Context(), cfg, cat, a, jobs.CopyOptions{DryRun: dry, Logger: g.log, Locks: locks, Progress: onProgress})
			stopProgress()
			if res == nil {
				return wait.busyHint(err)
			}
			return finishCopy(g, res, err)
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "print what would be copied; change nothing")
	wait.add(cmd.Flags())
	return cmd
}

// finishCopy prints a copy job's result and returns the error its exit
// code comes from; err is the error the job returned with res.
func finishCopy(g *globals, res *jobs.CopyResult, err error) error {
	if g.json {
		if perr := g.printJSON(res); perr != nil && err == nil {
			err = perr
		}
	} else {
		printCopy(g, res)
	}
	if err != nil {
		return err
	}
	switch res.State {
	case jobs.JobPartial:
		return &exitError{ExitPartial, fmt.Errorf("%s job %d completed, but some new copies failed", res.Kind, res.Job)}
	case jobs.JobFailed:
		return fmt.Errorf("%s job %d failed", res.Kind, res.Job)
	}
	return nil
}

func printCopy(g *globals, res *jobs.CopyResult) {
	w := g.stdout
	switch {
	case res.DryRun:
		fmt.Fprintf(w, "%s (dry run): would copy %d object(s)\n", res.Kind, len(res.Objects))
	case res.NothingToDo != "":
		// No job ran (jobs records none when nothing is selected).
		fmt.Fprintf(w, "%s: nothing to do: %s\n", res.Kind, res.NothingToDo)
	default:
		d := res.Finished.Sub(res.Started)
		fmt.Fprintf(w, "%s job %d: %s, %d object(s), %s copied, %s read from volumes in %s\n", res.Kind, res.Job, res.State,
			len(res.Objects), humanBytes(res.Bytes), humanBytes(res.BytesRead), d.Round(time.Millisecond))
	}
	for _, o := range res.Objects {
		nums := make([]string, len(o.NewCopies))
		for i, n := range o.NewCopies {
			nums[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(w, "  %-10s %s  %s  from copy %d (pool %s) → new cop%s %s\n", o.Source, o.Object, humanBytes(o.Bytes), o.FromCopy, o.FromPool,
			map[bool]string{true: "y", false: "ies"}[len(nums) == 1], strings.Join(nums, ", "))
		if o.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", o.Error)
		}
		for _, c := range o.Copies {
			fmt.Fprintf(w, "      copy %d  %-8s %s on %s, pool %s, volumes %s\n", c.Number, c.State, c.MediaAgent, c.Device, c.Pool, strings.Join(c.Volumes, ","))
			if c.Error != "" {
				fmt.Fprintf(w, "              %s\n", c.Error)
			}
		}
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "  skipped: %s\n", s)
	}
	for _, d := range res.Dropped {
		fmt.Fprintf(w, "  dropped copy %d of %s (pool %s) from the catalog\n", d.Copy, d.Object, d.Pool)
	}
	for _, v := range res.Volumes {
		fmt.Fprintf(w, "  volume %s: %s → %s\n", v.Label, v.From, v.To)
	}
}

func newCopyCmds(g *globals) []*cobra.Command {
	var (
		sel     selectFlags
		jobName string
		target  jobs.Target
	)
	cp := copyCommand(g, "copy (--job NAME | --to-pool P SELECTION)", "Copy objects from their volumes onto new volumes in one read pass",
		`copy reads existing copies back through restore media agents and writes
new copies through the media agents of copy stages, one read pass for all
of them. --job runs a copy job of the configuration (restore group and copy
groups, as in the patent's figure 5); otherwise the selection flags choose
objects and --to-pool where their new copy goes.`, exactArgs(0),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, _ []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			if jobName != "" {
				return jobs.CopyJob(ctx, cfg, cat, jobName, o)
			}
			if target.Pool == "" {
				return nil, usageError("copy needs --job NAME, or --to-pool P with a selection")
			}
			s, err := sel.resolve()
			if err != nil {
				return nil, err
			}
			return jobs.Copy(ctx, cfg, cat, s, target, o)
		})
	cp.Flags().StringVar(&jobName, "job", "", "run this copy job of the configuration")
	cp.Flags().StringVar(&target.Pool, "to-pool", "", "pool of the new copies")
	cp.Flags().StringVar(&target.Device, "device", "", "configured device to write with (default: a virtual tape drive)")
	sel.add(cp.Flags())

	var msel selectFlags
	var mtarget jobs.Target
	mig := copyCommand(g, "migrate --to-pool P SELECTION", "Move objects to another pool, then drop their old copies",
		`migrate copies the selected objects into --to-pool, then drops from the
catalog the copies it read (with --from-pool: every good copy in that pool);
volumes left without a live copy become recyclable.`, exactArgs(0),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, _ []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			if mtarget.Pool == "" {
				return nil, usageError("migrate needs --to-pool P")
			}
			s, err := msel.resolve()
			if err != nil {
				return nil, err
			}
			return jobs.Migrate(ctx, cfg, cat, s, mtarget, o)
		})
	mig.Flags().StringVar(&mtarget.Pool, "to-pool", "", "pool the objects move to")
	mig.Flags().StringVar(&mtarget.Device, "device", "", "configured device to write with")
	msel.add(mig.Flags())

	var cpool, cdev, threshold string
	compact := copyCommand(g, "compact --pool P [--threshold 50%]", "Copy the live objects of sparsely used volumes onto fewer volumes",
		`compact finds the volumes of a pool whose live copies fill less than
--threshold of their capacity, copies those objects onto new volumes, and
marks the old volumes recyclable.`, exactArgs(0),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, _ []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			if cpool == "" {
				return nil, usageError("compact needs --pool P")
			}
			t, err := strconv.ParseFloat(strings.TrimSuffix(threshold, "%"), 64)
			if err != nil || t <= 0 || t > 100 {
				return nil, usageError("--threshold %q: give a fill between 0 and 100%%", threshold)
			}
			return jobs.Compact(ctx, cfg, cat, cpool, t/100, cdev, o)
		})
	compact.Flags().StringVar(&cpool, "pool", "", "pool to compact")
	compact.Flags().StringVar(&threshold, "threshold", "50%", "volumes whose live data fill less than this are compacted")
	compact.Flags().StringVar(&cdev, "device", "", "configured device to write with")

	var rdev string
	refresh := copyCommand(g, "refresh VOLUME", "Copy everything live on a volume onto a new volume; retire the old one",
		`refresh copies every live copy on a volume onto a new volume of the same
pool (for media that age), then retires the old volume.`, exactArgs(1),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, a []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			return jobs.Refresh(ctx, cfg, cat, a[0], rdev, o)
		})
	refresh.Flags().StringVar(&rdev, "device", "", "configured device to write with")

	var ddev string
	demux := copyCommand(g, "demux VOLUME", "Rewrite an interleaved volume so each object is one contiguous extent",
		`demux copies the objects of a multiplexed volume onto a new volume one
after the other, so that each is one contiguous extent and restoring one
reads nothing else; the old volume becomes recyclable.`, exactArgs(1),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, a []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			return jobs.Demux(ctx, cfg, cat, a[0], ddev, o)
		})
	demux.Flags().StringVar(&ddev, "device", "", "configured device to write with")

	var csource string
	var ctarget jobs.Target
	consolidate := copyCommand(g, "consolidate --source S [--to-pool P]", "Put a source's restore chain together on one new volume",
		`consolidate copies a source's latest full backup and every backup after
it, in order, onto a new volume, so that restoring the latest state reads
one volume.`, exactArgs(0),
		func(ctx context.Context, cfg *config.Config, cat *jobs.Catalog, _ []string, o jobs.CopyOptions) (*jobs.CopyResult, error) {
			if csource == "" {
				return nil, usageError("consolidate needs --source S")
			}
			return jobs.Consolidate(ctx, cfg, cat, csource, ctarget, o)
		})
	consolidate.Flags().StringVar(&csource, "source", "", "source whose restore chain is consolidated")
	consolidate.Flags().StringVar(&ctarget.Pool, "to-pool", "", "pool of the new volume (default: the pool of the full backup's first good copy)")
	consolidate.Flags().StringVar(&ctarget.Device, "device", "", "configured device to write with")

	return []*cobra.Command{cp, mig, compact, refresh, demux, consolidate}
}
