package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"daisy/internal/testtree"
)

// Issue 8 item 10: a source that holds the catalog and the pool does not
// snowball: the second backup is the size of the first, the file lists
// name no state file, and the backup says once what it left out.
func TestBackupLeavesOutDaisyState(t *testing.T) {
	dir := t.TempDir()
	if err := testtree.Make(filepath.Join(dir, "files"), testtree.Spec{Seed: 3, SmallFiles: 30, LargeFiles: 1, LargeSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	// A symbolic link to the state directory is not followed either.
	if err := os.Symlink("state", filepath.Join(dir, "state-link")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	if code, out, errs := run(t, "-c", cfg, "init", "--source", "D="+dir); code != 0 {
		t.Fatalf("init exit %d\n%s%s", code, out, errs)
	}
	first := backupJSON(t, cfg, 0)
	second := backupJSON(t, cfg, 0)
	b1, b2 := first.Objects[0].Bytes, second.Objects[0].Bytes
	if b2 > b1+b1/10 {
		t.Errorf("second backup %d bytes, first %d: it holds the first's volume", b2, b1)
	}
	db := catalogPath(dir)
	pool := filepath.Join(dir, "state", "volumes", "default")
	for _, res := range [][]string{first.Excluded, second.Excluded} {
		if !slices.Contains(res, db) || !slices.Contains(res, pool) || slices.Contains(res, cfg) {
			t.Errorf("excluded_daisy_state %q: want %s and %s, not the configuration", res, db, pool)
		}
	}
	code, out, errs := run(t, "-c", cfg, "ls", "files", "--source", "D", "-R")
	if code != 0 {
		t.Fatalf("ls files exit %d\n%s%s", code, out, errs)
	}
	for _, bad := range []string{"catalog.db", ".vtape", ".daisy-lock"} {
		if strings.Contains(out, bad) {
			t.Errorf("the backup lists %s:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "daisy.yaml") || !strings.Contains(out, "files/") {
		t.Errorf("the backup lacks the configuration or the data:\n%s", out)
	}
	code, out, _ = run(t, "-c", cfg, "backup")
	if code != 0 || strings.Count(out, "left out daisy's own state: ") != 1 {
		t.Errorf("backup exit %d, want one line naming the state left out:\n%s", code, out)
	}
}

// Issue 8 item 10: a restore whose entries would land on the live catalog
// or in a pool directory is refused before anything is written, and the
// catalog stays intact; the same backup restores elsewhere.
func TestRestoreRefusesLiveState(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := testtree.Make(filepath.Join(data, "tree"), testtree.Spec{Seed: 5, SmallFiles: 20}); err != nil {
		t.Fatal(err)
	}
	// The backup holds data/catalog.db and data/pool/…, as one taken
	// before daisy's state moved would: restored under root they land
	// on the live catalog and pool.
	for name, text := range map[string]string{"catalog.db": "old catalog", "pool/default-0001.vtape": "old volume"} {
		p := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "root")
	cfg := filepath.Join(dir, "daisy.yaml")
	if code, out, errs := run(t, "-c", cfg, "init", "--source", "D="+data); code != 0 {
		t.Fatalf("init exit %d\n%s%s", code, out, errs)
	}
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(root, data, "catalog.db")
	livePool := filepath.Join(root, data, "pool")
	edited := strings.Replace(string(text), "sqlite: state/catalog.db", "sqlite: "+live, 1)
	edited = strings.Replace(edited, "directory: state/volumes/default", "directory: "+livePool, 1)
	if edited == string(text) {
		t.Fatal("daisy init's configuration changed shape")
	}
	if err := os.WriteFile(cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := backupJSON(t, cfg, 0); len(res.Excluded) != 0 {
		t.Fatalf("the source holds no live state, yet %q was left out", res.Excluded)
	}
	before, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"restore", "--source", "D", "--to", root, "--overwrite"},
		{"restore", "--source", "D", "--to", root, "--path", filepath.Join(data, "catalog.db")},
		{"restore", "--source", "D", "--to", root, "--overwrite", "--path", filepath.Join(data, "pool")},
		{"restore", "--source", "D", "--to", filepath.Join(livePool, "sub")},
	} {
		code, out, errs := run(t, append([]string{"-c", cfg}, args...)...)
		if code != ExitUsage || !strings.Contains(errs, "daisy's own state") || (!strings.Contains(errs, live) && !strings.Contains(errs, livePool)) {
			t.Errorf("%s: exit %d, want %d naming the live state\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, ExitUsage, out, errs)
		}
	}
	after, err := os.ReadFile(live)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the live catalog changed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(root, data, "tree")); !os.IsNotExist(err) {
		t.Errorf("a refused restore wrote into the target: %v", err)
	}
	if _, err := os.Stat(filepath.Join(livePool, "sub")); !os.IsNotExist(err) {
		t.Errorf("a refused restore made its target in the pool: %v", err)
	}
	if rep := checkJSON(t, cfg, 0); rep.SQLite != "ok" || rep.Checked.Objects != 1 {
		t.Errorf("catalog after the refusals: %+v", rep)
	}
	// What does not touch the state restores, into the same root too.
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "D", "--to", root, "--path", filepath.Join(data, "tree")); code != 0 {
		t.Errorf("restore --path tree exit %d\n%s%s", code, out, errs)
	}
	other := filepath.Join(dir, "elsewhere")
	code, out, errs := run(t, "-c", cfg, "--json", "restore", "--source", "D", "--to", other)
	if code != 0 {
		t.Fatalf("restore elsewhere exit %d\n%s%s", code, out, errs)
	}
	var res struct{ Entries int64 }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Entries < 20 {
		t.Errorf("restore elsewhere: %v %s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(other, data, "catalog.db")); err != nil || string(got) != "old catalog" {
		t.Errorf("restored catalog.db elsewhere: %q %v", got, err)
	}
}
