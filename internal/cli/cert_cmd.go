package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"daisy/internal/config"
	"daisy/internal/pki"
)

func newCertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make the fleet's CA and the certificates of its hosts",
		Long: `cert makes the certificate authority of a fleet (cert init) and the
certificates of the hosts daisy.yaml names (cert issue): the server, the
agent of every client with an address, every media host. Every connection
between them is TLS 1.3 with both sides' certificates checked against the
CA. The files are in the state directory ("pki" beside the catalog) or in
--dir: ca.crt, ca.key and ROLE.NAME.crt/.key; copy each host's pair and
ca.crt to that host, never ca.key.

` + exitCodesHelp,
	}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "directory of the CA and certificates (default: pki beside the catalog)")
	cmd.AddCommand(newCertInitCmd(g, &dir), newCertIssueCmd(g, &dir), newCertLsCmd(g, &dir), newCertRevokeCmd(g, &dir))
	return cmd
}

// certDir is --dir, or pki beside the catalog of the configuration.
func (g *globals) certDir(dir string) (string, *config.Config, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		return abs, nil, err
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return "", nil, err
	}
	return pki.DefaultDir(cfg), cfg, nil
}

func newCertInitCmd(g *globals, dir *string) *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the CA (refuses to replace one)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, _, err := g.certDir(*dir)
			if err != nil {
				return err
			}
			if days < 1 {
				return usageError("--days %d: a CA is valid for at least 1 day", days)
			}
			ca, err := pki.InitCA(d, days, time.Now())
			if err != nil {
				return &exitError{ExitUsage, err}
			}
			if g.json {
				return g.printJSON(map[string]any{"dir": d, "subject": ca.Cert.Subject.CommonName, "not_after": ca.Cert.NotAfter.UTC()})
			}
			fmt.Fprintf(g.stdout, "created %s in %s (%s, %s: keep ca.key private, on this host only), valid until %s\n",
				ca.Cert.Subject.CommonName, d, pki.CACertFile, pki.CAKeyFile, ca.Cert.NotAfter.UTC().Format(time.DateOnly))
			return nil
		},
	}
	cmd.Flags().IntVar(&days, "days", pki.DefaultCADays, "days the CA is valid")
	return cmd
}

// issuedJSON is a certificate in JSON output.
type issuedJSON struct {
	Role     string    `json:"role"`
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	NotAfter time.Time `json:"not_after,omitzero"`
	SANs     []string  `json:"sans,omitempty"`
	Status   string    `json:"status"`
}

