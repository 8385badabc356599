package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOpenMigrateReopen(t *testing.T) {
	ctx := context.Background()
	// Characters that mean something in a URI must survive in the path.
	path := filepath.Join(t.TempDir(), "new dir", "a?b#c%41", "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Path() != path {
		t.Fatalf("Path() = %q, want %q", c.Path(), path)
	}
	v, err := c.SchemaVersion(ctx)
	if err != nil || v != KnownSchemaVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, KnownSchemaVersion())
	}
	if err := c.EnsurePool(ctx, Pool{Name: "p", Type: "vtape"}); err != nil {
		t.Fatalf("EnsurePool: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v, %v; want mode 0600", fi, err)
	}

	for range 2 {
		c, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if v, err := c.SchemaVersion(ctx); err != nil || v != KnownSchemaVersion() {
			t.Fatalf("SchemaVersion after reopen = %d, %v", v, err)
		}
		var rows int
		if err := c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != KnownSchemaVersion() {
			t.Fatalf("schema_version has %d rows (%v), want %d", rows, err, KnownSchemaVersion())
		}
		if _, err := c.Pool(ctx, "p"); err != nil {
			t.Fatalf("pool lost on reopen: %v", err)
		}
		var mode string
		if err := c.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		var sync, fk int
		if err := c.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
		}
		if err := c.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// TestOpenConcurrently opens one new database from several independent
