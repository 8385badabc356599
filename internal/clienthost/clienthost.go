// Package clienthost is the service of `daisy agent` on a client: the
// Agent service of proto/daisy/v1 (daisypb.AgentServer), which backs up the
// client's own sources and restores into its directories on the orders of
// the server, and Run, the daemon around it.
//
// Only the server calls the agent: its listener accepts only a server's
// certificate (pki.ServerConfig with role server), and every RPC checks the
// caller's role again (rpc.Require). The agent acts only for its own
// client: a BackupOrder whose client is not the agent's name is refused
// (PermissionDenied).
//
// A backup (Agent.Backup) is one object of one source. The agent makes the
// object's identifier itself (records.NewID, claim 10 of the patent) and
// answers ObjectStarted; once the server has recorded the object and its
// copies it sends Go, and the agent dials the media host the order's
// Target names (rpc.DialPeer, which checks that the host answering is that
// media host) and pushes the object's records straight to it
// (MediaHost.Push: PushOpen, then RecordBatches), never through the server.
// The records are those of the local backup: agent.Archive writes the pax
// tar stream into a records.StreamWriter whose records (their CRCs, the
// object hash in the End record, made here) are packed into batches
// (rpc.Batcher) and sent as they are cut. Send blocks on the stream's flow
// control, so a media host whose buffer is full (a slow drive) slows the
// agent, and the agent holds one batch of memory whatever the data.
// The source is read exactly as the all-in-one backup reads it
// (jobs.readSource): a root of the source that does not exist fails the
// object unless the source may be absent, a file that cannot be read is
// skipped with a warning, and an incremental or differential backup
// compares the tree with its base, which the agent asks of the server
// directory by directory (Server.BaseRoots, BaseDir, BaseUnder: remoteBase).
// On the Backup stream the agent reports the object's file entries in
// batches (FileBatch, about fileBatch entries each), the paths it could not
// read (SourceWarning), its progress about every second (SourceProgress)
// and its end (ObjectEnded, with the End record's length, records and hash,
// or why it failed). An object fails, and its push with it (the End record
// marks it aborted and a PushFail follows), when the source cannot be
// read, the media host does not take the records, or the server cancels
// or goes away: a broken Backup stream stops the archive at once, and a
// push that the media host no longer reads is cut after abortGrace.
//
// A restore (Agent.Restore) extracts the parts of a RestoreOrder (a chain:
// the full first, then the objects based on it) in order into one
// extract.Session over the target, an absolute directory: every write goes
// through extract, whose os.Root keeps it inside the target. Each part is
// read from the media host that holds it (MediaHost.Read with the part's
// ticket); a part restored whole keeps every entry, the others keep the
// entries whose offsets the server gives (Server.RestoreSelection, in
// ascending order, merged with the stream as it goes so that the list is
// never held whole). A range of the stream that no copy could give
// (ReadChunk.lost) costs only the entries it touched: the extraction goes
// on at the next entry after it, the entries lost are counted, and the
// restore reports the range and fails. Progress goes out about every
// second (RestoreProgress), the end as RestoreDone.
//
// Run is the daemon: it loads the client's credentials, dials the server,
// listens for it, says Hello when it starts and every helloEvery after (a
// server that cannot be reached is logged, and the agent goes on serving),
// and stops when its context ends.
package clienthost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"daisy/internal/pki"
	"daisy/internal/records"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
	"daisy/internal/volume"
)

const (
	// fileBatch is about how many file entries a FileBatch carries.
	fileBatch = 1000
	// progressEvery is how often progress is reported.
	progressEvery = time.Second
	// abortGrace is how long a failing backup waits for its push to take
	// the aborted End record and the PushFail before it cuts the stream.
	abortGrace = 5 * time.Second
	// helloEvery is how often Run says Hello to the server.
	helloEvery = 5 * time.Second
	// stopGrace is how long Run lets running calls end when it stops.
	stopGrace = 5 * time.Second
)

// Config is what an Agent needs.
type Config struct {
	// Name is the client's name (of its certificate): the agent acts only
	// for the sources of this client.
	Name string
	// Credentials are the client's certificate and the fleet's CA, with
	// which the agent dials the media hosts.
	Credentials *pki.Credentials
	// Server is the server's service, asked for the bases of incremental
	// backups and the selections of restores.
	Server pb.ServerClient
	Logger *slog.Logger
}

