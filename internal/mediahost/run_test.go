package mediahost

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"daisy/internal/pki"
	"daisy/internal/rpc"
	pb "daisy/internal/rpc/daisypb"
)

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// Run says Hello to the server, serves the MediaHost service with the
// host's certificate, and returns once its context is done.
func TestRun(t *testing.T) {
	f := newFleet(t, "1MiB")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Name: "m1", Listen: addr, PKIDir: f.pkiDir, ServerAddress: f.addrs["srv"], ServerName: "srv",
			Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	}()
	for deadline := time.Now().Add(10 * time.Second); f.server.hellos.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run never said Hello")
		}
	}
	c, err := rpc.DialPeer(f.creds(peerA), pki.Peer{Role: pki.RoleMediaHost, Name: "m1"}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd, err := pb.NewMediaHostClient(c).Read(ctx, &pb.ReadRequest{Ticket: "nope"})
	if err == nil {
		_, err = rd.Recv()
	}
	wantCode(t, err, codes.NotFound, "media host m1", "no read ticket")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(StopGrace + 5*time.Second):
		t.Fatal("Run did not return")
	}
	noHostGoroutines(t)
}

// A server that cannot be reached is logged, and the host serves on; bad
// credentials stop Run at once with a message naming them.
func TestRunWithoutServer(t *testing.T) {
	f := newFleet(t, "1MiB")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Name: "m2", Listen: freeAddr(t), PKIDir: f.pkiDir, ServerAddress: freeAddr(t), ServerName: "srv",
			Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(f.logs.String(), "the server cannot be reached; serving on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the unreachable server:\n%s", f.logs)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned without its server: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{Name: "m9", Listen: freeAddr(t), PKIDir: f.pkiDir, ServerAddress: f.addrs["srv"], ServerName: "srv"})
	if err == nil || !strings.Contains(err.Error(), "media-host/m9") {
		t.Fatalf("Run without credentials: %v", err)
	}
}
