package jobs

import (
	"context"
	"crypto/rand"
	"errors"
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

const pruneCopiesYAML = `catalog:
  sqlite: state/catalog.db
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
sources:
  - name: S
    paths: [data/S]
  - name: T
    paths: [data/T]
pools:
  - name: p
    type: vtape
    volume_capacity: 1MiB
    retention: 3 copies
  - name: m
    type: vtape
    volume_capacity: 1MiB
    retention: 4 copies
devices:
  - name: tape0
    type: vtape
  - name: tape1
    type: vtape
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - name: B1
        source: S
      - name: B2
        source: T
mirror_groups:
  - media_agents:
      - name: mma0
        device: tape1
        pool: m
        buffers:
          - name: M1
            follows: bma0.B1
          - name: M2
            follows: bma0.B2
`

// daysInPool lists, per source, the days (oldest first) of the objects that
// have a copy in pool.
func daysInPool(t *testing.T, cat *catalog.Catalog, pool string, dayOf map[string]int) map[string][]int {
	t.Helper()
	ctx := context.Background()
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, o := range objs {
		cps, err := cat.Copies(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			if c.Pool == pool {
				out[o.Source] = append(out[o.Source], dayOf[o.ID])
				break
			}
		}
	}
	return out
}

// Retention in copies: pool p (3 copies) and its mirror pool m (4 copies)
// each keep the newest objects of each source, counted per source; an
// object is removed once neither pool keeps it; --dry-run changes nothing
// and plans what the real run does.
func TestPruneCopies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfgPath, []byte(pruneCopiesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"S", "T"} {
		if err := testtree.Make(filepath.Join(dir, "data", s), testtree.Spec{Seed: uint64(10 + i), SmallFiles: 10}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Pool("p"); p.RetentionCopies != 3 || p.Retention != 0 {
		t.Fatalf("pool p: %+v", p)
	}
	cat, err := catalog.Open(ctx, cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()

	day0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	dayOf := map[string]int{}
	backup := func(day int, sources ...string) {
		t.Helper()
		res, err := Backup(ctx, cfg, cat, BackupOptions{Sources: sources, Level: "full"})
		if err != nil || res.State != JobSuccess {
			t.Fatalf("day %d: backup %v, %+v", day, err, res)
		}
		for _, o := range res.Objects {
			dayOf[o.Object] = day
			if err := cat.SetObjectStarted(ctx, o.Object, day0.Add(time.Duration(day)*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Six backups of both sources, then two more of T alone: counted
	// across sources, the newest three would all be T's.
	for day := range 6 {
		backup(day)
	}
	backup(6, "T")
	backup(7, "T")

	// The time does not matter to a retention in copies.
	now := day0.Add(1000 * 24 * time.Hour)
	before := snapshotCatalog(t, cat)
	dry, err := Prune(ctx, cfg, cat, PruneOptions{Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, snapshotCatalog(t, cat)) {
		t.Fatal("dry run changed the catalog")
	}
	if got := daysInPool(t, cat, "p", dayOf); !reflect.DeepEqual(got, map[string][]int{"S": {0, 1, 2, 3, 4, 5}, "T": {0, 1, 2, 3, 4, 5, 6, 7}}) {
		t.Fatalf("after the dry run, pool p holds the days %v", got)
	}
	// p: S 0-2 and T 0-4 expire; m: S 0-1 and T 0-3.
	if len(dry.Expired) != 3+5+2+4 || len(dry.Removed) != 2+4 || len(dry.Kept) != 0 {
		t.Fatalf("dry run: %d expired, %d removed, %d kept; want 14, 6, 0", len(dry.Expired), len(dry.Removed), len(dry.Kept))
	}

	real, err := Prune(ctx, cfg, cat, PruneOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dry.Expired, real.Expired) || !reflect.DeepEqual(dry.Removed, real.Removed) || !reflect.DeepEqual(dry.Recycled, real.Recycled) {
		t.Fatalf("dry run %+v\nreal run %+v", dry, real)
	}
	if len(real.Recycled) == 0 {
		t.Fatal("no volume became recyclable")
	}
	for _, e := range real.Expired {
		if e.State != CopyGood {
			t.Fatalf("expired %+v: every copy was good", e)
		}
	}
	want := map[string]map[string][]int{
		"p": {"S": {3, 4, 5}, "T": {5, 6, 7}},
		"m": {"S": {2, 3, 4, 5}, "T": {4, 5, 6, 7}},
	}
	for pool, w := range want {
		if got := daysInPool(t, cat, pool, dayOf); !reflect.DeepEqual(got, w) {
			t.Fatalf("pool %s holds the days %v, want %v", pool, got, w)
		}
	}
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 8 {
		t.Fatalf("%d objects left, want 8 (S days 2-5, T days 4-7)", len(objs))
	}
	checkVolumes(t, cat, "after the prune")

	// Nothing is left to do.
	again, err := Prune(ctx, cfg, cat, PruneOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Expired)+len(again.Removed)+len(again.Recycled) != 0 {
		t.Fatalf("second prune: %+v", again)
	}

	// One more backup of S pushes S's oldest object out of each pool.
	backup(8, "S")
	if _, err := Prune(ctx, cfg, cat, PruneOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	want["p"]["S"], want["m"]["S"] = []int{4, 5, 8}, []int{3, 4, 5, 8}
	for pool, w := range want {
		if got := daysInPool(t, cat, pool, dayOf); !reflect.DeepEqual(got, w) {
			t.Fatalf("after day 8: pool %s holds the days %v, want %v", pool, got, w)
		}
	}
	checkVolumes(t, cat, "after day 8")
}

// checkVolumes fails unless every recyclable volume holds no good copy and
// every full volume holds one.
func checkVolumes(t *testing.T, cat *catalog.Catalog, when string) {
	t.Helper()
	vols, err := cat.Volumes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	recyclable := 0
	for _, v := range vols {
		good, err := cat.GoodExtentsOnVolume(context.Background(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case v.State == pools.StateRecyclable && good > 0:
			t.Fatalf("%s: recyclable volume %s holds %d good extents", when, v.Label, good)
		case v.State == pools.StateFull && good == 0:
			t.Fatalf("%s: full volume %s holds nothing live and is not recyclable", when, v.Label)
		case v.State == pools.StateRecyclable:
			recyclable++
		}
	}
	t.Logf("%s: %d volumes, %d recyclable", when, len(vols), recyclable)
}

// The dependency guard holds for a retention in copies; copies that are
// not good do not count, and expire with the objects older than the
// newest kept ones; other sources are counted apart.
func TestPruneCopiesKeepsBase(t *testing.T) {
	ctx := context.Background()
	cfg, cat, ids, day0 := guardCatalog(t)
	cfg.Pools[0].Retention, cfg.Pools[0].RetentionCopies = 0, 1
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cat.CreateVolume(ctx, catalog.Volume{ID: "vol-c", Label: "VOL-C", Pool: "p", State: pools.StateFull, BlockSize: 65536, Blocks: 100}))
	// add records a full object of source with copy 1 in pool p on vol-c,
	// good or failed.
	add := func(name, id, source string, day int, good bool) {
		t.Helper()
		ids[name] = id
		must(cat.AddObject(ctx, catalog.Object{ID: id, Source: source, Client: "h", Level: "full", Started: day0.Add(time.Duration(day) * 24 * time.Hour)}))
		must(cat.FinishObject(ctx, id, 1000, 3, 1, "sha256:00", catalog.ObjectComplete, time.Time{}))
		must(cat.AddCopy(ctx, catalog.Copy{ObjectID: id, Number: 1, Role: catalog.RoleBackup, Pool: "p"}))
		if good {
			must(cat.CommitCopy(ctx, id, 1, []catalog.Extent{{VolumeID: "vol-c", FirstBlock: int64(day), LastBlock: int64(day), EndOffset: 1000}}))
		} else {
			must(cat.FailCopy(ctx, id, 1, "device failed"))
		}
	}
	// W, the only object of source T, is older than everything of S.
	add("W", "0190aaaa-0000-7000-8000-000000000005", "T", 0, true)

	// The newest object of S with a good copy in p is I2: X expires from p
	// (its copy in pool keep stays), F and I1 stay as the bases of I2.
	res, err := Prune(ctx, cfg, cat, PruneOptions{Now: day0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].Object != ids["X"] || res.Expired[0].Copy != 1 || len(res.Removed) != 0 {
		t.Fatalf("expired %+v removed %+v, want only X copy 1 expired", res.Expired, res.Removed)
	}
	kept := map[string]string{}
	for _, k := range res.Kept {
		kept[k.Object] = k.NeededBy
	}
	if kept[ids["I1"]] != ids["I2"] || kept[ids["F"]] != ids["I1"] || len(kept) != 2 {
		t.Fatalf("kept %+v, want F (for I1) and I1 (for I2)", res.Kept)
	}
	if len(res.Recycled) != 1 || res.Recycled[0].Label != "VOL-B" {
		t.Fatalf("recycled %+v, want VOL-B only", res.Recycled)
	}

	// Y, newer but with a failed copy only, does not count: nothing
	// changes.
	add("Y", "0190aaaa-0000-7000-8000-000000000006", "S", 30, false)
	res, err = Prune(ctx, cfg, cat, PruneOptions{Now: day0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired)+len(res.Removed)+len(res.Recycled) != 0 || len(res.Kept) != 2 {
		t.Fatalf("after a failed copy: %+v", res)
	}

	// Z has a good copy: the chain and Y's failed copy expire, and vol-a
	// holds nothing live. W, of source T, stays.
	add("Z", "0190aaaa-0000-7000-8000-000000000007", "S", 31, true)
	res, err = Prune(ctx, cfg, cat, PruneOptions{Now: day0})
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string]bool{}
	for _, r := range res.Removed {
		removed[r.Object] = true
	}
	if len(removed) != 4 || !removed[ids["F"]] || !removed[ids["I1"]] || !removed[ids["I2"]] || !removed[ids["Y"]] || len(res.Kept) != 0 {
		t.Fatalf("removed %+v kept %+v, want F, I1, I2 and Y removed", res.Removed, res.Kept)
	}
	for _, e := range res.Expired {
		if e.Object == ids["Y"] && e.State != catalog.CopyFailed {
			t.Fatalf("Y's copy expired as %s", e.State)
		}
	}
	if len(res.Recycled) != 1 || res.Recycled[0].Label != "VOL-A" {
		t.Fatalf("recycled %+v, want VOL-A only", res.Recycled)
	}
	for _, n := range []string{"W", "Z"} {
		if _, err := cat.Copy(ctx, ids[n], 1); err != nil {
			t.Fatalf("copy of %s: %v", n, err)
		}
	}
	if v, _ := cat.Volume(ctx, "vol-c"); v.State != pools.StateFull {
		t.Fatalf("vol-c is %s", v.State)
	}
}

// A pool has one form of retention or the other.
func TestPruneBothRetentions(t *testing.T) {
	cfg, cat, _, day0 := guardCatalog(t)
	cfg.Pools[0].RetentionCopies = 2
	before := snapshotCatalog(t, cat)
	_, err := Prune(context.Background(), cfg, cat, PruneOptions{Now: day0.Add(100 * 24 * time.Hour)})
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "pool p") {
		t.Fatalf("err %v, want a usage error naming pool p", err)
	}
	if !reflect.DeepEqual(before, snapshotCatalog(t, cat)) {
		t.Fatal("the prune changed the catalog")
	}
}
