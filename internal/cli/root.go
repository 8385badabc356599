// Package cli is daisy's command line: one cobra command per verb, each a
// thin shell around a plain run function, with text or JSON output and the
// one table that maps errors to exit codes. It reaches the catalog and the
// volumes only through package jobs (internal/archtest checks it).
//
// Progress lines (progress.go) are drawn by hand rather than with mpb,
// which daisy used before: its bars had fixed-width decorators and reached
// the last column of a 40- or 200-column terminal (which wraps and
// scrolls), and every job's line here needs the same fitting to the width
// (the least useful fields dropped first, the label last).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

// Exit codes, the same for every command (documented in README.md and in
// `daisy --help`).
const (
	ExitOK      = 0 // everything asked for was done
	ExitFailure = 1 // the command failed
	ExitUsage   = 2 // bad command line or configuration
	ExitPartial = 3 // completed, but at least one copy failed, or some source data could not be read
)

const exitCodesHelp = `Exit codes:
  0  success
  1  failure
  2  usage or configuration error
  3  completed, but at least one copy failed (or damage was found, or a
     backup could not read some files: it succeeded with warnings)`

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// exitCode is the one place errors become exit codes.
func exitCode(err error) int {
	var ee *exitError
	var ce config.Errors
	var cep *config.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce), errors.As(err, &cep), errors.Is(err, jobs.ErrUsage):
		return ExitUsage
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "required flag"), strings.Contains(err.Error(), "accepts "):
		return ExitUsage
	}
	return ExitFailure
}

// globals are the flags every command shares, and its I/O.
type globals struct {
	configPath string
	json       bool
	logLevel   string
	noProgress bool
	cpuProfile string
	srv        remoteFlags // --server and its credentials (remote.go)

	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	// daemon is set by the daemon commands (daemons.go): a signal is
	// how they are told to stop, not an interruption.
	daemon bool
}

// Main runs the daisy command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, sig, stop := signalContext()
	defer stop()
	err := root.ExecuteContext(ctx)
	if s := sig(); s != nil && !g.daemon {
		// The job recorded its end (with a context that is not
		// cancelled, see jobs) and stopped early: never exit 0.
		if err == nil || errors.Is(err, context.Canceled) {
			err = fmt.Errorf("interrupted by %v: the job was stopped and recorded as interrupted", s)
		} else {
			err = fmt.Errorf("interrupted by %v: %w", s, err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "daisy: %v\n", err)
	}
	return exitCode(err)
}

// signalContext returns a context that SIGINT or SIGTERM cancels, a
// function that tells which signal did (nil if none) and one that stops
// listening. After the first signal the default action is back, so a
// second one ends the process at once; a job it stops that way stays
// running in the catalog until the next command marks it interrupted.
func signalContext() (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got atomic.Value
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got.Store(s)
			signal.Stop(ch)
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
	sig := func() os.Signal {
		s, _ := got.Load().(os.Signal)
		return s
	}
	return ctx, sig, stop
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "daisy",
		Short: "Backup through daisy-chained buffers: one pass writes every copy",
		Long: `daisy backs up sources onto volumes through buffers that can be
daisy-chained: one pass over the data writes the primary copy and every
mirror copy its chain asks for.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return usageError("--log-level %q: use debug, info, warn or error", g.logLevel)
			}
			g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: lvl}))
			if err := g.refuseRemote(cmd); err != nil {
				return err
			}
			if g.cpuProfile != "" {
				f, err := os.Create(g.cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return err
				}
				cobra.OnFinalize(func() {
					pprof.StopCPUProfile()
					f.Close()
				})
			}
			return nil
		},
	}
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "daisy.yaml", "configuration file")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print results as JSON (for scripts)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVar(&g.noProgress, "no-progress", false, "never draw progress bars")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpu-profile", "", "write a CPU profile of the command to this file")
	g.srv.add(root.PersistentFlags())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{ExitUsage, fmt.Errorf("%s: %w (see %s --help)", c.CommandPath(), err, c.CommandPath())}
	})
	root.AddCommand(
		newInitCmd(g), newCheckCmd(g), newGraphCmd(g),
		newBackupCmd(g), newRestoreCmd(g), newCatCmd(g), newLsCmd(g), newFindCmd(g), newScanCmd(g), newVerifyCmd(g), newPruneCmd(g), newCatalogCmd(g), newSimulateCmd(g), newCertCmd(g), newTokenCmd(g), newCancelCmd(g),
	)
	root.AddCommand(newCopyCmds(g)...)
	root.AddCommand(newDaemonCmds(g)...)
	refuseUnknownCommands(root)
	return root
}

// refuseUnknownCommands makes every command that only groups others
// (cert, token, ...) refuse a word that is none of them with a usage
// error naming its commands; cobra would print the help and exit 0, and a
// script's "daisy cert list" would seem to work.
func refuseUnknownCommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownCommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		return usageError("%s has no command %q: its commands are %s (see %s --help)", c.CommandPath(), args[0], strings.Join(names, ", "), c.CommandPath())
	}
}

// loadConfig reads the configuration the -c flag names.
func (g *globals) loadConfig() (*config.Config, error) {
	if _, err := os.Stat(g.configPath); errors.Is(err, os.ErrNotExist) {
		return nil, usageError("no configuration at %s: run `daisy init --source NAME=PATH` or pass -c FILE", g.configPath)
	}
	return config.Load(g.configPath)
}

// open loads the configuration and opens the catalog it names for a
// command that only reads it (ls, find, cat); the caller closes the
// catalog. A lost or damaged catalog is an error (see openConfigCatalog).
func (g *globals) open(ctx context.Context) (*config.Config, *jobs.Catalog, error) {
	return g.openFor(ctx, false)
}

// openJob is open for a job (backup, restore, copy jobs, verify, prune):
// the catalog is quick-checked first.
func (g *globals) openJob(ctx context.Context) (*config.Config, *jobs.Catalog, error) {
	return g.openFor(ctx, true)
}

func (g *globals) openFor(ctx context.Context, forJob bool) (*config.Config, *jobs.Catalog, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	jobs.UseConfig(cfg)
	cat, err := openConfigCatalog(ctx, cfg, forJob)
	if err != nil {
		return nil, nil, err
	}
	for _, j := range cat.Interrupted() {
		g.log.Warn("a job was interrupted: marked interrupted, its unfinished copies failed", "job", j.ID, "kind", j.Kind, "owner", j.Owner.String())
	}
	return cfg, cat, nil
}

// printJSON writes v as indented JSON.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// interactive reports whether progress may be drawn on stderr.
func (g *globals) interactive() bool {
	if g.noProgress || g.json {
		return false
	}
	f, ok := g.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %d argument(s), got %d (see %s --help)", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError("%s takes at most %d argument(s), got %d (see %s --help)", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// humanBytes formats n for people: 1.5 GiB, 320 KiB, 12 B.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