func sans(dns []string, ips []net.IP) []string {
	out := append([]string(nil), dns...)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func newCertIssueCmd(g *globals, dir *string) *cobra.Command {
	var days int
	var host, admin string
	var force bool
	cmd := &cobra.Command{
		Use:   "issue [--host NAME | --admin NAME] [--days N] [--force]",
		Short: "Issue the certificates of the hosts of daisy.yaml",
		Long: `issue signs a certificate for the server, the agent of every client with
an address and every media host of daisy.yaml (or only those of --host
NAME), each with its name and the host of its address as SANs, and
daisy://ROLE/NAME naming it. Existing certificates are not replaced:
--force renews them. --admin NAME issues only an administrator's
certificate (admin.NAME.crt/.key, role admin) for the server's HTTP API.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			d := pki.DefaultDir(cfg)
			if *dir != "" {
				if d, err = filepath.Abs(*dir); err != nil {
					return err
				}
			}
			if days < 1 {
				return usageError("--days %d: a certificate is valid for at least 1 day", days)
			}
			var hosts []pki.Host
			switch {
			case admin != "" && host != "":
				return usageError("--admin and --host do not go together: issue one kind at a time")
			case admin != "":
				h, err := pki.AdminHost(admin)
				if err != nil {
					return usageError("--admin: %v", err)
				}
				hosts = []pki.Host{h}
			default:
				if hosts, err = pki.Hosts(cfg); err != nil {
					return &exitError{ExitUsage, err}
				}
			}
			if host != "" {
				var picked []pki.Host
				var names []string
				for _, h := range hosts {
					if h.Name == host {
						picked = append(picked, h)
					}
					names = append(names, h.Name)
				}
				if picked == nil {
					return usageError("--host %s: %s has no host of that name (with a certificate: %s)", host, cfg.File, strings.Join(names, ", "))
				}
				hosts = picked
			}
			ca, err := pki.LoadCA(d)
			if err != nil {
				return err
			}
			// Refuse before writing anything.
			if !force {
				var exist []string
				for _, h := range hosts {
					for _, f := range []string{h.CertFile(), h.KeyFile()} {
						if fileExists(filepath.Join(d, f)) {
							exist = append(exist, filepath.Join(d, f))
						}
					}
				}
				if exist != nil {
					return usageError("%s exist already: nothing issued; renew them with --force, or issue the others one by one with --host NAME", strings.Join(exist, ", "))
				}
			}
			now := time.Now()
			var out []issuedJSON
			for _, h := range hosts {
				is, err := ca.Issue(h, days, now, force)
				if err != nil {
					return err
				}
				j := issuedJSON{Role: string(h.Role), Name: h.Name, Path: is.Path, NotAfter: is.NotAfter.UTC(), SANs: append(sans(h.DNS, h.IPs), h.URI().String()), Status: "issued"}
				out = append(out, j)
				if !g.json {
					fmt.Fprintf(g.stdout, "issued %s: %s, valid until %s, for %s\n", h.Peer, is.Path, j.NotAfter.Format(time.DateOnly), strings.Join(j.SANs, ", "))
				}
			}
			if g.json {
				return g.printJSON(out)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&days, "days", pki.DefaultHostDays, "days each certificate is valid")
	cmd.Flags().StringVar(&host, "host", "", "issue only the certificates of this host (server, client or media host name)")
	cmd.Flags().StringVar(&admin, "admin", "", "issue only an administrator's certificate of this name (role admin, for the HTTP API)")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing certificates (renewal)")
	return cmd
}

func newCertLsCmd(g *globals, dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the certificates issued, with their expiry",
		Long: `ls lists the certificates of the directory with their expiry and
whether they are good (signed by its CA, not expired), and the hosts of
daisy.yaml that have none yet.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, cfg, err := g.certDir(*dir)
			if err != nil {
				return err
			}
			if cfg == nil {
				cfg, _ = g.loadConfig() // for the hosts without a certificate
			}
			now := time.Now()
			list, err := pki.List(d, now)
			if err != nil {
				return err
			}
			var rows []issuedJSON
			have := map[pki.Peer]bool{}
			for _, is := range list {
				st := "good"
				if is.Problem != "" {
					st = is.Problem
				}
				have[is.Peer] = true
				rows = append(rows, issuedJSON{Role: string(is.Role), Name: is.Name, Path: is.Path, NotAfter: is.NotAfter.UTC(), SANs: sans(is.DNS, is.IPs), Status: st})
			}
			if cfg != nil {
				if hosts, err := pki.Hosts(cfg); err == nil {
					for _, h := range hosts {
						if !have[h.Peer] {
							rows = append(rows, issuedJSON{Role: string(h.Role), Name: h.Name, Path: filepath.Join(d, h.CertFile()), Status: "missing: daisy cert issue --host " + h.Name})
						}
					}
				}
			}
			if g.json {
				if rows == nil {
					rows = []issuedJSON{}
				}
				return g.printJSON(rows)
			}
			tw := g.table("ROLE\tNAME\tEXPIRES\tDAYS LEFT\tSANS\tSTATUS")
			for _, r := range rows {
				exp, left := "-", "-"
				if !r.NotAfter.IsZero() {
					exp = r.NotAfter.Format(time.DateOnly)
					left = fmt.Sprint(int(r.NotAfter.Sub(now).Hours() / 24))
				}
				s := strings.Join(r.SANs, ",")
				if s == "" {
					s = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Role, r.Name, exp, left, s, r.Status)
			}
			return tw.Flush()
		},
	}
}

// fileExists reports whether anything is at path (a dangling link too).
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func newCertRevokeCmd(g *globals, dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ROLE/NAME",
		Short: "Revoke a host's or an administrator's certificate",
		Long: `revoke adds the certificate of ROLE/NAME (e.g. client/c1, admin/alice; its
file ROLE.NAME.crt in the directory) to the fleet's revocation list,
crl.pem beside ca.crt, signed by the CA. Copy crl.pem to every host beside
its ca.crt (the server's host first): each daemon then refuses that
certificate from its next handshake on, and the server's API refuses it
as an admin certificate; connections already up stay until they end or
the daemon restarts. daisy cert issue --host NAME --force gives the host a
new certificate, which is not revoked.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pki.ParsePeer(args[0])
			if err != nil {
				return usageError("cert revoke: %v", err)
			}
			d, _, err := g.certDir(*dir)
			if err != nil {
				return err
			}
			ca, err := pki.LoadCA(d)
			if err != nil {
				return err
			}
			cert, at, err := ca.RevokeHost(p, time.Now())
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"peer": p.String(), "serial": cert.SerialNumber.Text(16), "revoked": at, "crl": filepath.Join(d, pki.CRLFile)})
			}
			fmt.Fprintf(g.stdout, "revoked %s (serial %x) on %s in %s: copy it to every host beside ca.crt\n", p, cert.SerialNumber, at.Format(time.DateOnly), filepath.Join(d, pki.CRLFile))
			return nil
		},
	}
}
