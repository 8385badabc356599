// Package server is daisy server: the host of a fleet that holds
// daisy.yaml and the catalog, plans and runs the jobs, and orders the
// agents (internal/clienthost) and media hosts (internal/mediahost) what
// to move (proto/daisy/v1).
//
// Server is the Server service of the protocol (daisypb.ServerServer):
//   - Hello keeps the fleet's registry (every host that said Hello: its
//     role, name, version, when it was last seen), read by Hosts.
//   - The volume RPCs are the catalog's volumes for the media hosts: a
//     media host may read and write the volumes of a pool only when a
//     device of that host writes the pool (a media agent of the backup
//     topology or of a copy job whose device names the host).
//   - BaseRoots, BaseDir and BaseUnder give an agent the base tree of an
//     incremental or differential object it is backing up, and
//     RestoreSelection the entries a restore takes from one object of its
//     chain; both only for a running job of this server that ordered that
//     object from the calling client's agent (so that client A never reads
//     what B backed up).
//
// Backup (Fleet.Backup) runs a backup job of jobs.Backup with a Plane of
// this package: jobs keeps the one commit path (objects and copies
// recorded, file lists, warnings, extents, copies good only once their
// media agent synced, job states), the plane moves the data on the hosts
// (backup.go). A source whose agent fails or vanishes once it began its
// object has the backup-group buffer its push feeds failed on its media
// host (FailBuffer), so that a push that never comes does not hold up the
// job: only that source's copies fail. Restore (Fleet.Restore) restores
// a source's chain onto its client through the media hosts that hold the
// copies (restore.go). Run is the daemon (run.go); the jobs of its
// schedules run through the API's table of jobs, as those the API starts.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// Version is the daisy version the server announces in HelloReply.
var Version = "dev"

// HostInfo is one host of the fleet as the registry knows it.
type HostInfo struct {
	Role     pki.Role  `json:"role"`
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Format   uint32    `json:"format_version"`
	Address  string    `json:"address,omitempty"` // where the call came from
	First    time.Time `json:"first_seen"`
	LastSeen time.Time `json:"last_seen"`
}

// Server is the Server service of daisy server. It is safe for concurrent
// use.
type Server struct {
	pb.UnimplementedServerServer

	name  string
	cat   *catalog.Catalog
	creds *pki.Credentials
	log   *slog.Logger

	mu       sync.Mutex
	cfg      *config.Config
	cfgData  []byte
	hosts    map[pki.Peer]*HostInfo
	backups  map[uint64]*jobs.RemoteBackup
	restores map[uint64]*restoreJob
}

var _ pb.ServerServer = (*Server)(nil)

// New returns the service of the server named by cfg (cfg.Server.Host)
// over cat; data is cfg's file as read (sent to the media hosts in their
// plans), creds the server's own certificate (to dial agents and media
// hosts). log may be nil.
func New(cfg *config.Config, data []byte, cat *catalog.Catalog, creds *pki.Credentials, log *slog.Logger) (*Server, error) {
	if cfg.Server == nil {
		return nil, fmt.Errorf("server: %s declares no server (server: {host, address})", cfg.File)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		name: cfg.Server.Host, cat: cat, creds: creds, log: log,
		cfg: cfg, cfgData: data,
		hosts: map[pki.Peer]*HostInfo{}, backups: map[uint64]*jobs.RemoteBackup{}, restores: map[uint64]*restoreJob{},
	}, nil
}

// LoadConfig reads and checks the configuration at path: the file's bytes
// and what they say.
func LoadConfig(path string) (*config.Config, []byte, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", cfg.File, err)
	}
	// What the media hosts get is what was checked.
	if cfg, err = config.Parse(cfg.File, data); err != nil {
		return nil, nil, err
	}
	return cfg, data, nil
}

// Config returns the configuration in force and its file's bytes.
func (s *Server) Config() (*config.Config, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.cfgData
}

// SetConfig puts a new configuration in force (a reload): jobs running
// keep the one they started with.
func (s *Server) SetConfig(cfg *config.Config, data []byte) error {
	if cfg.Server == nil || cfg.Server.Host != s.name {
		return fmt.Errorf("server %s: the new %s names server %v: a reload cannot rename the server", s.name, cfg.File, cfg.Server)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg, s.cfgData = cfg, data
	return nil
}

// Name is the server's name (of its certificate).
func (s *Server) Name() string { return s.name }

// Catalog is the server's catalog.
func (s *Server) Catalog() *catalog.Catalog { return s.cat }

// Hosts returns the registry: every agent and media host that said Hello,
// by role and name.
func (s *Server) Hosts() []HostInfo {
	s.mu.Lock()
	out := make([]HostInfo, 0, len(s.hosts))
	for _, h := range s.hosts {
		out = append(out, *h)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Hello records the calling agent or media host in the registry.
// Roles: client, media-host.
func (s *Server) Hello(ctx context.Context, r *pb.HelloRequest) (*pb.HelloReply, error) {
	p, err := rpc.Require(ctx, pki.RoleClient, pki.RoleMediaHost)
	if err != nil {
		return nil, err
	}
	cfg, _ := s.Config()
	known := false
	switch p.Role {
	case pki.RoleClient:
		_, known = cfg.Client(p.Name)
	case pki.RoleMediaHost:
		_, known = cfg.MediaHost(p.Name)
	}
	now := time.Now().UTC()
	s.mu.Lock()
	h := s.hosts[p]
	if h == nil {
		h = &HostInfo{Role: p.Role, Name: p.Name, First: now}
		s.hosts[p] = h
	}
	first := h.LastSeen.IsZero()
	h.Version, h.Format, h.LastSeen = r.GetVersion(), r.GetFormatVersion(), now
	h.Address = peerAddr(ctx)
	s.mu.Unlock()
	if first {
		if known {
			s.log.Info("host said hello", "peer", p.String(), "version", r.GetVersion(), "address", h.Address)
		} else {
			s.log.Warn("a host the configuration does not name said hello", "peer", p.String(), "file", cfg.File)
		}
	}
	return &pb.HelloReply{Server: s.name, Version: Version}, nil
}

// statusOf maps a catalog error to a gRPC status: NotFound for what is
// not there, Internal for the rest.
func statusOf(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return status.Errorf(codes.NotFound, "server: %s: %v", what, err)
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	return status.Errorf(codes.Internal, "server: %s: %v", what, err)
}
