package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"daisy/internal/jobs"
)

func newScanCmd(g *globals) *cobra.Command {
	var rebuild, files, force bool
	cmd := &cobra.Command{
		Use:   "scan VOLUME-FILE... | scan --rebuild [--files] [--force] [VOLUME-FILE...]",
		Short: "Read volumes without the catalog: report what is on them, or rebuild the catalog",
		Long: `scan reads each volume file from its label to its end, checking every
block and record CRC, and reports its sessions, the objects on it with
their extents, and every damaged block with the objects and byte ranges it
took. It needs no configuration or catalog and changes nothing. A
volume whose label block is damaged is read from its block headers (each
names its volume) and the label damage reported; a volume that ends inside
a session (no session end or trailer after its last records: the file was
cut short, or its write interrupted) is reported as truncated. Holes of a
sparse volume file are reported as damage without reading them. Exit 3
when anything is damaged or truncated.

scan --rebuild rebuilds the catalog of the configuration (-c) from the
volumes alone: every *.vtape file in the directories of the configured
pools, and the volume files given as arguments. It records the pools, the
volumes, the objects (from their begin and end records), their copies (from
the copy marks; a copy is good only if its records cover the complete
object, across every volume it spans, without a gap or damage) with their
extents, and a "scan" job. --files also reads every complete object once
and records its files, for ls files and restores of single paths. A
catalog that already has objects is left alone unless --force, which moves
it aside (to NAME.old-TIMESTAMP) first.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if !rebuild && len(args) == 0 {
				return usageError("scan needs at least one volume file (or --rebuild)")
			}
			if !rebuild && (files || force) {
				return usageError("--files and --force go with --rebuild")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if rebuild {
				return runRebuild(cmd, g, args, files, force)
			}
			var reports []scanReport
			damaged := false
			for _, path := range args {
				r, err := scanFile(cmd.Context(), path)
				if err != nil {
					return err
				}
				damaged = damaged || len(r.Damage) > 0 || r.TruncatedTail || r.EndsInSession
				reports = append(reports, r)
			}
			if g.json {
				if err := g.printJSON(reports); err != nil {
					return err
				}
			} else {
				for _, r := range reports {
					printScan(g, r)
				}
			}
			if damaged {
				return &exitError{ExitPartial, errors.New("damage found")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&rebuild, "rebuild", false, "rebuild the configuration's catalog from the volumes")
	cmd.Flags().BoolVar(&files, "files", false, "with --rebuild: read every complete object once and record its files")
	cmd.Flags().BoolVar(&force, "force", false, "with --rebuild: move an existing catalog aside and rebuild into a new one")
	return cmd
}

func runRebuild(cmd *cobra.Command, g *globals, extra []string, files, force bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	res, err := jobs.Rebuild(cmd.Context(), cfg, jobs.RebuildOptions{Volumes: extra, Files: files, Force: force, Logger: g.log})
	if res != nil {
		if g.json {
			_ = g.printJSON(res)
		} else {
			printRebuild(g, res)
		}
	}
	if err != nil {
		return err
	}
	if res.Damaged() {
		return &exitError{ExitPartial, fmt.Errorf("catalog rebuilt with %d failed copies, %d damaged blocks and %d problem(s)",
			res.CopiesFailed, res.DamagedBlocks, len(res.Problems))}
	}
	return nil
}

func printRebuild(g *globals, res *jobs.RebuildResult) {
	w := g.stdout
	if res.MovedAside != "" {
		fmt.Fprintf(w, "moved the old catalog aside to %s\n", res.MovedAside)
	}
	for _, v := range res.Volumes {
		fmt.Fprintf(w, "volume %s (pool %s): %s, %d blocks, %d objects, %s\n", v.Label, v.Pool, v.State, v.Blocks, v.Objects, v.File)
		for _, d := range v.Damage {
			fmt.Fprintf(w, "    DAMAGE %s\n", d)
		}
		if v.TruncatedTail {
			fmt.Fprintf(w, "    truncated tail after block %d (cut before the next append)\n", v.Blocks-1)
		}
	}
	for _, o := range res.Objects {
		var cps []string
		for _, c := range o.Copies {
			cps = append(cps, fmt.Sprintf("%d:%s", c.Copy, c.State))
		}
		files := ""
		if o.Files > 0 {
			files = fmt.Sprintf(", %d files", o.Files)
		}
		fmt.Fprintf(w, "object %s (%s) %s: %s%s, copies %s\n", o.ID, o.Source, o.State, humanBytes(o.Length), files, strings.Join(cps, " "))
		if o.Error != "" {
			fmt.Fprintf(w, "    %s\n", o.Error)
		}
		for _, c := range o.Copies {
			if c.Error != "" && c.Error != o.Error {
				fmt.Fprintf(w, "    copy %d failed: %s\n", c.Copy, c.Error)
			}
		}
	}
	for _, p := range res.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	fmt.Fprintf(w, "rebuilt catalog %s (scan job %d): %d volumes, %d objects, %d copies good, %d failed, %d damaged blocks, %d files\n",
		res.Catalog, res.Job, len(res.Volumes), len(res.Objects), res.CopiesGood, res.CopiesFailed, res.DamagedBlocks, res.Files)
}

type scanDamage struct {
	Block int64 `json:"block"`
	// Last is the last block of a damaged run (a hole), omitted for one
	// block.
	Last  int64  `json:"last,omitempty"`
	Error string `json:"error"`
}

type scanReport struct {
	File string `json:"file"`
	*jobs.ScanResult
	Damage []scanDamage `json:"damage"`
}

func scanFile(ctx context.Context, path string) (scanReport, error) {
	res, err := jobs.ScanVolume(ctx, path)
	if err != nil {
		if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), path) {
			return scanReport{}, err
		}
		return scanReport{}, fmt.Errorf("scan %s: %w", path, err)
	}
	r := scanReport{File: path, ScanResult: res, Damage: []scanDamage{}}
	for _, d := range res.Damage {
		sd := scanDamage{Block: d.Block, Error: d.Err.Error()}
		if d.LastBlock() > d.Block {
			sd.Last = d.LastBlock()
		}
		r.Damage = append(r.Damage, sd)
	}
	return r, nil
}

func printScan(g *globals, r scanReport) {
	w := g.stdout
	label, pool := r.Label.Label, r.Label.Pool
	if label == "" {
		label, pool = "(label unknown)", "(unknown)"
	}
	fmt.Fprintf(w, "%s: volume %s (%s), pool %s, block size %d, %d valid blocks\n",
		r.File, label, r.Label.VolumeID, pool, r.Label.BlockSize, r.Blocks)
	for _, s := range r.Sessions {
		end := "not ended cleanly"
		switch {
		case s.End != nil:
			end = "ended"
		case s.Trailer != nil:
			end = "continues on " + s.Trailer.Next
		}
		fmt.Fprintf(w, "  session %s (job %d, %s) blocks %d-%d: %s\n", s.Info.Session, s.Info.Job, s.Info.MediaAgent, s.FirstBlock, s.LastBlock, end)
	}
	for _, o := range r.Objects {
		src := "?"
		if o.Begin != nil {
			src = o.Begin.Source
		}
		var state string
		switch {
		case o.End != nil:
			state = "ends here"
		case o.Next != "":
			state = "continues on " + o.Next
		case o.Cut:
			state = "CUT SHORT: no end record, and its session has no end or trailer"
		default:
			state = "INCOMPLETE: no end record, though its session ended"
		}
		cp := "copy ?"
		if o.Copy != nil {
			cp = fmt.Sprintf("copy %d", o.Copy.Copy)
		}
		fmt.Fprintf(w, "  object %s (%s) %s: %d data bytes in %d extent(s), %s\n", o.ID, src, cp, o.Bytes, len(o.Extents), state)
		for _, m := range o.Missing {
			to := fmt.Sprint(m.To)
			if m.To == math.MaxUint64 {
				to = "end unknown"
			}
			fmt.Fprintf(w, "    LOST bytes %d..%s (damaged blocks %s)\n", m.From, to, jobs.FormatBlocks(m.Blocks))
		}
	}
	for _, d := range r.Damage {
		if d.Last > d.Block {
			fmt.Fprintf(w, "  DAMAGE blocks %d..%d: %s\n", d.Block, d.Last, d.Error)
			continue
		}
		fmt.Fprintf(w, "  DAMAGE block %d: %s\n", d.Block, d.Error)
	}
	if r.TruncatedTail {
		fmt.Fprintf(w, "  truncated tail after block %d (an interrupted write; cut before the next append)\n", r.GoodEnd-1)
	}
	if r.EndsInSession {
		s := r.Sessions[len(r.Sessions)-1]
		fmt.Fprintf(w, "  TRUNCATED: the volume ends inside session %s (blocks %d-%d): no session end or trailer follows its records; the volume was cut short or its write interrupted\n",
			s.Info.Session, s.FirstBlock, s.LastBlock)
	}
	if len(r.Damage) == 0 && !r.TruncatedTail && !r.EndsInSession {
		fmt.Fprintln(w, "  no damage")
	}
}
