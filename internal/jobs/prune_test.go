package jobs

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/pools"
	"daisy/internal/testtree"
)

const pruneYAML = `catalog:
  sqlite: state/catalog.db
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
  pool: p
sources:
  - name: S
    paths: [data/S]
pools:
  - name: p
    type: vtape
    directory: state/volumes/p
    volume_capacity: 2MiB
    retention: 14d
devices:
  - name: tape0
    type: vtape
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - name: B1
        source: S
`

// countVolumeFiles counts the volume files in a pool directory.
func countVolumeFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.vtape"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// Issue 4, acceptance 5: 40 daily backups under retention 14d. Volumes
// fill, roll over, become recyclable and are relabelled; the number of
// volume files stays bounded; every point that has not expired restores
// exactly the tree of its day.
func TestPruneFortyDays(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfgPath, []byte(pruneYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "data", "S")
	if err := testtree.Make(src, testtree.Spec{Seed: 4, SmallFiles: 10}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(ctx, cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	poolDir := cfg.Pools[0].Directory

	const days, retentionDays = 40, 14
	day0 := time.Now().Add(-days * 24 * time.Hour).Truncate(time.Hour)
	dayOf := map[string]int{} // object -> day
	ids := map[string]bool{}  // every volume ID ever seen
	maxFiles, recycledVolumes, relabelled := 0, 0, 0
	// Each backup takes 4 blocks of 64 KiB (session, ~100 KiB of data,
	// end); a 2 MiB volume (32 blocks; no new session once fewer than 8
	// are left) takes 6 days. 14 days live on at most ceil(14/6) = 3
	// volumes plus the one being filled, plus one recyclable volume not
	// reused yet.
	const daysPerVolume = 6
	const bound = (retentionDays+daysPerVolume-1)/daysPerVolume + 2
	for day := range days {
		// The tree changes every day: a file named after the day replaces
		// the one of the day before.
		os.Remove(filepath.Join(src, fmt.Sprintf("day-%02d", day-1)))
		data := make([]byte, 20<<10)
		rand.Read(data)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("day-%02d", day)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		snap := filepath.Join(dir, "snap", fmt.Sprint(day))
		os.MkdirAll(filepath.Dir(snap), 0o755)
		if out, err := exec.Command("cp", "-a", src, snap).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v\n%s", err, out)
		}
		before, _ := cat.Volumes(ctx, "p")
		res, err := Backup(ctx, cfg, cat, BackupOptions{})
		if err != nil || res.State != JobSuccess {
			t.Fatalf("day %d: backup %v, %+v", day, err, res)
		}
		id := res.Objects[0].Object
		dayOf[id] = day
		when := day0.Add(time.Duration(day) * 24 * time.Hour)
		if err := cat.SetObjectStarted(ctx, id, when); err != nil {
			t.Fatal(err)
		}
		after, _ := cat.Volumes(ctx, "p")
		// A recyclable volume that got a new ID under the same label.
		was := map[string]catalog.Volume{}
		for _, v := range before {
			was[v.Label] = v
		}
		for _, v := range after {
			ids[v.ID] = true
			if w, ok := was[v.Label]; ok && w.ID != v.ID {
				if w.State != pools.StateRecyclable {
					t.Fatalf("day %d: volume %s was relabelled while %s", day, v.Label, w.State)
				}
				relabelled++
			}
		}

		pr, err := Prune(ctx, cfg, cat, PruneOptions{Now: when.Add(time.Hour)})
		if err != nil {
			t.Fatalf("day %d: prune: %v", day, err)
		}
		recycledVolumes += len(pr.Recycled)
		for _, r := range pr.Removed {
			if d := dayOf[r.Object]; d > day-retentionDays {
				t.Fatalf("day %d: removed the object of day %d, within retention", day, d)
			}
		}
		objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(day+1, retentionDays); len(objs) != want {
			t.Fatalf("day %d: %d objects in the catalog, want %d", day, len(objs), want)
		}
		n := countVolumeFiles(t, poolDir)
		vols, _ := cat.Volumes(ctx, "p")
		if n != len(vols) {
			t.Fatalf("day %d: %d volume files, %d volumes in the catalog", day, n, len(vols))
		}
		maxFiles = max(maxFiles, n)
		if n > bound {
			t.Fatalf("day %d: %d volume files, want at most %d", day, n, bound)
		}
		// Every volume without a good copy that is not being appended to
		// is recyclable; every recyclable one holds nothing live.
		for _, v := range vols {
			good, err := cat.GoodExtentsOnVolume(ctx, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if v.State == pools.StateRecyclable && good > 0 {
				t.Fatalf("day %d: recyclable volume %s holds %d good extents", day, v.Label, good)
			}
			if v.State == pools.StateFull && good == 0 {
				t.Fatalf("day %d: full volume %s holds nothing live and is not recyclable", day, v.Label)
			}
		}
		if day == 20 || day == days-1 {
			restoreAll(t, cat, objs, dayOf, dir, src)
		}
	}
	t.Logf("%d volume IDs used, at most %d volume files, %d volumes made recyclable, %d relabelled", len(ids), maxFiles, recycledVolumes, relabelled)
	if relabelled == 0 || recycledVolumes == 0 {
		t.Fatalf("no volume was recycled (%d made recyclable, %d relabelled)", recycledVolumes, relabelled)
	}
	// Without recycling the 40 days would have needed more volume files
	// than the bound.
	if len(ids) <= bound || len(ids) <= maxFiles {
		t.Fatalf("%d volume IDs over 40 days in at most %d files (bound %d): volumes were not reused", len(ids), maxFiles, bound)
	}
}

// restoreAll restores every object in the catalog and compares it with the
// tree saved on its day.
func restoreAll(t *testing.T, cat *catalog.Catalog, objs []catalog.Object, dayOf map[string]int, dir, src string) {
	t.Helper()
	for _, o := range objs {
		day := dayOf[o.ID]
		target := filepath.Join(t.TempDir(), "r")
		if _, err := Restore(context.Background(), cat, RestoreOptions{Object: o.ID, Target: target}); err != nil {
			t.Fatalf("restore of day %d (%s): %v", day, o.ID, err)
		}
		diffs, err := testtree.Compare(filepath.Join(dir, "snap", fmt.Sprint(day)), filepath.Join(target, src))
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) > 0 {
			t.Fatalf("restore of day %d differs:\n%s", day, strings.Join(diffs, "\n"))
		}
	}
}

// guardCatalog records, without data, a pool with a 14-day retention and
// objects on two volumes: F (full, day 0) <- I1 (day 1) <- I2 (day 20),
// and X (full, day 0) alone on volume B.
func guardCatalog(t *testing.T) (*config.Config, *catalog.Catalog, map[string]string, time.Time) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	cfg := &config.Config{Pools: []config.Pool{
		{Name: "p", Type: "vtape", Directory: filepath.Join(dir, "p"), VolumeCapacity: 1 << 30, Retention: 14 * 24 * time.Hour},
		{Name: "keep", Type: "vtape", Directory: filepath.Join(dir, "keep"), VolumeCapacity: 1 << 30},
	}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"p", "keep"} {
		must(cat.EnsurePool(ctx, catalog.Pool{Name: p, Type: "vtape"}))
	}
	for _, v := range []struct{ id, pool string }{{"vol-a", "p"}, {"vol-b", "p"}, {"vol-k", "keep"}} {
		must(cat.CreateVolume(ctx, catalog.Volume{ID: v.id, Label: strings.ToUpper(v.id), Pool: v.pool, State: pools.StateFull, BlockSize: 65536, Blocks: 100}))
	}
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := map[string]string{"F": "0190aaaa-0000-7000-8000-000000000001", "I1": "0190aaaa-0000-7000-8000-000000000002",
		"I2": "0190aaaa-0000-7000-8000-000000000003", "X": "0190aaaa-0000-7000-8000-000000000004"}
	add := func(name, base string, day int, vol, pool string, block int64) {
		id := ids[name]
		level := "full"
		if base != "" {
			level = "incremental"
		}
		must(cat.AddObject(ctx, catalog.Object{ID: id, Source: "S", Client: "h", Level: level, Base: ids[base], Started: day0.Add(time.Duration(day) * 24 * time.Hour)}))
		must(cat.FinishObject(ctx, id, 1000, 3, 1, "sha256:00", catalog.ObjectComplete, time.Time{}))
		must(cat.AddCopy(ctx, catalog.Copy{ObjectID: id, Number: 1, Role: catalog.RoleBackup, Pool: pool}))
		must(cat.CommitCopy(ctx, id, 1, []catalog.Extent{{VolumeID: vol, FirstBlock: block, LastBlock: block, EndOffset: 1000}}))
	}
	add("F", "", 0, "vol-a", "p", 1)
	add("I1", "F", 1, "vol-a", "p", 2)
	add("I2", "I1", 20, "vol-a", "p", 3)
	add("X", "", 0, "vol-b", "p", 1)
	// X has a second copy in a pool without retention: only copy 1 expires.
	must(cat.AddCopy(ctx, catalog.Copy{ObjectID: ids["X"], Number: 2, Role: catalog.RoleCopy, Level: 1, Pool: "keep"}))
	must(cat.CommitCopy(ctx, ids["X"], 2, []catalog.Extent{{VolumeID: "vol-k", FirstBlock: 1, LastBlock: 1, EndOffset: 1000}}))
	return cfg, cat, ids, day0
}

