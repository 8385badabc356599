package mediahost

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "daisy/internal/rpc/daisypb"
)

// A ticket is read only by the client it was made for, once, and only
// while its Restore stream lasts; only the server may ask for one.
func TestReadRefusals(t *testing.T) {
	f := newFleet(t, "4MiB")
	ctx := context.Background()
	m1, m2 := startBoth(t, f, 13, "sa")
	o := randomObject(t, 300<<10)
	if _, err := f.push(ctx, peerA, peerM1, 13, "bma0.B1", "sa", o, nil, nil); err != nil {
		t.Fatal(err)
	}
	m1.wait(t, 30*time.Second)
	m2.wait(t, 30*time.Second)
	c := copyOf(t, m1.results(t)["bma0"], o)

	// A client may not ask for a ticket.
	rs, err := f.mediaHost(peerA, peerM1).Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = rs.Send(&pb.ReadControl{Control: &pb.ReadControl_Plan{Plan: f.readPlan(t, o, "client-a", c)}})
	_, err = rs.Recv()
	wantCode(t, err, codes.PermissionDenied, "client/client-a", "only a server")

	rctx, cancel := context.WithCancel(ctx)
	rs, err = f.mediaHost(peerSrv, peerM1).Restore(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&pb.ReadControl{Control: &pb.ReadControl_Plan{Plan: f.readPlan(t, o, "client-a", c)}}); err != nil {
		t.Fatal(err)
	}
	ev, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	tk := ev.GetTicket().GetTicket()
	read := func(as string) error {
		p := peerA
		if as == "client-b" {
			p = peerB
		}
		rd, err := f.mediaHost(p, peerM1).Read(ctx, &pb.ReadRequest{Ticket: tk})
		if err != nil {
			return err
		}
		for {
			if _, err := rd.Recv(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	wantCode(t, read("client-b"), codes.PermissionDenied, "client/client-b", "made for client client-a")
	if err := read("client-a"); err != nil {
		t.Fatal(err)
	}
	if ev, err := rs.Recv(); err != nil || ev.GetDone().GetError() != "" || ev.GetDone().GetBytes() != int64(len(o.data)) {
		t.Fatalf("read done: %v, %v", ev, err)
	}
	wantCode(t, read("client-a"), codes.NotFound, "no read ticket")
	cancel()

	// A ticket expires with its Restore stream.
	rs, err = f.mediaHost(peerSrv, peerM1).Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&pb.ReadControl{Control: &pb.ReadControl_Plan{Plan: f.readPlan(t, o, "client-a", c)}}); err != nil {
		t.Fatal(err)
	}
	if ev, err = rs.Recv(); err != nil {
		t.Fatal(err)
	}
	tk = ev.GetTicket().GetTicket()
	if err := rs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); err != io.EOF {
		t.Fatalf("the restore stream after its end: %v", err)
	}
	wantCode(t, read("client-a"), codes.NotFound, "no read ticket")
	noHostGoroutines(t)
}
