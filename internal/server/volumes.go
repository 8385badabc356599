package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// peerAddr is the network address a call came from.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// writesPool reports whether a device of media host host writes pool: a
// media agent of the backup topology or of a copy job has that pool and
// a device on that host.
func writesPool(cfg *config.Config, host, pool string) bool {
	agents := cfg.MediaAgents()
	for i := range cfg.CopyJobs {
		agents = append(agents, cfg.CopyJobs[i].MediaAgents()...)
	}
	for _, ma := range agents {
		if ma.Pool == pool && cfg.HostOf(ma) == host {
			return true
		}
	}
	return false
}

// poolCaller checks that the call comes from a media host whose devices
// write every one of pools.
func (s *Server) poolCaller(ctx context.Context, pools ...string) (pki.Peer, error) {
	p, err := rpc.Require(ctx, pki.RoleMediaHost)
	if err != nil {
		return p, err
	}
	cfg, _ := s.Config()
	for _, pool := range pools {
		if !writesPool(cfg, p.Name, pool) {
			return p, status.Errorf(codes.PermissionDenied, "server %s: %s may not use the volumes of pool %q: no device of that host writes it in %s", s.name, p, pool, cfg.File)
		}
	}
	return p, nil
}

// volumeOf returns the catalog's volume id (or label) once the caller may
// use its pool.
func (s *Server) volumeOf(ctx context.Context, id string) (catalog.Volume, error) {
	if _, err := rpc.Require(ctx, pki.RoleMediaHost); err != nil {
		return catalog.Volume{}, err
	}
	v, err := s.cat.Volume(ctx, id)
	if err != nil {
		return v, statusOf("volume "+id, err)
	}
	if _, err := s.poolCaller(ctx, v.Pool); err != nil {
		return v, err
	}
	return v, nil
}

// PoolVolumes lists the volumes of a pool. Role: media-host writing it.
func (s *Server) PoolVolumes(ctx context.Context, r *pb.PoolRequest) (*pb.VolumeList, error) {
	if _, err := s.poolCaller(ctx, r.GetPool()); err != nil {
		return nil, err
	}
	vs, err := s.cat.Volumes(ctx, r.GetPool())
	if err != nil {
		return nil, statusOf("volumes of pool "+r.GetPool(), err)
	}
	l := &pb.VolumeList{Volumes: make([]*pb.Volume, 0, len(vs))}
	for _, v := range vs {
		l.Volumes = append(l.Volumes, rpc.VolumeToPB(v))
	}
	return l, nil
}

// GetVolume returns a volume by ID or label. Role: media-host writing its
// pool.
func (s *Server) GetVolume(ctx context.Context, r *pb.VolumeRequest) (*pb.Volume, error) {
	v, err := s.volumeOf(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	return rpc.VolumeToPB(v), nil
}

// CreateVolume records a new volume. Role: media-host writing its pool.
func (s *Server) CreateVolume(ctx context.Context, m *pb.Volume) (*pb.Empty, error) {
	v := rpc.VolumeFromPB(m)
	p, err := s.poolCaller(ctx, v.Pool)
	if err != nil {
		return nil, err
	}
	if err := s.cat.CreateVolume(ctx, v); err != nil {
		return nil, statusOf("create volume "+v.Label, err)
	}
	s.log.Info("volume created", "media_host", p.Name, "volume", v.Label, "pool", v.Pool)
	return &pb.Empty{}, nil
}

// UpdateVolume records a volume's state and size. Role: media-host
// writing its pool (the one recorded and the one sent).
func (s *Server) UpdateVolume(ctx context.Context, m *pb.Volume) (*pb.Empty, error) {
	v := rpc.VolumeFromPB(m)
	old, err := s.volumeOf(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if old.Pool != v.Pool {
		if _, err := s.poolCaller(ctx, v.Pool); err != nil {
			return nil, err
		}
	}
	if err := s.cat.UpdateVolume(ctx, v); err != nil {
		return nil, statusOf("update volume "+v.ID, err)
	}
	return &pb.Empty{}, nil
}

// RelabelVolume records the new ID of a recycled volume. Role:
// media-host writing its pool.
func (s *Server) RelabelVolume(ctx context.Context, r *pb.RelabelRequest) (*pb.Empty, error) {
	v := rpc.VolumeFromPB(r.GetVolume())
	old, err := s.volumeOf(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	if old.Pool != v.Pool {
		if _, err := s.poolCaller(ctx, v.Pool); err != nil {
			return nil, err
		}
	}
	if err := s.cat.RelabelVolume(ctx, old.ID, v); err != nil {
		return nil, statusOf(fmt.Sprintf("relabel volume %s", r.GetId()), err)
	}
	return &pb.Empty{}, nil
}

// GoodExtentsOnVolume counts the good copies' extents on a volume. Role:
// media-host writing its pool.
func (s *Server) GoodExtentsOnVolume(ctx context.Context, r *pb.VolumeRequest) (*pb.Count, error) {
	v, err := s.volumeOf(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	n, err := s.cat.GoodExtentsOnVolume(ctx, v.ID)
	if err != nil {
		return nil, statusOf("good extents on volume "+v.ID, err)
	}
	return &pb.Count{N: int64(n)}, nil
}
