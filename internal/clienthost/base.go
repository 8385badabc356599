package clienthost

import (
	"context"
	"errors"
	"fmt"
	"io"

	"daisy/internal/agent"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// remoteBase is the base tree of an incremental or differential backup as
// the server's catalog holds it (agent.Base over Server.BaseRoots, BaseDir
// and BaseUnder): the agent asks for it directory by directory, so that
// its memory grows with the largest directory, not with the tree.
type remoteBase struct {
	ctx    context.Context
	server pb.ServerClient
	job    uint64
	object string // the object being backed up
}

func (b *remoteBase) req(dir string) *pb.BaseRequest {
	return &pb.BaseRequest{Job: b.job, Object: b.object, Dir: dir}
}

// Dir returns the base's entries directly in dir, by base name.
func (b *remoteBase) Dir(dir string) (map[string]agent.BaseEntry, error) {
	es, err := b.server.BaseDir(b.ctx, b.req(dir))
	if err != nil {
		return nil, fmt.Errorf("the server's base of object %s, directory %s: %s", b.object, dir, rpc.Message(err))
	}
	return rpc.BaseEntriesFromPB(es.GetEntries()), nil
}

// Roots returns the base's top entries, by path.
func (b *remoteBase) Roots() (map[string]agent.BaseEntry, error) {
	es, err := b.server.BaseRoots(b.ctx, b.req(""))
	if err != nil {
		return nil, fmt.Errorf("the server's base of object %s, its roots: %s", b.object, rpc.Message(err))
	}
	return rpc.BaseEntriesFromPB(es.GetEntries()), nil
}

// Under calls fn for every path strictly below dir in the base, as the
// server streams them.
func (b *remoteBase) Under(dir string, fn func(path string)) error {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	st, err := b.server.BaseUnder(ctx, b.req(dir))
	if err != nil {
		return fmt.Errorf("the server's base of object %s, the paths under %s: %s", b.object, dir, rpc.Message(err))
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the server's base of object %s, the paths under %s: %s", b.object, dir, rpc.Message(err))
		}
		for _, p := range m.GetPaths() {
			fn(p)
		}
	}
}