// handles at once, as several processes would: exactly one migrates it.
func TestOpenConcurrently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	const n = 4
	cats := make([]*Catalog, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { cats[i], errs[i] = Open(ctx, path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer cats[i].Close()
	}
	var rows int
	if err := cats[0].r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != KnownSchemaVersion() {
		t.Fatalf("schema_version has %d rows (%v), want %d", rows, err, KnownSchemaVersion())
	}
	// All handles work on the same database.
	if err := cats[1].EnsurePool(ctx, Pool{Name: "p", Type: "vtape"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cats[3].Pool(ctx, "p"); err != nil {
		t.Fatalf("pool written through one handle not seen through another: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, ""); err == nil {
		t.Fatalf("Open(\"\") succeeded")
	}
	dir := t.TempDir()
	if _, err := Open(ctx, dir); err == nil {
		t.Fatalf("Open(directory) succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, junk); err == nil {
		t.Fatalf("Open(junk file) succeeded")
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	newer := KnownSchemaVersion() + 1
	if _, err := c.w.ExecContext(ctx, sqlInsertSchemaVersion, newer, "from the future", 0); err != nil {
		t.Fatalf("insert version: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c, err = Open(ctx, path)
	if err == nil {
		c.Close()
		t.Fatalf("Open of a version %d database succeeded", newer)
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: %v; want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(newer)) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the version and the file", err)
	}
}

func TestMigrationStepIsAtomic(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c.Close()

	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(append([]migration(nil), saved...), migration{
		description: "a broken step",
		statements:  []string{`CREATE TABLE half_done (x INTEGER)`, `THIS IS NOT SQL`},
	})
	if c, err := Open(ctx, path); err == nil {
		c.Close()
		t.Fatalf("Open with a broken migration succeeded")
	}
	migrations = saved
	c, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after the failed migration: %v", err)
	}
	defer c.Close()
	if v, err := c.SchemaVersion(ctx); err != nil || v != len(saved) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(saved))
	}
	var n int
	if err := c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the failed step left table half_done behind (%d, %v)", n, err)
	}
}

func TestPoolsAndVolumes(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	if err := c.EnsurePool(ctx, Pool{Name: "p", Type: "vtape", Directory: "/a"}); err != nil {
		t.Fatalf("EnsurePool: %v", err)
	}
	if err := c.EnsurePool(ctx, Pool{Name: "p", Type: "tape", Directory: "/b"}); err != nil {
		t.Fatalf("EnsurePool again: %v", err)
	}
	if p, err := c.Pool(ctx, "p"); err != nil || p.Type != "vtape" || p.Directory != "/a" || p.Created.IsZero() {
		t.Fatalf("Pool = %+v, %v; want the first one kept", p, err)
	}
	if err := c.EnsurePool(ctx, Pool{Name: "q", Type: "vtape"}); err != nil {
		t.Fatalf("EnsurePool: %v", err)
	}
	if ps, err := c.Pools(ctx); err != nil || len(ps) != 2 || ps[0].Name != "p" || ps[1].Name != "q" {
		t.Fatalf("Pools = %+v, %v", ps, err)
	}

	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	vols := []Volume{
		{ID: "id-q1", Label: "Q00001", Pool: "q", BlockSize: 1024, Created: t0},
		{ID: "id-p2", Label: "P00002", Pool: "p", BlockSize: 1024, Created: t0.Add(time.Hour), Path: "/a/P00002.vol"},
		{ID: "id-p1", Label: "P00001", Pool: "p", BlockSize: 1024, Created: t0, Capacity: 1 << 20},
	}
	for _, v := range vols {
		if err := c.CreateVolume(ctx, v); err != nil {
			t.Fatalf("CreateVolume %s: %v", v.Label, err)
		}
	}
	if err := c.CreateVolume(ctx, Volume{ID: "other", Label: "P00001", Pool: "p", BlockSize: 1}); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateVolume with a taken label: %v; want ErrExists", err)
	}
	if err := c.CreateVolume(ctx, Volume{ID: "id-p1", Label: "NEW", Pool: "p", BlockSize: 1}); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateVolume with a taken id: %v; want ErrExists", err)
	}
	if err := c.CreateVolume(ctx, Volume{ID: "x", Label: "X", Pool: "nopool", BlockSize: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateVolume in a missing pool: %v; want ErrNotFound", err)
	}
	if err := c.CreateVolume(ctx, Volume{ID: "x", Label: "X", Pool: "p", BlockSize: 1, State: "lost"}); err == nil {
		t.Fatalf("CreateVolume with an unknown state succeeded")
	}
	if err := c.CreateVolume(ctx, Volume{ID: "x", Label: "X", Pool: "p"}); err == nil {
		t.Fatalf("CreateVolume without a block size succeeded")
	}

	all, err := c.Volumes(ctx, "")
	if err != nil {
		t.Fatalf("Volumes: %v", err)
	}
	var labels []string
	for _, v := range all {
		labels = append(labels, v.Label)
	}
	if got := strings.Join(labels, " "); got != "P00001 P00002 Q00001" {
		t.Fatalf("Volumes(\"\") = %s; want P00001 P00002 Q00001", got)
	}
	if inP, err := c.Volumes(ctx, "p"); err != nil || len(inP) != 2 {
		t.Fatalf("Volumes(p) = %d volumes, %v", len(inP), err)
	}

	v, err := c.Volume(ctx, "P00001")
	if err != nil {
		t.Fatalf("Volume by label: %v", err)
	}
	if v.ID != "id-p1" || v.State != VolumeBlank || v.Capacity != 1<<20 || !v.Created.Equal(t0) ||
		!v.Updated.Equal(t0) || !v.LastWritten.IsZero() || v.Created.Location() != time.UTC {
		t.Fatalf("Volume = %+v", v)
	}
	if v2, err := c.Volume(ctx, "id-p2"); err != nil || v2.Label != "P00002" || v2.Path != "/a/P00002.vol" {
		t.Fatalf("Volume by id = %+v, %v", v2, err)
	}
	if _, err := c.Volume(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Volume(nope): %v; want ErrNotFound", err)
	}

	// Blocks change: last_written moves with updated.
	t1 := t0.Add(2 * time.Hour)
	v.State, v.Blocks, v.Bytes, v.Updated = VolumeAppendable, 10, 10240, t1
	v.Capacity = 5 // ignored
	if err := c.UpdateVolume(ctx, v); err != nil {
		t.Fatalf("UpdateVolume: %v", err)
	}
	got, _ := c.Volume(ctx, "id-p1")
	if got.State != VolumeAppendable || got.Blocks != 10 || got.Bytes != 10240 || got.Capacity != 1<<20 ||
		!got.Updated.Equal(t1) || !got.LastWritten.Equal(t1) {
		t.Fatalf("after UpdateVolume: %+v", got)
	}
	// Same blocks: last_written stays.
	t2 := t1.Add(time.Hour)
	got.State, got.Updated, got.LastWritten = VolumeFull, t2, time.Time{}
	if err := c.UpdateVolume(ctx, got); err != nil {
		t.Fatalf("UpdateVolume: %v", err)
	}
	got2, _ := c.Volume(ctx, "id-p1")
	if got2.State != VolumeFull || !got2.Updated.Equal(t2) || !got2.LastWritten.Equal(t1) {
		t.Fatalf("after second UpdateVolume: %+v", got2)
	}
	if err := c.UpdateVolume(ctx, Volume{ID: "nope", State: VolumeFull}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateVolume(nope): %v; want ErrNotFound", err)
	}
	if err := c.UpdateVolume(ctx, Volume{ID: "id-p1", State: "weird"}); err == nil {
		t.Fatalf("UpdateVolume with an unknown state succeeded")
	}
}

func TestJobs(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	var ids []int64
	for _, kind := range []string{"backup", "copy", "verify"} {
		j, err := c.StartJob(ctx, kind)
		if err != nil {
			t.Fatalf("StartJob: %v", err)
		}
		if j.ID == 0 || j.State != JobRunning || j.Started.IsZero() || j.Kind != kind {
			t.Fatalf("StartJob = %+v", j)
		}
		if len(ids) > 0 && j.ID <= ids[len(ids)-1] {
			t.Fatalf("job ids not increasing: %v then %d", ids, j.ID)
		}
		ids = append(ids, j.ID)
	}
	fin := time.Date(2025, 6, 1, 0, 0, 0, 123, time.UTC)
	if err := c.FinishJob(ctx, Job{ID: ids[0], State: JobPartial, Finished: fin, Bytes: 5, Files: 2, Error: "copy 2 failed", Warnings: 7}); err != nil {
		t.Fatalf("FinishJob: %v", err)
	}
	if err := c.FinishJob(ctx, Job{ID: ids[1], State: JobRunning}); err == nil {
		t.Fatalf("FinishJob with state running succeeded")
	}
	if err := c.FinishJob(ctx, Job{ID: 9999, State: JobSuccess}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FinishJob(9999): %v; want ErrNotFound", err)
	}
	js, err := c.Jobs(ctx, 2)
	if err != nil || len(js) != 2 || js[0].ID != ids[2] || js[1].ID != ids[1] {
		t.Fatalf("Jobs(2) = %+v, %v; want the two newest, newest first", js, err)
	}
	js, err = c.Jobs(ctx, 0)
	if err != nil || len(js) != 3 {
		t.Fatalf("Jobs(0) = %d jobs, %v", len(js), err)
	}
	j := js[2]
	if j.State != JobPartial || !j.Finished.Equal(fin) || j.Bytes != 5 || j.Files != 2 || j.Error != "copy 2 failed" || j.Warnings != 7 {
		t.Fatalf("finished job = %+v", j)
	}
	if j2, err := c.Job(ctx, ids[1]); err != nil || j2.State != JobRunning || !j2.Finished.IsZero() {
		t.Fatalf("Job = %+v, %v", j2, err)
	}
}

func TestObjects(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	job, err := c.StartJob(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 1, 0, 0, 999, time.UTC)
	objs := []Object{
		{ID: objectID(1), Source: "home", Client: "alpha", Level: "full", Started: t0, JobID: job.ID},
		{ID: objectID(2), Source: "home", Client: "alpha", Level: "incremental", Base: objectID(1), Started: t0.Add(time.Hour), JobID: job.ID},
		{ID: objectID(3), Source: "etc", Client: "beta", Level: "full", Started: t0.Add(30 * time.Minute)},
		{ID: objectID(4), Source: "home", Client: "alpha", Level: "incremental", Base: objectID(2), Started: t0.Add(2 * time.Hour)},
	}
	for _, o := range objs {
		if err := c.AddObject(ctx, o); err != nil {
			t.Fatalf("AddObject: %v", err)
		}
	}
	if err := c.AddObject(ctx, objs[0]); !errors.Is(err, ErrExists) {
		t.Fatalf("AddObject twice: %v; want ErrExists", err)
	}
	if err := c.AddObject(ctx, Object{ID: "x", Source: "s"}); err == nil {
		t.Fatalf("AddObject without client and level succeeded")
	}
	if _, err := c.LatestObject(ctx, "home"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestObject before any is complete: %v; want ErrNotFound", err)
	}
	fin := t0.Add(3 * time.Hour)
	for _, n := range []int{1, 2, 3} {
		if err := c.FinishObject(ctx, objectID(n), int64(100*n), 7, 3, "h", ObjectComplete, fin); err != nil {
			t.Fatalf("FinishObject: %v", err)
		}
	}
	if err := c.FinishObject(ctx, objectID(4), 0, 0, 0, "", ObjectFailed, time.Time{}); err != nil {
		t.Fatalf("FinishObject failed: %v", err)
	}
	if err := c.FinishObject(ctx, objectID(1), 1, 1, 1, "other", ObjectComplete, fin); err == nil {
		t.Fatalf("FinishObject of a complete object succeeded")
	}
	if err := c.FinishObject(ctx, "nope", 1, 1, 1, "", ObjectComplete, fin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FinishObject(nope): %v; want ErrNotFound", err)
	}
	if err := c.FinishObject(ctx, objectID(1), 1, 1, 1, "", ObjectWriting, fin); err == nil {
		t.Fatalf("FinishObject to state writing succeeded")
	}

	o, err := c.Object(ctx, objectID(2))
	if err != nil {
		t.Fatalf("Object: %v", err)
	}
	want := objs[1]
	want.Length, want.Records, want.Files, want.Hash, want.State, want.Finished = 200, 7, 3, "h", ObjectComplete, fin
	if !o.Started.Equal(want.Started) || !o.Finished.Equal(want.Finished) {
		t.Fatalf("Object times = %v, %v; want %v, %v", o.Started, o.Finished, want.Started, want.Finished)
	}
	o.Started, o.Finished = want.Started, want.Finished
	if o != want {
		t.Fatalf("Object = %+v\nwant %+v", o, want)
	}
	if _, err := c.LatestObject(ctx, "home"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestObject before a copy is good: %v; want ErrNotFound", err)
	}
	goodCopy(t, c, objectID(1), 100)
	goodCopy(t, c, objectID(2), 200)
	if l, err := c.LatestObject(ctx, "home"); err != nil || l.ID != objectID(2) {
		t.Fatalf("LatestObject(home) = %s, %v; want %s (the failed newer one does not count)", l.ID, err, objectID(2))
	}
	ids := func(os []Object) string {
		var s []string
		for _, o := range os {
			s = append(s, o.ID[len(o.ID)-1:])
		}
		return strings.Join(s, "")
	}
	for _, tc := range []struct {
		f    ObjectFilter
		want string
	}{
		{ObjectFilter{}, "1324"},
		{ObjectFilter{Source: "home"}, "124"},
		{ObjectFilter{JobID: job.ID}, "12"},
		{ObjectFilter{State: ObjectFailed}, "4"},
		{ObjectFilter{Source: "home", State: ObjectComplete}, "12"},
		{ObjectFilter{Client: "beta"}, "3"},
		{ObjectFilter{Source: "none"}, ""},
	} {
		got, err := c.Objects(ctx, tc.f)
		if err != nil || ids(got) != tc.want {
			t.Fatalf("Objects(%+v) = %s, %v; want %s", tc.f, ids(got), err, tc.want)
		}
	}
	// Clients and sources were recorded on the way.
	cls, err := c.Clients(ctx)
	if err != nil || len(cls) != 2 || cls[0].Name != "alpha" || cls[1].Name != "beta" {
		t.Fatalf("Clients = %+v, %v", cls, err)
	}
	if err := c.SaveSource(ctx, Source{Name: "home", Client: "alpha", Paths: []string{"/home", "/root"}}); err != nil {
		t.Fatalf("SaveSource: %v", err)
	}
	srcs, err := c.Sources(ctx)
	if err != nil || len(srcs) != 2 || srcs[0].Name != "etc" || len(srcs[0].Paths) != 0 ||
		strings.Join(srcs[1].Paths, ",") != "/home,/root" {
		t.Fatalf("Sources = %+v, %v", srcs, err)
	}
	if _, err := c.Source(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Source(nope): %v; want ErrNotFound", err)
	}
}

func TestObjectPrefix(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	for _, id := range []string{
		"01900000-aaaa-7000-8000-000000000001",
		"01900000-aaab-7000-8000-000000000002",
		"01900000-bbbb-7000-8000-000000000003",
		"01900000-bbbc-7000-8000-000000000004",
	} {
		addObject(t, c, id, -1)
	}
	for _, tc := range []struct {
		prefix, want string
		err          error
	}{
		{"01900000-aaaa-7000-8000-000000000001", "01900000-aaaa-7000-8000-000000000001", nil},
		{"01900000-aaaa", "01900000-aaaa-7000-8000-000000000001", nil},
		{"01900000-AAAB", "01900000-aaab-7000-8000-000000000002", nil},
		{"01900000-bbbc-", "01900000-bbbc-7000-8000-000000000004", nil},
		{"01900000-aaa", "", ErrAmbiguous},
		{"0190", "", ErrAmbiguous},
		{"01900000-c", "", ErrNotFound},
		{"ffff", "", ErrNotFound},
		{"01900000-aaaa-7000-8000-0000000000011", "", ErrNotFound},
		{"", "", ErrNotFound},
	} {
		o, err := c.Object(ctx, tc.prefix)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Fatalf("Object(%q) = %s, %v; want %v", tc.prefix, o.ID, err, tc.err)
			}
			continue
		}
		if err != nil || o.ID != tc.want {
			t.Fatalf("Object(%q) = %s, %v; want %s", tc.prefix, o.ID, err, tc.want)
		}
	}
	_, err := c.Object(ctx, "0190")
	if msg := err.Error(); !strings.Contains(msg, "01900000-aaaa-7000-8000-000000000001") || !strings.Contains(msg, "...") {
		t.Fatalf("ambiguous error %q does not show candidates", msg)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abd", true},
		{"a/", "a0", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Fatalf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCopiesAndCommit(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, 1000)
	addVolumes(t, c, "v1", "v2")
	addCopy(t, c, id, 1)
	if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 1, Role: RoleBackup}); !errors.Is(err, ErrExists) {
		t.Fatalf("AddCopy twice: %v; want ErrExists", err)
	}
	if err := c.AddCopy(ctx, Copy{ObjectID: "nope", Number: 1, Role: RoleBackup}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddCopy of a missing object: %v; want ErrNotFound", err)
	}
	if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 0, Role: RoleBackup}); err == nil {
		t.Fatalf("AddCopy number 0 succeeded")
	}
	if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 2, Role: "spare"}); err == nil {
		t.Fatalf("AddCopy with an unknown role succeeded")
	}

	e := func(vol string, first, end int64) Extent {
		return Extent{VolumeID: vol, FirstBlock: first / 100, LastBlock: end / 100, FirstOffset: first, EndOffset: end, Records: 1, Bytes: end - first}
	}
	bad := []struct {
		name    string
		extents []Extent
	}{
		{"none", nil},
		{"gap", []Extent{e("v1", 0, 400), e("v2", 500, 1000)}},
		{"late start", []Extent{e("v1", 10, 1000)}},
		{"short", []Extent{e("v1", 0, 400), e("v2", 400, 999)}},
		{"too long", []Extent{e("v1", 0, 400), e("v2", 400, 1001)}},
		{"out of order", []Extent{e("v1", 0, 600), e("v2", 400, 500), e("v2", 500, 1000)}},
		{"backwards", []Extent{e("v2", 400, 1000), e("v1", 0, 400)}},
		{"missing volume", []Extent{e("v1", 0, 400), e("v9", 400, 1000)}},
		{"no volume", []Extent{e("", 0, 1000)}},
		{"other object", []Extent{{ObjectID: objectID(2), VolumeID: "v1", EndOffset: 1000}}},
		{"other copy", []Extent{{Copy: 2, VolumeID: "v1", EndOffset: 1000}}},
		{"blocks reversed", []Extent{{VolumeID: "v1", FirstBlock: 5, LastBlock: 4, EndOffset: 1000}}},
	}
	for _, b := range bad {
		if err := c.CommitCopy(ctx, id, 1, b.extents); err == nil {
			t.Fatalf("CommitCopy with %s extents succeeded", b.name)
		}
		if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
			t.Fatalf("after refused CommitCopy (%s): copy %s with %d extents; want writing with none", b.name, st, n)
		}
	}
	if err := c.CommitCopy(ctx, "nope", 1, []Extent{e("v1", 0, 1000)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CommitCopy of a missing object: %v; want ErrNotFound", err)
	}
	if err := c.CommitCopy(ctx, id, 7, []Extent{e("v1", 0, 1000)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CommitCopy of a missing copy: %v; want ErrNotFound", err)
	}

	// Overlap at a volume boundary is fine; so are extents naming their
	// object and copy.
	good := []Extent{e("v1", 0, 400), e("v2", 350, 1000)}
	good[1].ObjectID, good[1].Copy, good[1].Seq = id, 1, 42
	if err := c.CommitCopy(ctx, id, 1, good); err != nil {
		t.Fatalf("CommitCopy: %v", err)
	}
	got, err := c.Extents(ctx, id, 1)
	if err != nil || len(got) != 2 {
		t.Fatalf("Extents = %+v, %v", got, err)
	}
	for i, g := range got {
		w := good[i]
		w.ObjectID, w.Copy, w.Seq = id, 1, i
		if g != w {
			t.Fatalf("extent %d = %+v; want %+v", i, g, w)
		}
	}
	cp, err := c.Copy(ctx, id, 1)
	if err != nil || cp.State != CopyGood || cp.Role != RoleBackup || cp.Device != "d1" || cp.Pool != "p" || cp.Updated.Before(cp.Created) {
		t.Fatalf("Copy after commit = %+v, %v", cp, err)
	}
	if err := c.CommitCopy(ctx, id, 1, good); err == nil {
		t.Fatalf("CommitCopy of a good copy succeeded")
	}
	if ve, err := c.VolumeExtents(ctx, "v2"); err != nil || len(ve) != 1 || ve[0].FirstOffset != 350 {
		t.Fatalf("VolumeExtents(v2) = %+v, %v", ve, err)
	}

	// More copies: a mirror and a later copy-stage copy.
	if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 3, Role: RoleCopy, Level: 1, MediaAgent: "bma3"}); err != nil {
		t.Fatalf("AddCopy 3: %v", err)
	}
	if err := c.AddCopy(ctx, Copy{ObjectID: id, Number: 2, Role: RoleMirror, Level: 1}); err != nil {
		t.Fatalf("AddCopy 2: %v", err)
	}
	cps, err := c.Copies(ctx, id)
	if err != nil || len(cps) != 3 || cps[0].Number != 1 || cps[1].Number != 2 || cps[2].Number != 3 ||
		cps[2].MediaAgent != "bma3" || cps[2].Level != 1 || cps[1].State != CopyWriting {
		t.Fatalf("Copies = %+v, %v", cps, err)
	}
	if w, err := c.CopiesByState(ctx, CopyWriting); err != nil || len(w) != 2 {
		t.Fatalf("CopiesByState(writing) = %d, %v; want 2", len(w), err)
	}
	if all, err := c.AllCopies(ctx); err != nil || len(all) != 3 {
		t.Fatalf("AllCopies = %d, %v; want 3", len(all), err)
	}
}