// Agent is daisy agent's service on a client (daisypb.AgentServer).
type Agent struct {
	pb.UnimplementedAgentServer
	name   string
	creds  *pki.Credentials
	server pb.ServerClient
	log    *slog.Logger
	pool   records.Pool
}

// New returns the agent of c.Name.
func New(c Config) (*Agent, error) {
	if c.Name == "" {
		return nil, errors.New("clienthost: the agent has no client name")
	}
	if c.Credentials == nil {
		return nil, fmt.Errorf("clienthost: agent %s has no credentials", c.Name)
	}
	if c.Server == nil {
		return nil, fmt.Errorf("clienthost: agent %s has no server to ask", c.Name)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{name: c.Name, creds: c.Credentials, server: c.Server, log: log.With("client", c.Name)}, nil
}

// Options are what Run needs.
type Options struct {
	Name          string // the client's name, of its certificate
	Listen        string // HOST:PORT where the agent listens for the server
	PKIDir        string // ca.crt and client.NAME.crt/.key
	ServerAddress string // HOST:PORT of the server
	ServerName    string // the server's name, of its certificate
	// Version is daisy's version, said in Hello ("dev" when empty).
	Version string
	Logger  *slog.Logger
	// Listening, if set, is called with the address the agent listens on
	// once it does (the port chosen for ":0").
	Listening func(net.Addr)
}

// Run serves the agent of o.Name until ctx ends: it then lets running
// calls end for a few seconds, and stops them.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" || o.Listen == "" || o.ServerAddress == "" || o.ServerName == "" {
		return fmt.Errorf("clienthost: the agent needs its name (%q), where to listen (%q), and the server's address (%q) and name (%q)", o.Name, o.Listen, o.ServerAddress, o.ServerName)
	}
	creds, err := pki.LoadCredentials(o.PKIDir, pki.Peer{Role: pki.RoleClient, Name: o.Name})
	if err != nil {
		return fmt.Errorf("agent %s: %w", o.Name, err)
	}
	conn, err := rpc.DialPeer(creds, pki.Peer{Role: pki.RoleServer, Name: o.ServerName}, o.ServerAddress)
	if err != nil {
		return fmt.Errorf("agent %s: server %s: %w", o.Name, o.ServerName, err)
	}
	defer conn.Close()
	srv := pb.NewServerClient(conn)
	a, err := New(Config{Name: o.Name, Credentials: creds, Server: srv, Logger: log})
	if err != nil {
		return err
	}
	l, err := rpc.Listen(o.Listen)
	if err != nil {
		return fmt.Errorf("agent %s: %w", o.Name, err)
	}
	gs := rpc.NewServer(pki.ServerConfig(creds, pki.RoleServer))
	pb.RegisterAgentServer(gs, a)
	if o.Listening != nil {
		o.Listening(l.Addr())
	}
	a.log.Info("agent listening", "address", l.Addr().String(), "server", o.ServerName, "server_address", o.ServerAddress)

	hctx, stopHello := context.WithCancel(ctx)
	helloDone := make(chan struct{})
	go func() {
		defer close(helloDone)
		hello(hctx, srv, o, a.log)
	}()
	served := make(chan error, 1)
	go func() { served <- gs.Serve(l) }()
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stopHello()
	<-helloDone
	if err != nil {
		gs.Stop()
		return fmt.Errorf("agent %s: serving on %s: %w", o.Name, l.Addr(), err)
	}
	stop(gs, stopGrace)
	<-served
	a.log.Info("agent stopped")
	return nil
}

// stop stops gs gracefully, and at once after grace.
func stop(gs *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		gs.Stop()
		<-done
	}
}

// hello says Hello to the server now and every helloEvery until ctx ends;
// it logs when the server cannot be reached, and when it can again.
func hello(ctx context.Context, srv pb.ServerClient, o Options, log *slog.Logger) {
	version := o.Version
	if version == "" {
		version = "dev"
	}
	req := &pb.HelloRequest{Version: version, FormatVersion: uint32(volume.FormatVersion)}
	t := time.NewTicker(helloEvery)
	defer t.Stop()
	up := false
	for first := true; ; first = false {
		cctx, cancel := context.WithTimeout(ctx, helloEvery)
		rep, err := srv.Hello(cctx, req)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && (up || first):
			log.Warn("the server cannot be reached; the agent goes on serving", "server", o.ServerName, "address", o.ServerAddress, "err", rpc.Message(err))
			up = false
		case err == nil && !up:
			log.Info("the server knows the agent", "server", rep.GetServer(), "server_version", rep.GetVersion())
			up = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
