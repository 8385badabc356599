package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/config"
	"daisy/internal/simulate"
)

func newSimulateCmd(g *globals) *cobra.Command {
	var (
		srcs     []string
		model    string
		extent   string
		hold     string
		capacity string
		svg      string
	)
	cmd := &cobra.Command{
		Use:   "simulate --source NAME=RATE:SIZE [--source ...] [--svg FILE]",
		Short: "Run the backup topology on modelled tape drives, on a virtual clock",
		Long: `simulate runs the topology of daisy.yaml with synthetic sources of the
given rates and sizes (--source D1=60MB/s:500GiB) on a virtual clock,
without data: the media agents multiplex as in a backup (the same
policy: extent size, run hold) onto tape drives modelled by each device's
timing: (or --timing). It reports per drive the streaming share of the
window, the backhitches (a drive fed below its minimum streaming speed
stops and repositions: shoe-shining), the window and the extents of each
object; --svg draws each drive's rate over time.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(srcs) == 0 {
				return usageError("simulate needs at least one --source NAME=RATE:SIZE, e.g. --source D1=60MB/s:500GiB")
			}
			var o simulate.Options
			for _, s := range srcs {
				x, err := simulate.ParseSource(s)
				if err != nil {
					return usageError("--source %q: %v", s, err)
				}
				o.Sources = append(o.Sources, x)
			}
			p, ok := config.TimingPresets[model]
			if !ok {
				return usageError("--timing %q: unknown drive model; use lto8, lto9 or lto10 (or timing: on the device)", model)
			}
			o.Default = simulate.Model(p)
			if extent != "" {
				n, err := config.ParseSize(extent)
				if err != nil || n < config.MinExtentSize {
					return usageError("--extent-size %q: want a size of at least 1MiB, e.g. 64MiB", extent)
				}
				o.ExtentSize = n
			}
			if hold != "" {
				d, err := time.ParseDuration(hold)
				if err != nil || d <= 0 {
					return usageError("--hold %q: want a duration above 0, e.g. 50ms", hold)
				}
				o.HoldRun = d
			}
			if capacity != "" {
				n, err := config.ParseSize(capacity)
				if err != nil || n == 0 {
					return usageError("--volume-capacity %q: want a size above 0, e.g. 18TB", capacity)
				}
				o.VolumeCapacity = n
			}
			o.Trace = svg != ""
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := simulate.Run(cfg, o)
			if err != nil {
				return usageError("simulate: %v", err)
			}
			took := time.Since(start)
			if svg != "" {
				f, err := os.Create(svg)
				if err != nil {
					return fmt.Errorf("--svg: %w", err)
				}
				err = simulate.WriteSVG(f, r, fmt.Sprintf("daisy simulate: %s", sourcesLine(o.Sources)))
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("--svg %s: %w", svg, err)
				}
			}
			if g.json {
				return g.printJSON(r)
			}
			printSimulation(g, r, o, took)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&srcs, "source", nil, "a synthetic source NAME=RATE:SIZE, e.g. D1=60MB/s:500GiB (repeatable; NAME is a source of daisy.yaml)")
	f.StringVar(&model, "timing", "lto9", "drive model of the devices without timing: (lto8, lto9, lto10)")
	f.StringVar(&extent, "extent-size", "", "run length after which a media agent moves to a filling buffer (default: each media agent's extent_size)")
	f.StringVar(&hold, "hold", "", "how long a media agent holds a run whose buffer ran dry (default 50ms)")
	f.StringVar(&capacity, "volume-capacity", "", "capacity of every volume (default: the pools' volume_capacity); a full one costs a cartridge load")
	f.StringVar(&svg, "svg", "", "write each drive's rate over time to FILE as SVG")
	return cmd
}

func sourcesLine(ss []simulate.Source) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %s × %s", s.Name, config.FormatRate(s.Rate), config.FormatSize(s.Size))
	}
	return out
}

func printSimulation(g *globals, r *simulate.Result, o simulate.Options, took time.Duration) {
	w := g.stdout
	fmt.Fprintf(w, "simulated %s: %.0fs of virtual time in %.1fs\n", sourcesLine(o.Sources), r.Elapsed, took.Seconds())
	for _, d := range r.Drives {
		s := d.Stats
		model := d.Model.Preset
		if model == "" {
			model = "custom"
		}
		if s.Bytes == 0 {
			fmt.Fprintf(w, "drive %s (%s, %s): nothing to write\n", d.Device, d.MediaAgent, model)
			continue
		}
		fmt.Fprintf(w, "drive %s (%s, %s): %s in a window of %.0fs: streaming %.1f%% of it at %s on average, %d backhitches (%.0fs), idle %.0fs, %d volume(s) (loads %.0fs)\n",
			d.Device, d.MediaAgent, model, humanBytes(s.Bytes), s.Window, 100*s.StreamingShare, config.FormatRate(s.MeanSpeed), s.Backhitches, s.Repositioning, s.Idle, d.Volumes, s.LoadTime)
		if d.ShoeShining {
			fmt.Fprintf(w, "  SHOE-SHINING: fed below its minimum streaming speed of %s, the drive stopped and backhitched %d times (one per %s written); multiplex more sources onto it or give it faster ones\n",
				config.FormatRate(d.Model.MinStream), s.Backhitches, humanBytes(s.Bytes/max(s.Backhitches, 1)))
		} else if s.StreamingShare >= 0.95 {
			fmt.Fprintf(w, "  streams: no shoe-shining\n")
		}
		for _, ob := range d.Objects {
			read := ob.Blocks * int64(d.BlockSize)
			fmt.Fprintf(w, "  %s copy %d: %s in %d extent(s) of %s on average; a restore reads %s (%.2f× the object)\n", ob.Source, ob.Copy, humanBytes(ob.Bytes), ob.Extents,
				humanBytes(read/int64(max(ob.Extents, 1))), humanBytes(read), float64(read)/float64(max(ob.Bytes, 1)))
		}
	}
}
