package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
)

// browseSetup writes a configuration with one source "home" (a small real
// tree), makes one real backup of it, and records three older complete
// backups of the same source at known times straight into the catalog,
// each with its own files. It returns the configuration, the source
// directory, the ids of the three old objects and their start times.
func browseSetup(t *testing.T) (cfg, src string, ids []string, times []time.Time) {
	t.Helper()
	dir := t.TempDir()
	src = filepath.Join(dir, "data", "home")
	for name, body := range map[string]string{"a.txt": "alpha\n", "sub/b.conf": "x = 1\n", "sub/deeper/c.dat": "ccc"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg = filepath.Join(dir, "daisy.yaml")
	if code, out, errs := run(t, "-c", cfg, "init", "--source", "home="+src); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	backupJSON(t, cfg, 0)

	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	times = []time.Time{
		time.Date(2020, 1, 1, 22, 0, 0, 0, time.Local),
		time.Date(2020, 1, 2, 12, 0, 0, 0, time.Local),
		time.Date(2020, 1, 3, 0, 30, 0, 0, time.Local),
	}
	mt := time.Date(2019, 12, 31, 10, 0, 0, 0, time.UTC)
	vols, err := cat.Volumes(ctx, "")
	if err != nil || len(vols) == 0 {
		t.Fatalf("volumes of the backup: %d, %v", len(vols), err)
	}
	for i, t0 := range times {
		id := fmt.Sprintf("01900000-0000-7000-8000-00000000000%d", i+1)
		ids = append(ids, id)
		if err := cat.AddObject(ctx, catalog.Object{ID: id, Source: "home", Client: "alpha", Level: "full", Started: t0}); err != nil {
			t.Fatal(err)
		}
		fs := []catalog.File{
			{ObjectID: id, Path: "/x", Type: '5', Mode: 0o755, MTime: mt},
			{ObjectID: id, Path: fmt.Sprintf("/x/v%d", i+1), Type: '0', Size: int64(100 * (i + 1)), Mode: 0o644, MTime: mt, Offset: 512},
		}
		if i == 0 {
			fs = append(fs, catalog.File{ObjectID: id, Path: "/x/etc", Type: '5', Mode: 0o755, MTime: mt},
				catalog.File{ObjectID: id, Path: "/x/etc/c.conf", Type: '0', Size: 7, Mode: 0o600, MTime: mt, Offset: 1024})
		}
		if err := cat.AddFiles(ctx, fs); err != nil {
			t.Fatal(err)
		}
		if err := cat.FinishObject(ctx, id, 4096, 3, int64(len(fs)), "sha256:00", catalog.ObjectComplete, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A good copy (on the real backup's volume: browsing reads none),
		// as only an object with one is a backup to browse.
		if err := cat.AddCopy(ctx, catalog.Copy{ObjectID: id, Number: 1, Role: catalog.RoleBackup}); err != nil {
			t.Fatal(err)
		}
		if err := cat.CommitCopy(ctx, id, 1, []catalog.Extent{{VolumeID: vols[0].ID, FirstBlock: 1, LastBlock: 1, EndOffset: 4096}}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, src, ids, times
}

func filePaths(fs []catalog.File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func TestBrowseLsFilesAt(t *testing.T) {
	cfg, src, ids, times := browseSetup(t)
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	for _, tc := range []struct {
		at   string
		want string // the one file in /x
	}{
		{rfc(times[0]), "/x/v1"}, // a backup started exactly at TIME counts
		{rfc(times[1].Add(-time.Second)), "/x/v1"},
		{rfc(times[1]), "/x/v2"},
		{times[1].Add(time.Hour).UTC().Format(time.RFC3339Nano), "/x/v2"},
		{"2020-01-01", "/x/v1"}, // a date is the end of that day, local time
		{"2020-01-02", "/x/v2"},
		{"2020-01-03", "/x/v3"},
		{fmt.Sprintf("%dh", int(time.Since(times[1]).Hours())), "/x/v2"}, // a duration ago
	} {
		fs := lsJSON[[]catalog.File](t, cfg, "files", "--source", "home", "--at", tc.at, "/x")
		var got []string
		for _, f := range fs {
			if f.Type == '0' {
				got = append(got, f.Path)
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("ls files --at %s /x = %v, want [%s]", tc.at, filePaths(fs), tc.want)
		}
	}
	// Without PATH: the top of the tree of that object.
	top := lsJSON[[]catalog.File](t, cfg, "files", "--source", "home", "--at", "2020-01-02")
	if len(top) != 1 || top[0].Path != "/x" || top[0].ObjectID != ids[1] || top[0].Type != '5' {
		t.Errorf("ls files --at 2020-01-02 = %+v, want /x of %s", top, ids[1])
	}
	// Without --at: the real backup, whose top is the source's path.
	top = lsJSON[[]catalog.File](t, cfg, "files", "--source", "home")
	if got := filePaths(top); !slices.Equal(got, []string{src}) {
		t.Errorf("ls files --source home = %v, want [%s]", got, src)
	}
	sub := lsJSON[[]catalog.File](t, cfg, "files", "--source", "home", src+"/sub")
	if got := filePaths(sub); !slices.Equal(got, []string{src + "/sub/b.conf", src + "/sub/deeper"}) {
		t.Errorf("ls files %s/sub = %v", src, got)
	}
	if len(sub) == 2 && (sub[0].Size != 6 || sub[0].MTime.IsZero() || sub[1].Type != '5') {
		t.Errorf("ls files %s/sub: sizes and times %+v", src, sub)
	}
	all := lsJSON[[]catalog.File](t, cfg, "files", "--source", "home", "-R")
	if len(all) != 6 { // home, a.txt, sub, sub/b.conf, sub/deeper, sub/deeper/c.dat
		t.Errorf("ls files -R = %v, want 6 entries", filePaths(all))
	}
	text := lsText(t, cfg, "files", "--object", ids[0], "/x")
	// /x lists its direct entries: v1 and etc, not etc/c.conf.
	if !strings.Contains(text, "MODIFIED") || !strings.Contains(text, "/x/v1") || !strings.Contains(text, "/x/etc") || strings.Contains(text, "c.conf") {
		t.Errorf("ls files --object %s /x:\n%s", ids[0], text)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{
		{"--source", "home", "--at", "yesterday"},
		{"--source", "home", "--at", "2020-13-01"},
		{"--source", "home", "--at", "-3d"},
		{"--source", "home", "--at", rfc(times[0].Add(-time.Second))}, // before the first backup
		{"--object", ids[0], "--at", "2020-01-02"},
		{"--at", "2020-01-02"}, // --at without --source
	} {
		code, out, errs := run(t, append([]string{"-c", cfg, "ls", "files"}, args...)...)
		if code != ExitUsage || out != "" || !strings.Contains(errs, "daisy:") {
			t.Errorf("ls files %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, ExitUsage, out, errs)
		}
	}
	// A path the object does not hold is an error, not an empty listing.
	if code, _, errs := run(t, "-c", cfg, "ls", "files", "--object", ids[0], "/nosuch"); code != ExitFailure || !strings.Contains(errs, "not in object") {
		t.Errorf("ls files /nosuch: exit %d: %s", code, errs)
	}
}

// foundRow is the JSON shape of one find match.
type foundRow struct {
	Object  string    `json:"object"`
	Source  string    `json:"source"`
	Started time.Time `json:"started"`
	Path    string    `json:"path"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	Mode    int64     `json:"mode"`
	MTime   time.Time `json:"mtime"`
}

func findJSON(t *testing.T, cfg string, args ...string) ([]foundRow, []map[string]any, string) {
	t.Helper()
	code, out, errs := run(t, append([]string{"-c", cfg, "--json", "find"}, args...)...)
	if code != 0 {
		t.Fatalf("find %v: exit %d: %s", args, code, errs)
	}
	var rows []foundRow
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("find %v --json: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || raw == nil {
		t.Fatalf("find %v --json is not an array: %v\n%s", args, err, out)
	}
	return rows, raw, errs
}

func rowPaths(rs []foundRow) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Object[len(r.Object)-1:]+":"+r.Path)
	}
	return out
}

func TestFindCmd(t *testing.T) {
	cfg, src, ids, times := browseSetup(t)
	real := lsJSON[[]catalog.File](t, cfg, "files", "--source", "home")[0].ObjectID

	// Base-name pattern: every object's matches, oldest backup first.
	rows, raw, _ := findJSON(t, cfg, "*.conf")
	if len(rows) != 2 || rows[0].Object != ids[0] || rows[0].Path != "/x/etc/c.conf" || rows[1].Object != real || rows[1].Path != src+"/sub/b.conf" {
		t.Fatalf("find *.conf = %v", rowPaths(rows))
	}
	if r := rows[0]; r.Source != "home" || !r.Started.Equal(times[0]) || r.Size != 7 || r.Mode != 0o600 || r.Type != "file" ||
		!r.MTime.Equal(time.Date(2019, 12, 31, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("find *.conf first match %+v", r)
	}
	if r := rows[1]; r.Size != 6 || r.MTime.IsZero() {
		t.Errorf("find *.conf second match %+v", r)
	}
	var keys []string
	for k := range raw[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range []string{"object", "source", "started", "path", "type", "size", "mode", "mtime", "offset"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("find --json: no key %q in %v", k, keys)
		}
	}

	// Base name without wildcards; names of directories count too.
	if rows, _, _ := findJSON(t, cfg, "v?"); !slices.Equal(rowPaths(rows), []string{"1:/x/v1", "2:/x/v2", "3:/x/v3"}) {
		t.Errorf("find v? = %v", rowPaths(rows))
	}
	if rows, _, _ := findJSON(t, cfg, "deeper"); len(rows) != 1 || rows[0].Path != src+"/sub/deeper" {
		t.Errorf("find deeper = %v", rowPaths(rows))
	}
	// Path patterns: "*" does not cross "/".
	if rows, _, _ := findJSON(t, cfg, "/x/*"); !slices.Equal(rowPaths(rows), []string{"1:/x/etc", "1:/x/v1", "2:/x/v2", "3:/x/v3"}) {
		t.Errorf("find /x/* = %v", rowPaths(rows))
	}
	if rows, _, _ := findJSON(t, cfg, "/x/*/*.conf"); !slices.Equal(rowPaths(rows), []string{"1:/x/etc/c.conf"}) {
		t.Errorf("find /x/*/*.conf = %v", rowPaths(rows))
	}
	if rows, _, _ := findJSON(t, cfg, "x/etc/c.*"); !slices.Equal(rowPaths(rows), []string{"1:/x/etc/c.conf"}) {
		t.Errorf("find x/etc/c.* (no leading /) = %v", rowPaths(rows))
	}
	if rows, _, _ := findJSON(t, cfg, src+"/*/*.dat"); len(rows) != 0 {
		t.Errorf("find %s/*/*.dat = %v, want none (c.dat is two levels down)", src, rowPaths(rows))
	}
	if rows, _, _ := findJSON(t, cfg, src+"/*/*/*.dat"); len(rows) != 1 {
		t.Errorf("find %s/*/*/*.dat = %v", src, rowPaths(rows))
	}
	// --source, --limit, no match: an empty array.
	if rows, raw, _ := findJSON(t, cfg, "*.conf", "--source", "nosuch"); len(rows) != 0 || raw == nil {
		t.Errorf("find --source nosuch = %v", rowPaths(rows))
	}
	if rows, _, errs := findJSON(t, cfg, "v*", "--limit", "2"); len(rows) != 2 || !strings.Contains(errs, "--limit") {
		t.Errorf("find v* --limit 2 = %v, stderr %q", rowPaths(rows), errs)
	}
	// Text output.
	code, out, errs := run(t, "-c", cfg, "find", "c.conf")
	if code != 0 || !strings.Contains(out, "OBJECT") || !strings.Contains(out, ids[0]) || !strings.Contains(out, "/x/etc/c.conf") ||
		!strings.Contains(out, times[0].Format(time.DateTime)) || !strings.Contains(out, "-rw-------") {
		t.Errorf("find c.conf: exit %d\n%s%s", code, out, errs)
	}
	// Usage errors.
	for _, args := range [][]string{{"["}, {"/x/[a"}, {""}, {"*", "--limit", "-1"}, {}, {"a", "b"}} {
		if code, _, errs := run(t, append([]string{"-c", cfg, "find"}, args...)...); code != ExitUsage {
			t.Errorf("find %q: exit %d, want %d: %s", args, code, ExitUsage, errs)
		}
	}
}
