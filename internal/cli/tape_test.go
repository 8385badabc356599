package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/device/tape"
	"daisy/internal/device/tape/sttest"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// Issue 10, acceptance 4, on the fake st driver and the fake mtx: eight
// sources backed up onto one cartridge of a changer with one drive; the
// restore of one object reads only its blocks and at most two more per
// extent (restore --json's bytes_read, and the fake drive's count); a
// backup of a ninth source spans three cartridges at the early warning;
// every object restores; the catalog, deleted, is rebuilt from the
// cartridges with scan --rebuild and every object restores again.
func TestTapeChangerAcceptance(t *testing.T) {
	const bs = 64 << 10
	dir := t.TempDir()
	shelf := sttest.NewShelf(filepath.Join(dir, "shelf"))
	if err := os.Mkdir(shelf.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tags := []string{"T01", "T02", "T03", "T04"}
	for _, tag := range tags {
		// The early warning after 64 blocks (4 MiB), the end 16 later.
		if err := shelf.AddCartridge(tag, 80*bs, 64*bs); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if _, err := shelf.InstallMtx(bin, tags, 1); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	defer tape.SetTestOpener(shelf.Open)()

	var srcs, bufs strings.Builder
	for i := 1; i <= 9; i++ {
		spec := testtree.Spec{Seed: uint64(i), SmallFiles: 6, LargeFiles: 1, LargeSize: 256 << 10}
		if i == 9 {
			spec = testtree.Spec{Seed: 9, SmallFiles: 4, LargeFiles: 8, LargeSize: 1 << 20}
		}
		if err := testtree.Make(filepath.Join(dir, "data", fmt.Sprintf("S%d", i)), spec); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&srcs, "  - {name: S%d, paths: [data/S%d]}\n", i, i)
		fmt.Fprintf(&bufs, "      - {name: B%d, source: S%d}\n", i, i)
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "defaults: {buffer_size: 1MiB, block_size: 64KiB, extent_size: 1MiB}\nsources:\n" + srcs.String() +
		"pools:\n  - {name: tapes, type: tape}\n" +
		"devices:\n  - {name: robot, type: changer, path: " + filepath.Join(shelf.Dir, "sg1") + "}\n" +
		"  - {name: lto1, type: tape, path: " + filepath.Join(shelf.Dir, "nst0") + ", changer: robot}\n" +
		"backup_group:\n  - name: bma\n    device: lto1\n    pool: tapes\n    buffers:\n" + bufs.String()
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, "-c", cfg, "check"); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errs)
	}

	// Eight objects on one cartridge.
	args := []string{"-c", cfg, "--json", "backup"}
	for i := 1; i <= 8; i++ {
		args = append(args, "--source", fmt.Sprintf("S%d", i))
	}
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("backup of S1..S8: exit %d\n%s%s", code, out, errs)
	}
	ctx := context.Background()
	catPath := filepath.Join(dir, "state", "catalog.db")
	objects := func() (map[string]catalog.Object, []catalog.Volume) {
		cat, err := catalog.Open(ctx, catPath)
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]catalog.Object{}
		for _, o := range objs {
			m[o.Source] = o
		}
		vols, err := cat.Volumes(ctx, "tapes")
		if err != nil {
			t.Fatal(err)
		}
		return m, vols
	}
	objs, vols := objects()
	if len(objs) != 8 || len(vols) != 1 || vols[0].Path != "T01" {
		t.Fatalf("after the first backup: %d objects, volumes %+v; want 8 on T01", len(objs), vols)
	}

	// One object of the eight: its blocks, and at most two more per extent.
	cat, err := catalog.Open(ctx, catPath)
	if err != nil {
		t.Fatal(err)
	}
	exts, err := cat.Extents(ctx, objs["S3"].ID, 1)
	cat.Close()
	if err != nil || len(exts) == 0 {
		t.Fatalf("extents of S3: %v, %v", exts, err)
	}
	var own int64
	for _, e := range exts {
		own += e.LastBlock - e.FirstBlock + 1
	}
	bound := own + 2*int64(len(exts))
	before := shelf.Counters.BlocksRead.Load()
	target := filepath.Join(t.TempDir(), "r3")
	rr := restoreJSON(t, 0, "-c", cfg, "restore", "--source", "S3", "--to", target)
	physical := shelf.Counters.BlocksRead.Load() - before
	t.Logf("S3: %d extents of %d blocks on a cartridge of eight objects; restore read %d blocks (--json bytes_read %d), the drive %d (the label included)",
		len(exts), own, rr.BytesRead/bs, rr.BytesRead, physical)
	if rr.BytesRead <= 0 || rr.BytesRead > bound*bs {
		t.Fatalf("restore of S3 read %d bytes (%d blocks); its %d extents hold %d blocks: at most %d blocks", rr.BytesRead, rr.BytesRead/bs, len(exts), own, bound)
	}
	// The device counter per volume: one cartridge, mounted once.
	if len(rr.VolumesRead) != 1 || rr.VolumesRead[0].Mounts != 1 || rr.VolumesRead[0].Blocks <= 0 || rr.VolumesRead[0].Blocks > bound {
		t.Fatalf("volumes_read %+v: want one mount of T01 reading at most %d blocks", rr.VolumesRead, bound)
	}
	if physical > bound+1 {
		t.Fatalf("the drive read %d blocks for S3, more than its %d blocks, two per extent and the label", physical, own)
	}
	compareRestored(t, dir, target, "S3")

	// A ninth source spans three cartridges at the early warning.
	code, out, errs = run(t, "-c", cfg, "--json", "backup", "--source", "S9")
	if code != 0 {
		t.Fatalf("backup of S9: exit %d\n%s%s", code, out, errs)
	}
	var res jobs.BackupResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || len(res.Objects[0].Copies) != 1 || strings.Join(res.Objects[0].Copies[0].Volumes, " ") != "T01 T02 T03" {
		t.Fatalf("S9's copy: %+v, want it on the cartridges T01, T02 and T03 (barcodes are labels)", res.Objects)
	}
	objs, vols = objects()
	var used []string
	for _, v := range vols {
		used = append(used, v.Path)
	}
	if strings.Join(used, " ") != "T01 T02 T03" {
		t.Fatalf("volumes after the second backup: %v, want T01 T02 T03", used)
	}
	for _, tag := range tags {
		c, err := shelf.Cartridge(tag)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d blocks, %d filemarks", tag, c.Blocks(), c.Filemarks())
		if (tag == "T04") != (c.Blocks() == 0) {
			t.Errorf("%s holds %d blocks", tag, c.Blocks())
		}
	}
	restoreAll := func(what string) {
		for i := 1; i <= 9; i++ {
			src := fmt.Sprintf("S%d", i)
			target := filepath.Join(t.TempDir(), "r")
			if code, out, errs := run(t, "-c", cfg, "restore", "--source", src, "--to", target); code != 0 {
				t.Fatalf("%s: restore %s: exit %d\n%s%s", what, src, code, out, errs)
			}
			compareRestored(t, dir, target, src)
		}
	}
	restoreAll("after the backups")

	// The catalog rebuilt from the cartridges alone.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(catPath + suffix)
	}
	if code, out, errs := run(t, "-c", cfg, "scan", "--rebuild"); code != 0 {
		t.Fatalf("scan --rebuild: exit %d\n%s%s", code, out, errs)
	}
	if objs2, _ := objects(); len(objs2) != 9 {
		t.Fatalf("rebuilt catalog: %d objects, want 9", len(objs2))
	}
	restoreAll("after the rebuild")
}

// compareRestored compares the restore of source src in target with its
// data.
func compareRestored(t *testing.T, dir, target, src string) {
	t.Helper()
	orig := filepath.Join(dir, "data", src)
	diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("restore of %s differs: %v", src, diffs[:min(len(diffs), 10)])
	}
}
