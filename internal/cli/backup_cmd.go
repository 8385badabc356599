package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/api"
	"daisy/internal/config"
	"daisy/internal/jobs"
)

func newBackupCmd(g *globals) *cobra.Command {
	var (
		sources []string
		level   string
		wait    waitFlag
	)
	cmd := &cobra.Command{
		Use:   "backup [--source S]...",
		Short: "Back up sources: one pass writes every copy their chains ask for",
		Long: `backup reads each selected source once (all sources in the backup group
by default) and writes the primary copy and every mirror copy of it in the
same pass. A device that fails marks its copies failed; the other copies
complete.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if level == "" {
				// jobs takes an empty level as a full: given explicitly
				// it is a mistake, not a request for one.
				return usageError("--level is empty: give full, incremental or differential")
			}
			locks, err := wait.locks(g)
			if err != nil {
				return err
			}
			if rc, err := g.remote(); err != nil {
				return err
			} else if rc != nil {
				return rc.backup(cmd.Context(), api.JobRequest{Kind: api.KindBackup, Sources: sources, Level: level, WaitSeconds: waitSeconds(wait.d)})
			}
			return wait.busyHint(runBackup(cmd.Context(), g, jobs.BackupOptions{Sources: sources, Level: level, Locks: locks}))
		},
	}
	wait.add(cmd.Flags())
	cmd.Flags().StringArrayVar(&sources, "source", nil, "back up only this source (repeatable)")
	cmd.Flags().StringVar(&level, "level", "full", "backup level: full, incremental (changes since the last backup) or differential (since the last full)")
	return cmd
}

func runBackup(ctx context.Context, g *globals, o jobs.BackupOptions) error {
	cfg, cat, err := g.openJob(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	o.Logger = g.log
	limitMemory(cfg)
	var stopProgress func()
	if g.interactive() {
		o.Monitor = func(m *jobs.Monitor) { stopProgress = showProgress(g, m) }
	}
	start := time.Now()
	res, err := jobs.Backup(ctx, cfg, cat, o)
	if stopProgress != nil {
		stopProgress()
	}
	if res == nil {
		return err
	}
	res.PeakRSS = peakRSS()
	return finishBackup(g, res, err, time.Since(start))
}

// finishBackup prints a backup's result (JSON, or text with d, the time
// it took) and returns the error its exit code comes from; err is the
// error the job returned with res.
func finishBackup(g *globals, res *jobs.BackupResult, err error, d time.Duration) error {
	if g.json {
		if perr := g.printJSON(res); perr != nil && err == nil {
			err = perr
		}
	} else {
		printBackup(g, res, d)
	}
	if err != nil {
		return err
	}
	switch res.State {
	case jobs.JobPartial:
		return &exitError{ExitPartial, fmt.Errorf("backup job %d completed, but %s%s", res.Job, failedCopies(res), unreadNote(res))}
	case jobs.JobFailed:
		return fmt.Errorf("backup job %d failed: %s%s", res.Job, failedCopies(res), unreadNote(res))
	}
	if res.Warnings > 0 {
		return &exitError{ExitPartial, fmt.Errorf("backup job %d completed with warnings:%s", res.Job, strings.TrimPrefix(unreadNote(res), ";"))}
	}
	return nil
}

// memorySlack is what a backup may use beyond its buffers in the Go heap:
// the runtime, the catalog's batches, one block per media agent and the
// agents' read buffers. The catalog's SQLite page cache (64 MiB at most,
// see catalog's writerParams) is outside the Go heap and comes on top.
const memorySlack = 64 << 20

// limitMemory tells the Go runtime to keep the heap within the configured
// buffer sizes, the parts s3 media hold (config.DeviceMemory) and
// memorySlack, so that garbage collection, not the
// kernel, bounds memory whatever the size of the data. GOMEMLIMIT, when
// set, wins.
func limitMemory(cfg *config.Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	var sum int64
	for _, ma := range cfg.MediaAgents() {
		for _, b := range ma.Buffers {
			sum += b.Size
		}
	}
	debug.SetMemoryLimit(sum + cfg.DeviceMemory() + memorySlack)
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM in
// /proc/self/status), or 0 where that is not available. Unlike the
// rusage of a child, VmHWM starts afresh at exec, so it is the backup's own.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil {
				return kib << 10
			}
		}
	}
	return 0
}

// unreadNote says, after "; ", how many paths each source could not read,
// or is "" when every one was read.
func unreadNote(res *jobs.BackupResult) string {
	var parts []string
	for _, o := range res.Objects {
		if o.Unread > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d path(s) could not be read", o.Source, o.Unread))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func failedCopies(res *jobs.BackupResult) string {
	var parts []string
	for _, o := range res.Objects {
		if o.State != jobs.ObjectComplete {
			parts = append(parts, fmt.Sprintf("%s has no good copy", o.Source))
			continue
		}
		for _, c := range o.Copies {
			if c.State != jobs.CopyGood {
				parts = append(parts, fmt.Sprintf("%s copy %d failed", o.Source, c.Number))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func printBackup(g *globals, res *jobs.BackupResult, d time.Duration) {
	w := g.stdout
	rate := float64(res.Bytes) / d.Seconds() / 1e6
	state := res.State
	if res.Warnings > 0 {
		state += fmt.Sprintf(" with %d warning(s)", res.Warnings)
	}
	fmt.Fprintf(w, "backup job %d: %s, %d object(s), %s in %s (%.0f MB/s)\n", res.Job, state, len(res.Objects), humanBytes(res.Bytes), d.Round(time.Millisecond), rate)
	if len(res.Excluded) > 0 {
		fmt.Fprintf(w, "  left out daisy's own state: %s\n", strings.Join(res.Excluded, ", "))
	}
	for _, o := range res.Objects {
		fmt.Fprintf(w, "  %-10s %s  %s  %s  %d entries  %s\n", o.Source, o.Object, o.Level, humanBytes(o.Bytes), o.Files, o.State)
		if o.Stored > 0 {
			fmt.Fprintf(w, "      compressed to %s (%.0f %%)\n", humanBytes(o.Stored), 100*float64(o.Stored)/float64(max(o.Bytes, 1)))
		}
		if o.Base != "" {
			fmt.Fprintf(w, "      based on %s: %d unchanged left out, %d deleted\n", o.Base, o.Unchanged, o.Deleted)
		}
		if o.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", o.Error)
		}
		for _, c := range o.Copies {
			fmt.Fprintf(w, "      copy %d  %-8s %s on %s, pool %s, volumes %s\n", c.Number, c.State, c.MediaAgent, c.Device, c.Pool, strings.Join(c.Volumes, ","))
			if c.Error != "" {
				fmt.Fprintf(w, "              %s\n", c.Error)
			}
		}
		for i, warn := range o.Warnings {
			if i == 5 {
				fmt.Fprintf(w, "      … %d more warnings (see --json)\n", len(o.Warnings)-5)
				break
			}
			fmt.Fprintf(w, "      warning: %s\n", warn)
		}
	}
}

// showProgress draws one line per source (bytes and entries read) and
// per media agent (bytes written) on the terminal on stderr, fitted to
// its width as the other jobs' progress lines are, until the returned
// stop function is called.
func showProgress(g *globals, m *jobs.Monitor) func() {
	f := g.stderr.(*os.File)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	lines := backupLines(m)
	wg.Go(func() { drawCounters(f, termWidth(f), lines, progressRefresh, stop) })
	return func() {
		close(stop)
		wg.Wait()
	}
}

// backupLines are the progress lines of a backup: "read" per source,
// "write" per media agent with its device.
func backupLines(m *jobs.Monitor) []counterLine {
	var lines []counterLine
	for _, s := range m.Sources {
		lines = append(lines, counterLine{"read  " + s.Name, s.Bytes.Load, s.Files.Load, s.Done.Load})
	}
	for _, a := range m.Agents {
		lines = append(lines, counterLine{fmt.Sprintf("write %s→%s", a.Name, a.Device), a.Bytes.Load, nil, a.Done.Load})
	}
	return lines
}
