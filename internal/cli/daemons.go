package cli

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"daisy/internal/clienthost"
	"daisy/internal/mediahost"
	"daisy/internal/server"
)

// The three daemons of a fleet: daisy server (the configuration and the
// catalog, the jobs), daisy agent (one per client) and daisy media-agent
// (one per media host). Each runs until SIGTERM or SIGINT, after which it
// ends what runs and exits 0; daisy server also reloads its configuration
// on SIGHUP. They log through log/slog: text on a terminal, JSON lines
// otherwise (journald, files), at info unless --log-level says otherwise.

// daemonLogger is the logger of a daemon command.
func (g *globals) daemonLogger(cmd *cobra.Command) (*slog.Logger, error) {
	lvl := slog.LevelInfo
	if cmd.Flags().Changed("log-level") {
		if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
			return nil, usageError("--log-level %q: use debug, info, warn or error", g.logLevel)
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
}

// daemonVersion is daisy's version as the daemons announce it.
func daemonVersion() string {
	v := strings.TrimSpace(versionString())
	return strings.TrimPrefix(v, "daisy ")
}

func newDaemonCmds(g *globals) []*cobra.Command {
	var srvPKI string
	srv := &cobra.Command{
		Use:   "server",
		Short: "Run daisy server: the fleet's configuration, catalog and jobs",
		Long: `server runs daisy server for the configuration -c names, which must
declare a server (server: {host, address, api}). It serves the agents and
media hosts on the server's address (mutual TLS 1.3 with the certificates
of daisy cert), the HTTP API on its api address, and runs the jobs the API
starts over the fleet. SIGHUP reloads the configuration (a file that does
not check is logged and the one in force kept); SIGTERM or SIGINT cancels
the running jobs, which record their end as interrupted, and exits.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.daemonLogger(cmd)
			if err != nil {
				return err
			}
			g.daemon = true
			server.Version = daemonVersion()
			return server.Run(cmd.Context(), server.Options{ConfigPath: g.configPath, Logger: log, PKIDir: srvPKI})
		},
	}
	srv.Flags().StringVar(&srvPKI, "pki", "", "pki directory with ca.crt, the server's certificate and tokens.json (default: pki beside the catalog)")

	type hostFlags struct{ name, listen, server, serverName, pki string }
	flags := func(cmd *cobra.Command, f *hostFlags, what string) {
		cmd.Flags().StringVar(&f.name, "name", "", "the "+what+"'s name, as in daisy.yaml and its certificate (required)")
		cmd.Flags().StringVar(&f.listen, "listen", "", "HOST:PORT to listen on (required)")
		cmd.Flags().StringVar(&f.server, "server", "", "HOST:PORT of daisy server (required)")
		cmd.Flags().StringVar(&f.serverName, "server-name", "", "the server's name in its certificate (default: the host of --server)")
		cmd.Flags().StringVar(&f.pki, "pki", "/etc/daisy/pki", "directory with ca.crt and this host's certificate and key")
	}
	check := func(cmd *cobra.Command, f *hostFlags) error {
		var missing []string
		for _, m := range []struct{ flag, v string }{{"--name", f.name}, {"--listen", f.listen}, {"--server", f.server}} {
			if m.v == "" {
				missing = append(missing, m.flag)
			}
		}
		if len(missing) > 0 {
			return usageError("%s needs %s (see %s --help)", cmd.CommandPath(), strings.Join(missing, ", "), cmd.CommandPath())
		}
		if f.serverName == "" {
			host := f.server
			if i := strings.LastIndex(host, ":"); i >= 0 {
				host = host[:i]
			}
			f.serverName = strings.Trim(host, "[]")
		}
		return nil
	}

	var af hostFlags
	agent := &cobra.Command{
		Use:   "agent",
		Short: "Run daisy agent on a client: back up and restore its own sources on the server's orders",
		Long: `agent runs daisy agent for the client --name: it listens for the server
(only a server certificate of the fleet's CA is accepted), backs up the
client's own sources on its orders (pushing their records straight to the
media hosts) and restores into the client's directories. It needs read
access to every path it backs up, and for restores the right to create
files of any owner. SIGTERM or SIGINT stops it.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, &af); err != nil {
				return err
			}
			log, err := g.daemonLogger(cmd)
			if err != nil {
				return err
			}
			g.daemon = true
			return clienthost.Run(cmd.Context(), clienthost.Options{Name: af.name, Listen: af.listen, PKIDir: af.pki,
				ServerAddress: af.server, ServerName: af.serverName, Version: daemonVersion(), Logger: log})
		},
	}
	flags(agent, &af, "client")

	var mf hostFlags
	media := &cobra.Command{
		Use:   "media-agent",
		Short: "Run daisy media-agent on a media host: its devices, for the server's jobs",
		Long: `media-agent runs daisy media-agent for the media host --name: it owns
the devices daisy.yaml puts on that host, runs the media agents the server
assigns to it for each job, takes the records agents and other media hosts
push to it, and serves restores. SIGTERM or SIGINT stops it.

` + exitCodesHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, &mf); err != nil {
				return err
			}
			log, err := g.daemonLogger(cmd)
			if err != nil {
				return err
			}
			g.daemon = true
			mediahost.Version = daemonVersion()
			return mediahost.Run(cmd.Context(), mediahost.Options{Name: mf.name, Listen: mf.listen, PKIDir: mf.pki,
				ServerAddress: mf.server, ServerName: mf.serverName, Logger: log})
		},
	}
	flags(media, &mf, "media host")
	return []*cobra.Command{srv, agent, media}
}
