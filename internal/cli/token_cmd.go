package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/pki"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke bearer tokens of the HTTP API",
		Long: `token manages the bearer tokens the server's HTTP API accepts (besides
client certificates). A token is shown once, when made; only its SHA-256
is stored, in tokens.json of the pki directory (pki beside the catalog,
or --dir).

` + exitCodesHelp,
	}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "pki directory holding tokens.json (default: pki beside the catalog)")
	store := func() (*pki.Tokens, error) {
		d, _, err := g.certDir(dir)
		if err != nil {
			return nil, err
		}
		return &pki.Tokens{Path: filepath.Join(d, pki.TokensFile)}, nil
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a token for NAME and show it once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			tok, t, err := s.Create(args[0], time.Now())
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"id": t.ID, "name": t.Name, "token": tok})
			}
			fmt.Fprintf(g.stdout, "token %s for %s (shown only now; send it as \"Authorization: Bearer TOKEN\"):\n%s\n", t.ID, t.Name, tok)
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the tokens (their IDs and names, never the tokens)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			list, err := s.List()
			if err != nil {
				return err
			}
			if g.json {
				type row struct {
					ID      string    `json:"id"`
					Name    string    `json:"name"`
					Created time.Time `json:"created"`
				}
				rows := []row{}
				for _, t := range list {
					rows = append(rows, row{t.ID, t.Name, t.Created})
				}
				return g.printJSON(rows)
			}
			tw := g.table("ID\tNAME\tCREATED")
			for _, t := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token (by its ID, or a prefix of 4 digits or more)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			t, err := s.Revoke(args[0])
			if err != nil {
				return &exitError{ExitUsage, err}
			}
			fmt.Fprintf(g.stdout, "revoked token %s (%s)\n", t.ID, t.Name)
			return nil
		},
	}
	cmd.AddCommand(create, ls, revoke)
	return cmd
}
