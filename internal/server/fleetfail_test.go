package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/records"
	pb "daisy/internal/rpc/daisypb"
)

// noPushAgent is an agent that begins its objects and takes Go, and then
// never pushes: for a source in vanish its Backup stream breaks (the
// agent died), for any other it reports that it cannot read the source.
type noPushAgent struct {
	pb.UnimplementedAgentServer
	vanish map[string]bool
}

func (a *noPushAgent) Backup(st pb.Agent_BackupServer) error {
	m, err := st.Recv()
	if err != nil {
		return err
	}
	o := m.GetOrder()
	if err := st.Send(&pb.BackupEvent{Event: &pb.BackupEvent_Started{Started: &pb.ObjectStarted{Object: records.NewID().String()}}}); err != nil {
		return err
	}
	if m, err = st.Recv(); err != nil {
		return err
	}
	if m.GetGo() == nil {
		return status.Errorf(codes.InvalidArgument, "fake agent: %T, not Go", m.GetControl())
	}
	if a.vanish[o.GetSource()] {
		return status.Errorf(codes.Unavailable, "fake agent of %s died after Go", o.GetClient())
	}
	return st.Send(&pb.BackupEvent{Event: &pb.BackupEvent_Ended{Ended: &pb.ObjectEnded{
		Error: fmt.Sprintf("source %s: %s: permission denied, the source root cannot be read", o.GetSource(), o.GetPaths()[0])}}})
}

// An agent that fails or vanishes after Go and before it pushes does not
// hang the job: the server fails the buffers its pushes were to feed
// (FailBuffer), so that the media hosts end their jobs. Only that agent's
// objects fail, each saying why; the other sources' copies, on both
// media hosts, are good and restore.
func TestFleetAgentFailsBeforeItsPush(t *testing.T) {
	// c1 holds D1 (buffer BMA126.B3 on m1, mirrored twice on m2) and D2
	// (BMA124.B2 on m1, which also takes D3 and D4, mirrored twice).
	f := newTestFleetWith(t, map[string]pb.AgentServer{"c1": &noPushAgent{vanish: map[string]bool{"D1": true}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type answer struct {
		res *jobs.BackupResult
		err error
	}
	got := make(chan answer, 1)
	go func() {
		res, err := f.srv.Backup(ctx, jobs.BackupOptions{Level: jobs.LevelFull})
		got <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-got:
	case <-time.After(60 * time.Second):
		cancel()
		<-got
		t.Fatal("the backup hung: the media host waits for the pushes of c1's sources, which never come")
	}
	if a.err != nil {
		t.Fatalf("backup: %v", a.err)
	}
	res := a.res
	if res.State != catalog.JobFailed {
		t.Errorf("job: %s, want failed (objects of c1 failed)", res.State)
	}
	if len(res.Objects) != 5 {
		t.Fatalf("objects: %+v", res.Objects)
	}
	good := &jobs.BackupResult{}
	for _, o := range res.Objects {
		switch o.Source {
		case "D1", "D2":
			want := map[string]string{"D1": "died after Go", "D2": "the source root cannot be read"}[o.Source]
			if o.State != catalog.ObjectFailed || !strings.Contains(o.Error, "client c1") || !strings.Contains(o.Error, want) {
				t.Errorf("%s: %s %q, want failed, naming client c1 and %q", o.Source, o.State, o.Error, want)
			}
			if len(o.Copies) != copiesOf[o.Source] {
				t.Errorf("%s: %d copies, want %d", o.Source, len(o.Copies), copiesOf[o.Source])
			}
			for _, c := range o.Copies {
				if c.State != catalog.CopyFailed || !strings.Contains(c.Error, want) {
					t.Errorf("%s copy %d: %s %q, want failed saying %q", o.Source, c.Number, c.State, c.Error, want)
				}
			}
		default:
			if o.State != catalog.ObjectComplete || len(o.Copies) != copiesOf[o.Source] {
				t.Errorf("%s: %s %q, %d copies", o.Source, o.State, o.Error, len(o.Copies))
			}
			for _, c := range o.Copies {
				if c.State != catalog.CopyGood || c.Extents == 0 {
					t.Errorf("%s copy %d: %+v", o.Source, c.Number, c)
				}
			}
			good.Objects = append(good.Objects, o)
		}
	}
	for _, b := range []string{"BMA126.B3", "BMA124.B2"} {
		if !logged(f.logs.String(), "media_host=m1", "buffer failed by the server", "buffer="+b, "client c1") {
			t.Errorf("m1 did not log that the server failed buffer %s, naming client c1", b)
		}
	}
	f.restoreAll(good, "after-c1-failed")
}

// logged reports whether a line of logs holds every one of parts.
func logged(logs string, parts ...string) bool {
	for _, l := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
