package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/mediaagent"
	"daisy/internal/records"
)

// fakePlane plays the fleet's agents and media hosts.
type fakePlane func(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error)

func (f fakePlane) RunBackup(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
	return f(ctx, b)
}

func remoteSetup(t *testing.T) (*config.Config, *catalog.Catalog) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "daisy.yaml"), []byte(twoSourcesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"S", "A"} {
		if err := os.MkdirAll(filepath.Join(dir, "data", s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "daisy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(context.Background(), cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cfg, cat
}

// A remote backup commits through the same path as one in process: an
// agent that never began its object fails that source with the plane's
// reason; a copy its media agent failed is failed and the object with it;
// a missing root fails the object; nothing is left writing.
func TestRemoteBackupCommits(t *testing.T) {
	ctx := context.Background()
	cfg, cat := remoteSetup(t)
	sid := records.NewID()
	plane := fakePlane(func(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
		orders := b.Orders()
		if len(orders) != 2 || orders[0].Source.Name != "S" || orders[0].Level != LevelFull || orders[0].Started.IsZero() {
			t.Errorf("orders %+v", orders)
		}
		if err := b.Skipped("S", "/x", "no", false); err == nil {
			t.Error("a warning before the object began was taken")
		}
		if err := b.Begin(ctx, "S", sid); err != nil {
			t.Fatal(err)
		}
		if err := b.Begin(ctx, "S", records.NewID()); err == nil {
			t.Error("a second Begin of S was taken")
		}
		if err := b.Begin(ctx, "A", sid); err == nil {
			t.Error("A took S's object ID")
		}
		if err := b.Begin(ctx, "nosuch", records.NewID()); err == nil {
			t.Error("a source not in the job began")
		}
		if _, _, ok := b.ObjectOf(ctx, sid.String()); !ok {
			t.Error("ObjectOf does not know the begun object")
		}
		if err := b.Files(ctx, "S", []catalog.File{{Path: "/data/S", Type: '5', Mode: 0o755}}); err != nil {
			t.Fatal(err)
		}
		if err := b.Skipped("S", "/data/S/secret", "permission denied", false); err != nil {
			t.Fatal(err)
		}
		b.End("S", records.EndInfo{Length: 1024, Records: 1, Hash: "sha256:00"}, 1, 0, 0, nil)
		b.End("A", records.EndInfo{}, 0, 0, 0, errors.New("client c2: connection refused"))
		return map[string][]mediaagent.CopyResult{"bma0": {{Object: sid, Copy: 1, Err: errors.New("media host m1: connection lost")}}}, nil
	})
	res, err := Backup(ctx, cfg, cat, BackupOptions{Plane: plane})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != JobFailed || len(res.Objects) != 2 || res.Warnings != 1 {
		t.Fatalf("job %s, %d objects, %d warnings: %+v", res.State, len(res.Objects), res.Warnings, res)
	}
	s, a := res.Objects[0], res.Objects[1]
	if s.Source != "S" || s.Object != sid.String() || s.State != ObjectFailed || len(s.Copies) != 1 ||
		s.Copies[0].State != CopyFailed || !strings.Contains(s.Copies[0].Error, "media host m1: connection lost") {
		t.Errorf("S: %+v", s)
	}
	if a.Source != "A" || a.Object != "" || a.State != ObjectFailed || !strings.Contains(a.Error, "client c2: connection refused") {
		t.Errorf("A: %+v", a)
	}
	if got := objectState(t, cat, sid.String()); got != ObjectFailed {
		t.Errorf("S's object is %s in the catalog", got)
	}
	checkNothingUnfinished(t, cat)

	// A missing root the source does not allow fails the object even
	// though its stream ended well; a plane that returns without ending a
	// source fails it.
	id2 := records.NewID()
	plane = func(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
		if err := b.Begin(ctx, "S", id2); err != nil {
			t.Fatal(err)
		}
		_ = b.Skipped("S", "/data/S", "no such file or directory", true)
		b.End("S", records.EndInfo{Length: 1024, Records: 1, Hash: "sha256:00"}, 0, 0, 0, nil)
		return nil, nil
	}
	res, err = Backup(ctx, cfg, cat, BackupOptions{Plane: plane})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects[0].State != ObjectFailed || !strings.Contains(res.Objects[0].Error, "does not exist") {
		t.Errorf("missing root: %+v", res.Objects[0])
	}
	if res.Objects[1].State != ObjectFailed || !strings.Contains(res.Objects[1].Error, "before its agent did") {
		t.Errorf("source left without an end: %+v", res.Objects[1])
	}
	checkNothingUnfinished(t, cat)
}

// The extents a remote media agent reports count the records of its
// blocks for the media agent of the copy: a report that grows an extent
// adds only its new records, a new extent all of its own; a report of a
// copy the object's chain lacks, or of an object not the job's, counts
// for nobody.
func TestRemoteBackupCountsRecords(t *testing.T) {
	ctx := context.Background()
	cfg, cat := remoteSetup(t)
	sid := records.NewID()
	var got int64
	plane := fakePlane(func(ctx context.Context, b *RemoteBackup) (map[string][]mediaagent.CopyResult, error) {
		if err := b.Begin(ctx, "S", sid); err != nil {
			t.Fatal(err)
		}
		for _, r := range []mediaagent.ExtentReport{
			{Object: sid, Copy: 1, Seq: 0, Extent: mediaagent.Extent{Records: 3}},
			{Object: sid, Copy: 1, Seq: 0, Extent: mediaagent.Extent{Records: 5}},
			{Object: sid, Copy: 1, Seq: 1, Extent: mediaagent.Extent{Records: 2}},
			{Object: sid, Copy: 2, Seq: 0, Extent: mediaagent.Extent{Records: 100}},
			{Object: records.NewID(), Copy: 1, Seq: 0, Extent: mediaagent.Extent{Records: 1000}},
		} {
			b.Extent(r)
		}
		for _, a := range b.Monitor().Agents {
			if a.Name == "bma0" {
				got = a.Records.Load()
			}
		}
		b.End("S", records.EndInfo{}, 0, 0, 0, errors.New("stopped by the test"))
		b.End("A", records.EndInfo{}, 0, 0, 0, errors.New("stopped by the test"))
		return nil, nil
	})
	if _, err := Backup(ctx, cfg, cat, BackupOptions{Plane: plane}); err != nil {
		t.Fatal(err)
	}
	if got != 7 {
		t.Errorf("bma0 wrote %d records, want 7 (5 of extent 0, 2 of extent 1)", got)
	}
}