// The dependency guard: a base that a live object depends on is never
// expired, nor the base of that base.
func TestPruneKeepsBaseOfLiveObject(t *testing.T) {
	ctx := context.Background()
	cfg, cat, ids, day0 := guardCatalog(t)
	res, err := Prune(ctx, cfg, cat, PruneOptions{Now: day0.Add(21 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].Object != ids["X"] || res.Expired[0].Copy != 1 {
		t.Fatalf("expired %+v, want only X copy 1", res.Expired)
	}
	if len(res.Removed) != 0 {
		t.Fatalf("removed %+v: X keeps its copy in pool keep", res.Removed)
	}
	kept := map[string]string{}
	for _, k := range res.Kept {
		kept[k.Object] = k.NeededBy
	}
	if kept[ids["I1"]] != ids["I2"] || kept[ids["F"]] != ids["I1"] || len(kept) != 2 {
		t.Fatalf("kept %+v, want F (for I1) and I1 (for I2)", res.Kept)
	}
	for _, n := range []string{"F", "I1", "I2"} {
		if _, err := cat.Copy(ctx, ids[n], 1); err != nil {
			t.Fatalf("copy of %s: %v", n, err)
		}
	}
	if len(res.Recycled) != 1 || res.Recycled[0].Label != "VOL-B" {
		t.Fatalf("recycled %+v, want VOL-B only", res.Recycled)
	}
	if v, _ := cat.Volume(ctx, "vol-a"); v.State != pools.StateFull {
		t.Fatalf("vol-a is %s", v.State)
	}

	// Once I2 expires too, the whole chain goes, and vol-a is recyclable.
	res, err = Prune(ctx, cfg, cat, PruneOptions{Now: day0.Add(40 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 3 || len(res.Kept) != 0 {
		t.Fatalf("removed %+v kept %+v, want F, I1, I2 removed", res.Removed, res.Kept)
	}
	for _, n := range []string{"F", "I1", "I2"} {
		if _, err := cat.Object(ctx, ids[n]); err == nil {
			t.Fatalf("object %s still in the catalog", n)
		}
	}
	if v, _ := cat.Volume(ctx, "vol-a"); v.State != pools.StateRecyclable {
		t.Fatalf("vol-a is %s, want recyclable", v.State)
	}
	if v, _ := cat.Volume(ctx, "vol-k"); v.State != pools.StateFull {
		t.Fatalf("vol-k of a pool without retention is %s", v.State)
	}
	if _, err := cat.Copy(ctx, ids["X"], 2); err != nil {
		t.Fatalf("X copy 2 in pool keep: %v", err)
	}
}

type catalogState struct {
	Objects []catalog.Object
	Copies  []catalog.Copy
	Volumes []catalog.Volume
}

func snapshotCatalog(t *testing.T, cat *catalog.Catalog) catalogState {
	t.Helper()
	ctx := context.Background()
	var s catalogState
	var err error
	if s.Objects, err = cat.Objects(ctx, catalog.ObjectFilter{}); err != nil {
		t.Fatal(err)
	}
	if s.Copies, err = cat.AllCopies(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Volumes, err = cat.Volumes(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return s
}

// --dry-run changes nothing and reports what the real run then does.
func TestPruneDryRun(t *testing.T) {
	ctx := context.Background()
	cfg, cat, _, day0 := guardCatalog(t)
	now := day0.Add(40 * 24 * time.Hour)
	before := snapshotCatalog(t, cat)
	dry, err := Prune(ctx, cfg, cat, PruneOptions{Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, snapshotCatalog(t, cat)) {
		t.Fatal("dry run changed the catalog")
	}
	if len(dry.Expired) != 4 || len(dry.Removed) != 3 || len(dry.Recycled) != 2 {
		t.Fatalf("dry run: %d expired, %d removed, %d recycled; want 4, 3, 2", len(dry.Expired), len(dry.Removed), len(dry.Recycled))
	}
	real, err := Prune(ctx, cfg, cat, PruneOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if real.Job == 0 || dry.Job != 0 {
		t.Fatalf("job ids: dry %d, real %d", dry.Job, real.Job)
	}
	if !reflect.DeepEqual(dry.Expired, real.Expired) || !reflect.DeepEqual(dry.Removed, real.Removed) || !reflect.DeepEqual(dry.Recycled, real.Recycled) {
		t.Fatalf("dry run %+v\nreal run %+v", dry, real)
	}
	if reflect.DeepEqual(before, snapshotCatalog(t, cat)) {
		t.Fatal("the real run changed nothing")
	}
	// Nothing is left to do.
	again, err := Prune(ctx, cfg, cat, PruneOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Expired)+len(again.Removed)+len(again.Recycled) != 0 {
		t.Fatalf("second prune: %+v", again)
	}
}
