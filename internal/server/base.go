package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// basePaths is how many paths a BasePaths message carries, and
// selectionOffsets how many offsets an Offsets message.
const (
	basePaths        = 1000
	selectionOffsets = 4096
)

// base returns the base tree of the object of r, once the caller is the
// client whose agent the server ordered that object from in a running
// job.
func (s *Server) base(ctx context.Context, r *pb.BaseRequest) (agent.Base, error) {
	p, err := rpc.Require(ctx, pki.RoleClient)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	b := s.backups[r.GetJob()]
	s.mu.Unlock()
	if b == nil {
		return nil, status.Errorf(codes.PermissionDenied, "server %s: %s asked for the base of object %q of job %d, which is not a backup running here", s.name, p, r.GetObject(), r.GetJob())
	}
	src, base, ok := b.ObjectOf(ctx, r.GetObject())
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "server %s: %s asked for the base of object %q, which job %d did not order", s.name, p, r.GetObject(), r.GetJob())
	}
	if err := p.ActFor(src.Client); err != nil {
		s.log.Warn("refused: a client asked for the base of another client's object", "peer", p.String(), "object", r.GetObject(), "source", src.Name, "job", r.GetJob())
		return nil, status.Errorf(codes.PermissionDenied, "server %s: object %s of source %s: %v", s.name, r.GetObject(), src.Name, err)
	}
	if base == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "server %s: object %s of source %s is a full backup: it has no base", s.name, r.GetObject(), src.Name)
	}
	return base, nil
}

// BaseRoots returns the base's top entries by path. Role: client, for
// its own object of a running job.
func (s *Server) BaseRoots(ctx context.Context, r *pb.BaseRequest) (*pb.BaseEntries, error) {
	b, err := s.base(ctx, r)
	if err != nil {
		return nil, err
	}
	m, err := b.Roots()
	if err != nil {
		return nil, statusOf("base roots of "+r.GetObject(), err)
	}
	return entries(m), nil
}

// BaseDir returns the base's entries directly in r.Dir. Role: client, for
// its own object of a running job.
func (s *Server) BaseDir(ctx context.Context, r *pb.BaseRequest) (*pb.BaseEntries, error) {
	b, err := s.base(ctx, r)
	if err != nil {
		return nil, err
	}
	m, err := b.Dir(r.GetDir())
	if err != nil {
		return nil, statusOf("base directory "+r.GetDir()+" of "+r.GetObject(), err)
	}
	return entries(m), nil
}

func entries(m map[string]agent.BaseEntry) *pb.BaseEntries {
	out := &pb.BaseEntries{Entries: make([]*pb.BaseEntry, 0, len(m))}
	for name, e := range m {
		out.Entries = append(out.Entries, rpc.BaseEntryToPB(name, e))
	}
	return out
}

// BaseUnder streams every path strictly below r.Dir in the base. Role:
// client, for its own object of a running job.
func (s *Server) BaseUnder(r *pb.BaseRequest, stream pb.Server_BaseUnderServer) error {
	b, err := s.base(stream.Context(), r)
	if err != nil {
		return err
	}
	var batch []string
	var sendErr error
	err = b.Under(r.GetDir(), func(p string) {
		if sendErr != nil {
			return
		}
		batch = append(batch, p)
		if len(batch) >= basePaths {
			sendErr = stream.Send(&pb.BasePaths{Paths: batch})
			batch = nil
		}
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return statusOf("base paths under "+r.GetDir()+" of "+r.GetObject(), err)
	}
	if len(batch) > 0 {
		return stream.Send(&pb.BasePaths{Paths: batch})
	}
	return nil
}

// restoreJob is a restore the server ordered from a client's agent: the
// objects of its chain, by ID, that the agent may ask a selection of.
type restoreJob struct {
	client string
	chain  []catalog.Object
	index  map[string]int // object → its place in chain
	// picked, for a restore of selected paths, holds each object's
	// selected entries (jobs.SelectPaths); nil for a whole tree.
	picked map[string][]catalog.File
}

// RestoreSelection streams the offsets of the entries a restore takes
// from one object of its chain (catalog.ChainEntries: those no newer
// object of the chain records again, deletions left out; for a restore of
// selected paths, those of them jobs.SelectPaths picked), ascending.
// Role: client, for a restore the server ordered from its agent.
func (s *Server) RestoreSelection(r *pb.SelectionRequest, stream pb.Server_RestoreSelectionServer) error {
	ctx := stream.Context()
	p, err := rpc.Require(ctx, pki.RoleClient)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rj := s.restores[r.GetJob()]
	s.mu.Unlock()
	if rj == nil {
		return status.Errorf(codes.PermissionDenied, "server %s: %s asked for the selection of object %q of job %d, which is not a restore running here", s.name, p, r.GetObject(), r.GetJob())
	}
	if err := p.ActFor(rj.client); err != nil {
		s.log.Warn("refused: a client asked for the selection of another client's restore", "peer", p.String(), "object", r.GetObject(), "job", r.GetJob())
		return status.Errorf(codes.PermissionDenied, "server %s: restore job %d: %v", s.name, r.GetJob(), err)
	}
	i, ok := rj.index[r.GetObject()]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "server %s: object %q is not in the chain of restore job %d", s.name, r.GetObject(), r.GetJob())
	}
	batch := make([]int64, 0, selectionOffsets)
	each := func(fn func(catalog.File) error) error { return s.cat.ChainEntries(ctx, rj.chain, i, fn) }
	if rj.picked != nil {
		each = func(fn func(catalog.File) error) error {
			for _, f := range rj.picked[r.GetObject()] {
				if err := fn(f); err != nil {
					return err
				}
			}
			return nil
		}
	}
	err = each(func(f catalog.File) error {
		batch = append(batch, f.Offset)
		if len(batch) >= selectionOffsets {
			if err := stream.Send(&pb.Offsets{Offsets: batch}); err != nil {
				return err
			}
			batch = batch[:0]
		}
		return nil
	})
	if err != nil {
		return statusOf("selection of "+r.GetObject(), err)
	}
	if len(batch) > 0 {
		return stream.Send(&pb.Offsets{Offsets: batch})
	}
	return nil
}

// registerBackup makes a running backup's objects known to the Base RPCs;
// the function it returns forgets them.
func (s *Server) registerBackup(job uint64, b *jobs.RemoteBackup) func() {
	s.mu.Lock()
	s.backups[job] = b
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.backups, job)
		s.mu.Unlock()
	}
}

// registerRestore makes a restore's chain known to RestoreSelection.
func (s *Server) registerRestore(job uint64, rj *restoreJob) func() {
	s.mu.Lock()
	s.restores[job] = rj
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.restores, job)
		s.mu.Unlock()
	}
}