func TestCommitCopyIncompleteObject(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, -1) // still writing
	addVolumes(t, c, "v1")
	addCopy(t, c, id, 1)
	ext := []Extent{{VolumeID: "v1", EndOffset: 0}}
	if err := c.CommitCopy(ctx, id, 1, ext); err == nil {
		t.Fatalf("CommitCopy of a writing object succeeded")
	}
	if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
		t.Fatalf("copy %s with %d extents; want writing with none", st, n)
	}
	if err := c.FinishObject(ctx, id, 0, 0, 0, "", ObjectFailed, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitCopy(ctx, id, 1, ext); err == nil {
		t.Fatalf("CommitCopy of a failed object succeeded")
	}
	if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
		t.Fatalf("copy %s with %d extents; want writing with none", st, n)
	}
}

// TestCommitCopyAtomic makes the database refuse the second extent, after
// the first has been inserted, and checks that nothing of the commit stays.
func TestCommitCopyAtomic(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, 100)
	addVolumes(t, c, "v1", "v2")
	addCopy(t, c, id, 1)
	_, err := c.w.ExecContext(ctx, `CREATE TRIGGER fail_second_extent BEFORE INSERT ON extents
WHEN NEW.seq = 1 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	if err != nil {
		t.Fatalf("create trigger: %v", err)
	}
	ext := []Extent{
		{VolumeID: "v1", FirstOffset: 0, EndOffset: 60},
		{VolumeID: "v2", FirstOffset: 60, EndOffset: 100},
	}
	err = c.CommitCopy(ctx, id, 1, ext)
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("CommitCopy = %v; want the injected failure", err)
	}
	if st, n := copyState(t, c, id, 1); st != CopyWriting || n != 0 {
		t.Fatalf("after failed commit: copy %s with %d extents; want writing with none", st, n)
	}
	if _, err := c.w.ExecContext(ctx, `DROP TRIGGER fail_second_extent`); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitCopy(ctx, id, 1, ext); err != nil {
		t.Fatalf("CommitCopy after dropping the trigger: %v", err)
	}
	if st, n := copyState(t, c, id, 1); st != CopyGood || n != 2 {
		t.Fatalf("copy %s with %d extents; want good with 2", st, n)
	}
}

func TestFailCopy(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, 100)
	addVolumes(t, c, "v1")
	addCopy(t, c, id, 1)
	addCopy(t, c, id, 2)
	if err := c.FailCopy(ctx, id, 2, "drive d2: write error"); err != nil {
		t.Fatalf("FailCopy: %v", err)
	}
	cp, err := c.Copy(ctx, id, 2)
	if err != nil || cp.State != CopyFailed || cp.Error != "drive d2: write error" {
		t.Fatalf("failed copy = %+v, %v", cp, err)
	}
	ext := []Extent{{VolumeID: "v1", EndOffset: 100}}
	if err := c.CommitCopy(ctx, id, 2, ext); err == nil {
		t.Fatalf("CommitCopy of a failed copy succeeded")
	}
	if st, n := copyState(t, c, id, 2); st != CopyFailed || n != 0 {
		t.Fatalf("copy 2 %s with %d extents; want failed with none", st, n)
	}
	// The other copy is not affected and can still be committed.
	if err := c.CommitCopy(ctx, id, 1, ext); err != nil {
		t.Fatalf("CommitCopy 1: %v", err)
	}
	// A good copy that fails verification keeps its extents.
	if err := c.FailCopy(ctx, id, 1, "verify: block 7 CRC mismatch"); err != nil {
		t.Fatalf("FailCopy of a good copy: %v", err)
	}
	if st, n := copyState(t, c, id, 1); st != CopyFailed || n != 1 {
		t.Fatalf("copy 1 %s with %d extents; want failed with 1", st, n)
	}
	if err := c.FailCopy(ctx, id, 9, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FailCopy of a missing copy: %v; want ErrNotFound", err)
	}
	if f, err := c.CopiesByState(ctx, CopyFailed); err != nil || len(f) != 2 {
		t.Fatalf("CopiesByState(failed) = %d, %v; want 2", len(f), err)
	}
}

func TestDeleteCascades(t *testing.T) {
	ctx := context.Background()
	c := openTest(t)
	id := objectID(1)
	addObject(t, c, id, 100)
	addVolumes(t, c, "v1")
	addCopy(t, c, id, 1)
	addCopy(t, c, id, 2)
	ext := []Extent{{VolumeID: "v1", EndOffset: 100}}
	for _, n := range []int{1, 2} {
		if err := c.CommitCopy(ctx, id, n, ext); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddFiles(ctx, []File{{ObjectID: id, Path: "a", Type: '0'}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCopy(ctx, id, 2); err != nil {
		t.Fatalf("DeleteCopy: %v", err)
	}
	if ext, err := c.Extents(ctx, id, 2); err != nil || len(ext) != 0 {
		t.Fatalf("extents of a deleted copy: %d, %v", len(ext), err)
	}
	if err := c.DeleteCopy(ctx, id, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteCopy twice: %v; want ErrNotFound", err)
	}
	if err := c.DeleteObject(ctx, id); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	for _, table := range []string{"objects", "copies", "extents", "files"} {
		var n int
		if err := c.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s has %d rows (%v) after DeleteObject", table, n, err)
		}
	}
	if _, err := c.Volume(ctx, "v1"); err != nil {
		t.Fatalf("volume gone with the object: %v", err)
	}
	if err := c.DeleteObject(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteObject twice: %v; want ErrNotFound", err)
	}
}

func TestTimesRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1960, 5, 5, 5, 5, 5, 5, time.FixedZone("x", 3600)),
	} {
		got := fromNanos(nullNanos(tm))
		if !got.Equal(tm) || got.Location() != time.UTC {
			t.Fatalf("round trip of %v = %v", tm, got)
		}
	}
	if got := fromNanos(nullNanos(time.Time{})); !got.IsZero() {
		t.Fatalf("zero time round trip = %v", got)
	}
	// Out of range: clamped, not wrapped.
	if n := nanos(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); n != maxTime.UnixNano() {
		t.Fatalf("nanos(year 9999) = %d", n)
	}
	if n := nanos(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)); n != minTime.UnixNano() {
		t.Fatalf("nanos(year 1) = %d", n)
	}
}

// TestClosedCatalog checks that methods on a closed catalog fail cleanly.
func TestClosedCatalog(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Jobs(ctx, 1); err == nil || !errors.Is(err, sql.ErrConnDone) && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Jobs on a closed catalog: %v", err)
	}
	if _, err := c.StartJob(ctx, "x"); err == nil {
		t.Fatalf("StartJob on a closed catalog succeeded")
	}
}
