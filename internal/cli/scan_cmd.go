package cli

import (
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"daisy/internal/device/vtape"
	"daisy/internal/volume"
)

func newScanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "scan VOLUME-FILE...",
		Short: "Read volumes without the catalog and report what is on them",
		Long: `scan reads each volume file from its label to its end, checking every
block and record CRC, and reports its sessions, the objects on it with
their extents, and every damaged block with the objects and byte ranges it
took. It needs no configuration or catalog and changes nothing.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("scan needs at least one volume file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var reports []scanReport
			damaged := false
			for _, path := range args {
				r, err := scanFile(path)
				if err != nil {
					return err
				}
				damaged = damaged || len(r.Damage) > 0 || r.TruncatedTail
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
}

type scanDamage struct {
	Block int64  `json:"block"`
	Error string `json:"error"`
}

type scanReport struct {
	File string `json:"file"`
	*volume.ScanResult
	Damage []scanDamage `json:"damage"`
}

func scanFile(path string) (scanReport, error) {
	m, err := vtape.Open(path, vtape.Options{})
	if err != nil {
		return scanReport{}, err
	}
	defer m.Close()
	res, err := volume.Scan(m)
	if err != nil {
		return scanReport{}, fmt.Errorf("scan %s: %w", path, err)
	}
	r := scanReport{File: path, ScanResult: res, Damage: []scanDamage{}}
	for _, d := range res.Damage {
		r.Damage = append(r.Damage, scanDamage{Block: d.Block, Error: d.Err.Error()})
	}
	return r, nil
}

func printScan(g *globals, r scanReport) {
	w := g.stdout
	fmt.Fprintf(w, "%s: volume %s (%s), pool %s, block size %d, %d valid blocks\n",
		r.File, r.Label.Label, r.Label.VolumeID, r.Label.Pool, r.Label.BlockSize, r.Blocks)
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
		state := "continues on another volume"
		if o.End != nil {
			state = "ends here"
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
			fmt.Fprintf(w, "    LOST bytes %d..%s (damaged blocks %v)\n", m.From, to, m.Blocks)
		}
	}
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  DAMAGE block %d: %s\n", d.Block, d.Error)
	}
	if r.TruncatedTail {
		fmt.Fprintf(w, "  truncated tail after block %d (an interrupted write; cut before the next append)\n", r.GoodEnd-1)
	}
}
