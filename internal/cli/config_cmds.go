package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"daisy/internal/config"
)

func newInitCmd(g *globals) *cobra.Command {
	var (
		sources  []string
		host     string
		capacity string
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "init --source NAME=PATH [--source NAME=PATH]...",
		Short: "Write a commented, working daisy.yaml for this host",
		Long: `init writes a configuration with the given sources, one virtual tape
device and pool, and the SQLite catalog under state/ next to the file, so
that ` + "`daisy backup`" + ` works right after it.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(sources) == 0 {
				return usageError("init needs at least one --source NAME=PATH")
			}
			o := config.InitOptions{Host: host}
			if o.Host == "" {
				o.Host, _ = os.Hostname()
			}
			if capacity != "" {
				n, err := config.ParseSize(capacity)
				if err != nil {
					return usageError("--volume-capacity %q: %v", capacity, err)
				}
				o.VolumeCapacity = n
			}
			seen := map[string]bool{}
			for _, s := range sources {
				name, path, ok := strings.Cut(s, "=")
				if !ok || name == "" || path == "" {
					return usageError("--source %q: write NAME=PATH, e.g. --source home=/home", s)
				}
				// The name is kept exactly as given (it is what
				// --source S of every other command takes), or refused.
				if err := config.CheckSourceName(name); err != nil {
					return usageError("--source %q: %v", s, err)
				}
				if seen[name] {
					return usageError("--source %q: source %s is given twice; give each source its own name", s, name)
				}
				seen[name] = true
				abs, err := filepath.Abs(path)
				if err != nil {
					return usageError("--source %q: %v", s, err)
				}
				if _, err := os.Stat(abs); err != nil {
					return usageError("--source %q: %v", s, err)
				}
				o.Sources = append(o.Sources, config.InitSource{Name: name, Path: abs})
			}
			data := config.InitTemplate(o)
			if _, err := config.Parse(g.configPath, data); err != nil {
				return fmt.Errorf("the configuration init would write does not validate: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(g.configPath, flags, 0o640)
			if errors.Is(err, os.ErrExist) {
				return usageError("%s exists; pass --force to replace it", g.configPath)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"config": g.configPath, "sources": o.Sources})
			}
			fmt.Fprintf(g.stdout, "wrote %s with %d source(s); next: daisy check, then daisy backup\n", g.configPath, len(o.Sources))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sources, "source", nil, "a source to protect, NAME=PATH (repeatable)")
	cmd.Flags().StringVar(&host, "host", "", "client name (default: this host's name)")
	cmd.Flags().StringVar(&capacity, "volume-capacity", "", "capacity of each virtual tape volume, e.g. 10GiB")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing configuration file")
	return cmd
}

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (topology rules, sizes, references)",
		Long: `check validates daisy.yaml: unknown keys, sizes and durations, references
to sources, devices and pools, and the chain rules (one upstream and one
downstream per buffer, no cycles, mirror levels follow the level before),
the catalog file and pool directories (not under /dev, /proc or /sys, a
file and directories where they exist, no two pools in one directory),
and that the buffers of the backup, and of each copy job, fit in this
machine's memory. Every problem is reported with file:line:column. A
source path that does not exist on this host is a warning (exit 0).

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				var ce config.Errors
				if g.json && errors.As(err, &ce) {
					_ = g.printJSON(map[string]any{"ok": false, "errors": ce})
				}
				return err
			}
			agents := cfg.MediaAgents()
			// Warnings are said as errors are, at the position in
			// the file: "FILE:LINE:COLUMN: warning: ...".
			var warnings []string
			for _, w := range append(cfg.MissingSourcePaths(), cfg.S3CredentialWarnings()...) {
				warnings = append(warnings, fmt.Sprintf("%s:%d:%d: warning: %s", w.File, w.Line, w.Column, w.Msg))
			}
			if g.json {
				return g.printJSON(map[string]any{"ok": true, "file": cfg.File, "sources": len(cfg.Sources), "devices": len(cfg.Devices), "media_agents": len(agents), "mirror_levels": len(cfg.MirrorGroups), "warnings": warnings})
			}
			fmt.Fprintf(g.stdout, "%s: ok: %d sources, %d devices, %d media agents, %d mirror level(s)\n",
				cfg.File, len(cfg.Sources), len(cfg.Devices), len(agents), len(cfg.MirrorGroups))
			for _, s := range cfg.Sources {
				n := len(cfg.Chain(s.Name))
				switch n {
				case 0:
					fmt.Fprintf(g.stdout, "  %s: in no buffer, not backed up\n", s.Name)
				default:
					fmt.Fprintf(g.stdout, "  %s: %d cop%s\n", s.Name, n, map[bool]string{true: "y", false: "ies"}[n == 1])
				}
			}
			for _, w := range warnings {
				fmt.Fprintln(g.stdout, w)
			}
			return nil
		},
	}
}

func newGraphCmd(g *globals) *cobra.Command {
	var format, job string
	cmd := &cobra.Command{
		Use:   "graph [--format text|dot]",
		Short: "Draw the topology in the shape of the patent's figure 2",
		Long: `graph draws groups as columns, media agents as boxes holding their
buffers, chains as arrows and each media agent's device below it; with
--job, a copy job's restore group and copy groups (figure 5).
--format dot prints Graphviz input (daisy graph --format dot | dot -Tsvg).

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if job != "" {
				j, ok := cfg.CopyJob(job)
				if !ok {
					return usageError("no copy job %q in %s", job, cfg.File)
				}
				switch format {
				case "text":
					fmt.Fprint(g.stdout, config.GraphCopyJob(cfg, j))
				case "dot":
					fmt.Fprint(g.stdout, config.DotCopyJob(cfg, j))
				default:
					return usageError("--format %q: use text or dot", format)
				}
				return nil
			}
			switch format {
			case "text":
				fmt.Fprint(g.stdout, config.Graph(cfg))
			case "dot":
				fmt.Fprint(g.stdout, config.Dot(cfg))
			default:
				return usageError("--format %q: use text or dot", format)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or dot")
	cmd.Flags().StringVar(&job, "job", "", "draw this copy job (restore group and copy groups, as in figure 5)")
	return cmd
}
