package mediahost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/volume"
)

// HelloInterval is how often a media host says Hello to the server.
const HelloInterval = 5 * time.Second

// StopGrace is how long Run lets running calls end once its context is
// done, before it cuts them.
const StopGrace = 5 * time.Second

// Version is the daisy version a media host announces in Hello.
var Version = "dev"

// Options configure Run.
type Options struct {
	Name          string // the media host's name (its certificate's)
	Listen        string // HOST:PORT to listen on
	PKIDir        string // ca.crt and media-host.NAME.crt, .key
	ServerAddress string // HOST:PORT of daisy server
	ServerName    string // the server's name in its certificate
	Logger        *slog.Logger
}

// Run serves the MediaHost service until ctx is done: it loads the host's
// credentials, dials the server (whose catalog holds the volumes), says
// Hello at start and every HelloInterval (logging when the server cannot
// be reached, serving on meanwhile), and at the end stops gracefully,
// cutting what is still running after StopGrace.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" || o.Listen == "" || o.ServerAddress == "" || o.ServerName == "" {
		return errors.New("media host: name, listen address, server address and server name are all required")
	}
	creds, err := pki.LoadCredentials(o.PKIDir, pki.Peer{Role: pki.RoleMediaHost, Name: o.Name})
	if err != nil {
		return fmt.Errorf("media host %s: %w", o.Name, err)
	}
	conn, err := rpc.DialPeer(creds, pki.Peer{Role: pki.RoleServer, Name: o.ServerName}, o.ServerAddress)
	if err != nil {
		return fmt.Errorf("media host %s: %w", o.Name, err)
	}
	defer conn.Close()
	server := pb.NewServerClient(conn)
	l, err := rpc.Listen(o.Listen)
	if err != nil {
		return fmt.Errorf("media host %s: %w", o.Name, err)
	}
	h := New(o.Name, creds, server, log)
	gs := rpc.NewServer(pki.ServerConfig(creds, pki.RoleServer, pki.RoleClient, pki.RoleMediaHost))
	pb.RegisterMediaHostServer(gs, h)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(l) }()
	log.Info("media host serving", "media_host", o.Name, "listen", l.Addr().String(), "server", o.ServerAddress)

	hello := make(chan struct{})
	go func() {
		defer close(hello)
		h.helloLoop(ctx, server, log)
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(StopGrace):
		log.Warn("media host: calls still running after the grace period are cut", "media_host", o.Name, "grace", StopGrace)
		gs.Stop()
		<-stopped
	}
	<-hello
	if serveErr != nil {
		return fmt.Errorf("media host %s: serve: %w", o.Name, serveErr)
	}
	return nil
}

// helloLoop says Hello until ctx is done, logging when the server's
// reachability changes.
func (h *Host) helloLoop(ctx context.Context, server pb.ServerClient, log *slog.Logger) {
	up := true // logged once when it goes down, once when back
	first := true
	t := time.NewTicker(HelloInterval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, HelloInterval)
		r, err := server.Hello(cctx, &pb.HelloRequest{Version: Version, FormatVersion: volume.FormatVersion})
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && (up || first):
			log.Warn("media host: the server cannot be reached; serving on", "media_host", h.name, "err", rpc.Message(err))
			up = false
		case err == nil && (!up || first):
			log.Info("media host: the server answered", "media_host", h.name, "server", r.GetServer(), "version", r.GetVersion())
			up = true
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
