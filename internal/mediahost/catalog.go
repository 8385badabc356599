package mediahost

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/catalog"
	"daisy/internal/pools"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// CatalogTimeout bounds each call of a RemoteCatalog: a server that does
// not answer fails the volume operation (and the session that needed it)
// instead of holding a media agent forever.
const CatalogTimeout = 30 * time.Second

// RemoteCatalog is pools.Catalog over the server's Server service: the
// volumes of the pools this host's devices write live in the server's
// catalog. Errors the server answers NotFound wrap catalog.ErrNotFound.
type RemoteCatalog struct {
	Client pb.ServerClient
	// Timeout bounds each call (CatalogTimeout when 0).
	Timeout time.Duration
}

var _ pools.Catalog = (*RemoteCatalog)(nil)

func (c *RemoteCatalog) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.Timeout
	if t <= 0 {
		t = CatalogTimeout
	}
	return context.WithTimeout(ctx, t)
}

// remoteErr names the server call that failed and keeps NotFound.
func remoteErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("server catalog: %s: %w: %s", what, catalog.ErrNotFound, rpc.Message(err))
	}
	return fmt.Errorf("server catalog: %s: %s", what, rpc.Message(err))
}

// Volumes lists the volumes of a pool (Server.PoolVolumes).
func (c *RemoteCatalog) Volumes(ctx context.Context, pool string) ([]catalog.Volume, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	l, err := c.Client.PoolVolumes(ctx, &pb.PoolRequest{Pool: pool})
	if err != nil {
		return nil, remoteErr("volumes of pool "+pool, err)
	}
	out := make([]catalog.Volume, 0, len(l.GetVolumes()))
	for _, v := range l.GetVolumes() {
		out = append(out, rpc.VolumeFromPB(v))
	}
	return out, nil
}

// Volume returns the volume with that ID or label (Server.GetVolume).
func (c *RemoteCatalog) Volume(ctx context.Context, idOrLabel string) (catalog.Volume, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	v, err := c.Client.GetVolume(ctx, &pb.VolumeRequest{Id: idOrLabel})
	if err != nil {
		return catalog.Volume{}, remoteErr("volume "+idOrLabel, err)
	}
	return rpc.VolumeFromPB(v), nil
}

// CreateVolume records a new volume (Server.CreateVolume).
func (c *RemoteCatalog) CreateVolume(ctx context.Context, v catalog.Volume) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.Client.CreateVolume(ctx, rpc.VolumeToPB(v))
	return remoteErr("create volume "+v.Label, err)
}

// UpdateVolume records a volume's state and size (Server.UpdateVolume).
func (c *RemoteCatalog) UpdateVolume(ctx context.Context, v catalog.Volume) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.Client.UpdateVolume(ctx, rpc.VolumeToPB(v))
	return remoteErr("update volume "+v.ID, err)
}

// RelabelVolume records the new ID of a recycled volume
// (Server.RelabelVolume).
func (c *RemoteCatalog) RelabelVolume(ctx context.Context, oldID string, v catalog.Volume) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.Client.RelabelVolume(ctx, &pb.RelabelRequest{Id: oldID, Volume: rpc.VolumeToPB(v)})
	return remoteErr("relabel volume "+oldID, err)
}

// GoodExtentsOnVolume counts the good copies' extents on a volume
// (Server.GoodExtentsOnVolume).
func (c *RemoteCatalog) GoodExtentsOnVolume(ctx context.Context, volumeID string) (int, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	n, err := c.Client.GoodExtentsOnVolume(ctx, &pb.VolumeRequest{Id: volumeID})
	if err != nil {
		return 0, remoteErr("good extents on volume "+volumeID, err)
	}
	return int(n.GetN()), nil
}
