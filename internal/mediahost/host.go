// Package mediahost is the service of daisy media-agent on a media host
// (daisypb.MediaHostServer, proto/daisy/v1): it owns the host's devices
// and runs, for each job the server plans, the media agents whose devices
// name this host.
//
// Backup: the server sends a BackupPlan (its daisy.yaml whole, the
// selected sources, the job). The host takes the locks of its media
// agents' pools (a pool another process holds refuses the plan, naming
// the pool and its holder), builds a buffer per buffer of its media
// agents and attaches each media agent to its buffers, as an in-process
// backup does (jobs.Backup), and wires the chains: a buffer that follows
// a buffer of this host is fed by reference (buffers.Forward); a buffer
// of another host that follows one of this host's is fed by a forwarder
// that pushes the upstream buffer's records to that host (Push, in
// RecordBatches), acknowledging them only as they leave, so that a slow
// downstream drive slows the chain; a downstream host that fails is
// detached from the chain and logged, and the copies of this host go on.
// A buffer that follows a buffer of another host, or a backup-group
// buffer of a selected source, waits for a Push; a backup-group buffer
// of a source not selected carries nothing and is closed at once. The
// host then answers Ready; Go starts the media agents (mediaagent.BMA
// over pools.Drive, whose catalog is the server's, RemoteCatalog) and
// the forwarders. Extents are reported as their blocks reach the media
// (ExtentReport), each media agent's copy results as it ends
// (AgentResult), the fill of devices and buffers every ProgressInterval
// (MediaProgress), and Finished at the end. FailBuffer fails one buffer
// whose push will never come (its agent failed before it pushed), so that
// the job ends without it. Events go through one sender
// (a gRPC stream is not safe for concurrent Send). Cancel, or the end of
// the stream (the server is gone), cancels the job: the media agents stop
// and their sessions are cut from the volumes (pools' Release), the
// pushes into the job's buffers are broken off, the pool locks released.
//
// Push: the first message names a buffer of a running job (PushOpen).
// A client may push only into the backup-group buffer of one of its own
// sources selected in the job; a media host only into a buffer of this
// host that follows a buffer of a media agent on the calling host. Each
// buffer takes one push. Every record of every batch is checked
// as rpc's codec decodes it into the job's pool (rpc.PushIn: magic,
// length, CRC32C) and pushed into the buffer, which
// blocks while the buffer is full: the next batch is not read before, so
// gRPC's fixed flow-control windows stop the sender within one window.
// The stream's normal end closes the buffer; a PushFail, a broken stream
// or a corrupt record fails it (the error names the peer and why), and
// with it the copies of its objects downstream.
//
// Restore and Read: the server sends a ReadPlan (the copies of one object
// with their extents and volumes) and gets a ticket bound to the client
// whose agent will read; that agent calls Read with the ticket and gets
// the object stream in ReadChunks of at most ReadChunkBytes, read through
// mediaagent.ReadCopies (every record's CRC and the object's hash
// checked, failing over between copies per range, ranges no copy has
// reported as lost). The server then gets ReadDone. A ticket is used
// once and expires when its Restore stream ends.
//
// Run is the daemon: credentials, the server's Hello every HelloInterval,
// the gRPC server until its context ends.
package mediahost

import (
	"log/slog"
	"sync"
	"time"

	"daisy/internal/pki"
	pb "daisy/internal/rpc/daisypb"
)

// ProgressInterval is how often a running backup reports MediaProgress.
const ProgressInterval = time.Second

// ReadChunkBytes is the most object stream bytes one ReadChunk carries.
const ReadChunkBytes = 1 << 20

// Host is the MediaHost service of one media host. It is safe for
// concurrent use by the gRPC server.
type Host struct {
	pb.UnimplementedMediaHostServer

	name  string
	creds *pki.Credentials
	cat   *RemoteCatalog
	log   *slog.Logger

	mu      sync.Mutex
	jobs    map[uint64]*backupJob
	tickets map[string]*ticket
}

var _ pb.MediaHostServer = (*Host)(nil)

// New returns the service of the media host named name (its certificate's
// name, the host of its devices in daisy.yaml). creds are its own, used
// to dial the media hosts downstream of its buffers; server is the
// server's Server service, whose volume RPCs are the catalog of the
// pools its devices write. log may be nil.
func New(name string, creds *pki.Credentials, server pb.ServerClient, log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Host{
		name: name, creds: creds, cat: &RemoteCatalog{Client: server}, log: log.With("media_host", name),
		jobs: map[uint64]*backupJob{}, tickets: map[string]*ticket{},
	}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }
