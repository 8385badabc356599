package clienthost

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// TestRun runs the daemon: it says Hello, serves the server and only the
// server, keeps serving while the server cannot be reached, and stops
// when its context ends.
func TestRun(t *testing.T) {
	dir, cs := newCreds(t)
	srv := newFakeServer()
	srvAddr, _ := serve(t, pki.ServerConfig(cs[srvPeer], pki.RoleClient, pki.RoleMediaHost), func(s *grpc.Server) { pb.RegisterServerServer(s, srv) })
	// A port where no server listens.
	l, err := rpc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()

	for _, c := range []struct {
		name, server string
		hello        bool
	}{{"server up", srvAddr, true}, {"server unreachable", deadAddr, false}} {
		ctx, cancel := context.WithCancel(context.Background())
		addrs := make(chan net.Addr, 1)
		ran := make(chan error, 1)
		go func() {
			ran <- Run(ctx, Options{Name: cliA.Name, Listen: "127.0.0.1:0", PKIDir: dir, ServerAddress: c.server, ServerName: srvPeer.Name,
				Listening: func(a net.Addr) { addrs <- a }})
		}()
		var addr string
		select {
		case a := <-addrs:
			addr = a.String()
		case err := <-ran:
			t.Fatalf("%s: Run: %v", c.name, err)
		}
		if c.hello {
			deadline := time.Now().Add(10 * time.Second)
			for {
				srv.mu.Lock()
				n := srv.hellos
				srv.mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: no Hello", c.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		// The server is served (a malformed order is answered as such)...
		ac := pb.NewAgentClient(dial(t, cs[srvPeer], cliA, addr))
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := ac.Restore(cctx, &pb.RestoreOrder{Target: "relative"})
		if err == nil {
			_, err = st.Recv()
		}
		ccancel()
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: the server's call: %v, want InvalidArgument", c.name, err)
		}
		// ...and a client is not.
		bc := pb.NewAgentClient(dial(t, cs[cliB], cliA, addr))
		cctx, ccancel = context.WithTimeout(context.Background(), 10*time.Second)
		st, err = bc.Restore(cctx, &pb.RestoreOrder{Target: "relative"})
		if err == nil {
			_, err = st.Recv()
		}
		ccancel()
		if err == nil || status.Code(err) == codes.InvalidArgument {
			t.Fatalf("%s: client-b's call: %v, want refused", c.name, err)
		}
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Fatalf("%s: Run: %v", c.name, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: Run did not stop", c.name)
		}
	}
	noLeak(t)

	// Credentials that are not there.
	if err := Run(context.Background(), Options{Name: "client-z", Listen: "127.0.0.1:0", PKIDir: dir, ServerAddress: srvAddr, ServerName: srvPeer.Name}); err == nil {
		t.Fatal("Run without credentials")
	}
}
