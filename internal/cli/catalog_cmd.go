package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"daisy/internal/config"
	"daisy/internal/jobs"
)

func newCatalogCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Check the catalog database",
		Args:  exactArgs(0),
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Check the catalog: SQLite's integrity check and daisy's own consistency checks",
		Long: `catalog check runs SQLite's integrity check over the whole catalog file
and then daisy's own checks of what the catalog says: good copies whose
extents do not cover their object, extents on volumes the catalog does not
have, good copies on volumes that are blank or recyclable (a backup may
write over them) or that end before the copy does, complete objects whose
file list does not have their entry count, objects based on an object that
is gone, and rows left by a copy or object that is gone. Each problem is
printed with what to do about it. No volume is read (daisy verify does
that) and nothing is changed.

It reads the whole file: on a catalog of a few million file entries that
takes some seconds. Jobs (backup, restore, copy jobs, verify, prune) run
SQLite's quicker page check (PRAGMA quick_check) before they start.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCatalogCheck(cmd.Context(), g)
		},
	}
	cmd.AddCommand(check)
	kindsOnly(cmd)
	return cmd
}

func runCatalogCheck(ctx context.Context, g *globals) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	path := cfg.Catalog.SQLite
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := lostCatalog(cfg, "does not exist"); err != nil {
			return err
		}
		return fmt.Errorf("no catalog at %s: nothing was backed up with this configuration yet", path)
	}
	var rep *jobs.CheckReport
	cat, err := openConfigCatalog(ctx, cfg, false)
	if err == nil {
		defer cat.Close()
		rep, err = cat.Check(ctx)
	}
	if err != nil {
		if !errors.Is(err, jobs.ErrDamaged) {
			return err
		}
		// SQLite cannot read the file at all: that is the one problem.
		var de *damagedError
		if errors.As(err, &de) {
			err = de.err
		}
		rep = &jobs.CheckReport{Catalog: path, SQLite: "damaged", Problems: []jobs.Problem{{
			Kind: jobs.ProblemSQLite, Problem: "SQLite cannot read the catalog: " + err.Error(),
			Fix: "move the catalog aside and rebuild it from the volumes: daisy scan --rebuild --force --files",
		}}}
	}
	if g.json {
		if err := g.printJSON(rep); err != nil {
			return err
		}
	} else {
		printCatalogCheck(g, rep)
	}
	if n := len(rep.Problems) + rep.More; n > 0 {
		return &exitError{ExitPartial, fmt.Errorf("catalog %s: %d problem(s) found", rep.Catalog, n)}
	}
	return nil
}

func printCatalogCheck(g *globals, rep *jobs.CheckReport) {
	w := g.stdout
	n := rep.Checked
	fmt.Fprintf(w, "catalog %s: SQLite integrity %s; %d objects, %d copies, %d extents, %d volumes, %d file entries checked\n",
		rep.Catalog, rep.SQLite, n.Objects, n.Copies, n.Extents, n.Volumes, n.Files)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM (%s) %s\n    what to do: %s\n", p.Kind, p.Problem, p.Fix)
	}
	if rep.More > 0 {
		fmt.Fprintf(w, "… %d more problems not listed (at most %d of each kind)\n", rep.More, jobs.MaxProblems)
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "no problems found")
	}
}

// openConfigCatalog opens the catalog the configuration names. A catalog that
// is missing, empty (0 bytes) or knows no volume while the pool
// directories hold volume files was lost: that is an error naming daisy
// scan --rebuild, and no new, empty catalog is made. A brand-new setup (no
// catalog, no volume files) gets its catalog created. A damaged file is an
// error naming catalog check and the rebuild. forJob adds SQLite's quick
// check of every page (backup, restore, copy jobs, verify, prune); reads
// that only browse the catalog skip it to stay fast.
func openConfigCatalog(ctx context.Context, cfg *config.Config, forJob bool) (*jobs.Catalog, error) {
	path := cfg.Catalog.SQLite
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := lostCatalog(cfg, "does not exist"); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	case st.Size() == 0:
		if err := lostCatalog(cfg, "is empty (0 bytes)"); err != nil {
			return nil, err
		}
	}
	cat, err := jobs.OpenCatalog(ctx, path)
	if err != nil {
		return nil, damagedCatalog(path, err)
	}
	if st != nil && st.Size() > 0 {
		has, err := cat.HasVolumes(ctx)
		if err == nil && !has {
			err = lostCatalog(cfg, "records no volume")
		}
		if err != nil {
			cat.Close()
			return nil, damagedCatalog(path, err)
		}
	}
	if forJob {
		if err := cat.QuickCheck(ctx); err != nil {
			cat.Close()
			return nil, damagedCatalog(path, err)
		}
	}
	return cat, nil
}

// damagedError is an error that says the catalog is damaged, with what to
// do about it.
type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("the catalog %s is damaged (%v); nothing was done. daisy catalog check lists the problems; "+
		"daisy scan --rebuild --force --files moves it aside and rebuilds it from the volumes", e.path, e.err)
}

func (e *damagedError) Unwrap() error { return e.err }

// damagedCatalog makes an error that says the catalog is damaged a
// damagedError, and returns other errors as they are.
func damagedCatalog(path string, err error) error {
	if !errors.Is(err, jobs.ErrDamaged) {
		return err
	}
	return &damagedError{path, err}
}

// lostCatalog returns an error when the pool directories hold volume
// files: the catalog that recorded them is what is missing.
func lostCatalog(cfg *config.Config, what string) error {
	n, dirs := 0, []string{}
	for _, p := range cfg.Pools {
		if p.Directory == "" {
			continue
		}
		m, err := filepath.Glob(filepath.Join(p.Directory, "*.vtape"))
		if err != nil {
			return fmt.Errorf("pool %s: %w", p.Name, err)
		}
		if len(m) > 0 {
			n += len(m)
			dirs = append(dirs, p.Directory)
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("the catalog %s %s, but the pool directories hold %d volume file(s) (%s); nothing was done: "+
		"daisy scan --rebuild rebuilds the catalog from them (add --files for the file lists that restores of single paths need)",
		cfg.Catalog.SQLite, what, n, strings.Join(dirs, ", "))
}
