package cli

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/testtree"
)

// smallSetup is `daisy init` and one full backup of a source of about
// files small files in a fresh directory.
func smallSetup(t *testing.T, files int) (dir, cfg, data string) {
	t.Helper()
	dir = t.TempDir()
	data = filepath.Join(dir, "data")
	if err := testtree.Make(data, testtree.Spec{Seed: 7, SmallFiles: files}); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "daisy.yaml")
	if code, out, errs := run(t, "-c", cfg, "init", "--source", "D="+data); code != 0 {
		t.Fatalf("init exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := run(t, "-c", cfg, "backup"); code != 0 {
		t.Fatalf("backup exit %d\n%s%s", code, out, errs)
	}
	return dir, cfg, data
}

// catalogPath is where `daisy init`'s configuration keeps the catalog.
func catalogPath(dir string) string { return filepath.Join(dir, "state", "catalog.db") }

// volumeSizes maps each volume file of the setup to its size.
func volumeSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "state", "volumes", "*", "*.vtape"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no volume files in %s: %v", dir, err)
	}
	sizes := map[string]int64{}
	for _, f := range m {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		sizes[f] = st.Size()
	}
	return sizes
}

// pageOf returns the page size and the root page of the table or index
// name, read with SQLite itself; the file must have no WAL content left.
func pageOf(t *testing.T, path, name string) (pageSize, root int) {
	t.Helper()
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		t.Fatalf("%s-wal holds %d bytes: the catalog was not checkpointed", path, st.Size())
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, name).Scan(&root); err != nil {
		t.Fatalf("root page of %s: %v", name, err)
	}
	return pageSize, root
}

// varint decodes a SQLite varint.
func varint(b []byte) (v uint64, n int) {
	for n < 8 && n < len(b) {
		v = v<<7 | uint64(b[n]&0x7f)
		if b[n] < 0x80 {
			return v, n + 1
		}
		n++
	}
	return v<<8 | uint64(b[8]), 9
}

// flipIndexKey changes one byte of the key of the first entry of the first
// leaf page of index name (inside its first column, an object ID), the
// kind of damage that makes an index lose a row of its table.
func flipIndexKey(t *testing.T, path, name string) {
	t.Helper()
	pageSize, p := pageOf(t, path, name)
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		off := (p - 1) * pageSize
		hdr := off
		if p == 1 {
			hdr += 100
		}
		switch db[hdr] {
		case 2: // interior index page: follow the first cell's left child
			cell := off + int(binary.BigEndian.Uint16(db[hdr+12:]))
			p = int(binary.BigEndian.Uint32(db[cell:]))
			continue
		case 10: // leaf index page
			cell := off + int(binary.BigEndian.Uint16(db[hdr+8:]))
			_, n := varint(db[cell:])
			payload := cell + n
			h, _ := varint(db[payload:])
			db[payload+int(h)+10] ^= 0x01
		default:
			t.Fatalf("page %d of index %s has type %d", p, name, db[hdr])
		}
		break
	}
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
}

// breakPage overwrites the page type of the root page of table name, a
// damage SQLite's quick check finds.
func breakPage(t *testing.T, path, name string) {
	t.Helper()
	pageSize, p := pageOf(t, path, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0x77}, int64((p-1)*pageSize)); err != nil {
		t.Fatal(err)
	}
}

func checkJSON(t *testing.T, cfg string, wantCode int) catalog.CheckReport {
	t.Helper()
	code, out, errs := run(t, "-c", cfg, "--json", "catalog", "check")
	if code != wantCode {
		t.Fatalf("catalog check exit %d, want %d\nstdout: %s\nstderr: %s", code, wantCode, out, errs)
	}
	var rep catalog.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("catalog check --json: %v\n%s", err, out)
	}
	return rep
}

// Issue 8 item 7: one flipped byte in an index of the catalog is found by
// `daisy catalog check` (SQLite's integrity check), exit 3, with what to do.
func TestCatalogCheckFindsFlippedByte(t *testing.T) {
	dir, cfg, _ := smallSetup(t, 127)
	rep := checkJSON(t, cfg, 0)
	if rep.SQLite != "ok" || len(rep.Problems) != 0 || rep.Checked.Objects != 1 || rep.Checked.Files < 127 {
		t.Fatalf("clean catalog: %+v", rep)
	}
	flipIndexKey(t, catalogPath(dir), "sqlite_autoindex_files_1")
	rep = checkJSON(t, cfg, ExitPartial)
	if rep.SQLite != "damaged" || len(rep.Problems) == 0 || rep.Problems[0].Kind != catalog.ProblemSQLite {
		t.Fatalf("flipped byte not reported: %+v", rep)
	}
	code, out, _ := run(t, "-c", cfg, "catalog", "check")
	if code != ExitPartial || !strings.Contains(out, "sqlite_autoindex_files_1") || !strings.Contains(out, "what to do: ") ||
		!strings.Contains(out, "daisy scan --rebuild --force") {
		t.Fatalf("catalog check exit %d:\n%s", code, out)
	}
}

// Issue 8 item 7: a job quick-checks the catalog first; a damaged page
// stops backup and restore before they write anything, naming catalog
// check and the rebuild.
func TestJobQuickChecksCatalog(t *testing.T) {
	dir, cfg, _ := smallSetup(t, 60)
	before := volumeSizes(t, dir)
	breakPage(t, catalogPath(dir), "files")
	target := filepath.Join(dir, "restored")
	for _, args := range [][]string{
		{"backup"},
		{"restore", "--source", "D", "--to", target},
		{"verify", "--all"},
		{"prune"},
	} {
		code, out, errs := run(t, append([]string{"-c", cfg}, args...)...)
		if code != ExitFailure || !strings.Contains(errs, "is damaged") || !strings.Contains(errs, "daisy catalog check") ||
			!strings.Contains(errs, "daisy scan --rebuild --force") {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", args[0], code, out, errs)
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("restore made its target: %v", err)
	}
	if after := volumeSizes(t, dir); len(after) != len(before) {
		t.Errorf("volumes before %v, after %v", before, after)
	} else {
		for f, n := range before {
			if after[f] != n {
				t.Errorf("%s: %d bytes before, %d after", f, n, after[f])
			}
		}
	}
	if rep := checkJSON(t, cfg, ExitPartial); rep.SQLite != "damaged" {
		t.Errorf("catalog check: %+v", rep)
	}
	// Browsing does not pay for the quick check.
	if code, out, errs := run(t, "-c", cfg, "ls", "objects"); code != 0 || !strings.Contains(out, "full") {
		t.Errorf("ls objects exit %d\n%s%s", code, out, errs)
	}
}

// Issue 8 item 7: a catalog that was deleted, emptied or overwritten next
// to a pool full of volumes is an error naming daisy scan --rebuild, and
// no new, empty catalog takes its place; the rebuild it names works.
func TestLostCatalogNamesRebuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) error
		want   string
	}{
		{"deleted", os.Remove, "does not exist"},
		{"empty", func(p string) error { return os.Truncate(p, 0) }, "is empty (0 bytes)"},
		{"garbage", func(p string) error {
			return os.WriteFile(p, []byte(strings.Repeat("not a database\n", 300)), 0o600)
		}, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg, _ := smallSetup(t, 20)
			path := catalogPath(dir)
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			st0, _ := os.Stat(path)
			for _, args := range [][]string{{"backup"}, {"restore", "--source", "D", "--to", filepath.Join(dir, "r")}, {"ls", "objects"}, {"catalog", "check"}} {
				code, out, errs := run(t, append([]string{"-c", cfg}, args...)...)
				if code == 0 || !strings.Contains(out+errs, tc.want) || !strings.Contains(out+errs, "daisy scan --rebuild") {
					t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", args[0], code, out, errs)
				}
			}
			st1, err := os.Stat(path)
			switch {
			case st0 == nil && err == nil:
				t.Errorf("a new catalog was made at %s", path)
			case st0 != nil && (err != nil || st1.Size() != st0.Size()):
				t.Errorf("the catalog changed: %v, %v", st1, err)
			}
			rebuild := []string{"-c", cfg, "scan", "--rebuild", "--files"}
			if tc.name == "garbage" {
				rebuild = append(rebuild, "--force")
			}
			if code, out, errs := run(t, rebuild...); code != 0 {
				t.Fatalf("scan --rebuild exit %d\n%s%s", code, out, errs)
			}
			if rep := checkJSON(t, cfg, 0); rep.Checked.Objects != 1 {
				t.Errorf("rebuilt catalog: %+v", rep)
			}
			if code, out, errs := run(t, "-c", cfg, "restore", "--source", "D", "--to", filepath.Join(dir, "r")); code != 0 {
				t.Errorf("restore after the rebuild exit %d\n%s%s", code, out, errs)
			}
		})
	}
}

// A brand-new setup still gets its catalog made silently.
func TestFreshSetupMakesCatalog(t *testing.T) {
	dir, cfg, _ := smallSetup(t, 5)
	if _, err := os.Stat(catalogPath(dir)); err != nil {
		t.Fatal(err)
	}
	if rep := checkJSON(t, cfg, 0); rep.Checked.Objects != 1 || rep.Checked.Volumes != 1 {
		t.Errorf("%+v", rep)
	}
}
