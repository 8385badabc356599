package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/testtree"
)

// poolRowsJSON is ls pools --json.
type poolRowsJSON []struct {
	Pool       string         `json:"pool"`
	Type       string         `json:"type"`
	Volumes    int            `json:"volumes"`
	Used       int64          `json:"used_bytes"`
	Live       int64          `json:"live_bytes"`
	Recyclable int64          `json:"recyclable_bytes"`
	States     map[string]int `json:"states"`
}

// pruneReclaimJSON is the part of prune --json that --reclaim adds to.
type pruneReclaimJSON struct {
	Removed   []json.RawMessage `json:"removed"`
	Recycled  []json.RawMessage `json:"recycled"`
	Reclaimed []struct {
		Label  string `json:"label"`
		Before int64  `json:"before"`
		After  int64  `json:"after"`
		Freed  int64  `json:"freed"`
	} `json:"reclaimed"`
	Freed int64 `json:"freed_bytes"`
}

// Issue 9, space: after a backup whose every copy expires, prune
// --reclaim cuts the pool's volume file to its label block (--dry-run
// first says so and changes nothing), ls pools and ls volumes show the
// totals before and after, the catalog checks clean, and the next backup
// reuses the recyclable volume and restores identical.
func TestPruneReclaimShrinksPool(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data", "S")
	if err := testtree.Make(data, testtree.Spec{Seed: 9, SmallFiles: 200, LargeFiles: 1, LargeSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "daisy.yaml")
	yaml := "sources:\n  - name: S\n    paths: [data/S]\npools:\n  - name: default\n    type: vtape\n    volume_capacity: 64MiB\n    retention: 30d\ndevices:\n  - name: tape0\n    type: vtape\nbackup_group:\n  - name: bma0\n    device: tape0\n    buffers:\n      - {name: B1, source: S}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	backupJSON(t, cfg, 0)

	vols := lsJSON[[]catalog.Volume](t, cfg, "volumes")
	if len(vols) != 1 {
		t.Fatalf("want one volume after the backup, got %+v", vols)
	}
	v := vols[0]
	fileSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(v.Path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := fileSize()
	if before < 3<<20 {
		t.Fatalf("volume file %s holds %d bytes, less than the data", v.Path, before)
	}
	p := lsJSON[poolRowsJSON](t, cfg, "pools")
	if len(p) != 1 || p[0].Pool != "default" || p[0].Used != before || p[0].Live < 3<<20 || p[0].Recyclable != 0 || p[0].States["appendable"] != 1 {
		t.Fatalf("ls pools after the backup (file %d bytes): %+v", before, p)
	}

	// Every object 60 days old: the pool keeps 30.
	cat := openCatalog(t, dir)
	ctx := context.Background()
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := cat.SetObjectStarted(ctx, o.ID, time.Now().Add(-60*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	prune := func(args ...string) pruneReclaimJSON {
		t.Helper()
		code, out, errs := run(t, append([]string{"-c", cfg, "--json", "prune", "--reclaim"}, args...)...)
		if code != 0 {
			t.Fatalf("prune --reclaim %v: exit %d\n%s%s", args, code, out, errs)
		}
		var res pruneReclaimJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("prune --json: %v\n%s", err, out)
		}
		return res
	}
	want := before - int64(v.BlockSize)
	dry := prune("--dry-run")
	if dry.Freed != want || len(dry.Reclaimed) != 1 || dry.Reclaimed[0].Label != v.Label {
		t.Fatalf("dry run: freed %d (want %d), reclaimed %+v", dry.Freed, want, dry.Reclaimed)
	}
	if got := fileSize(); got != before {
		t.Fatalf("prune --reclaim --dry-run changed the volume file: %d bytes, was %d", got, before)
	}
	code, out, errs := run(t, "-c", cfg, "prune", "--reclaim", "--dry-run")
	if code != 0 || !strings.Contains(out, "would be freed") || !strings.Contains(out, v.Label) {
		t.Fatalf("prune --reclaim --dry-run: exit %d\n%s%s", code, out, errs)
	}

	res := prune()
	if res.Freed != want || len(res.Reclaimed) != 1 || len(res.Recycled) != 1 || len(res.Removed) != len(objs) {
		t.Fatalf("prune --reclaim: freed %d (want %d), reclaimed %+v, recycled %+v, removed %d of %d", res.Freed, want, res.Reclaimed, res.Recycled, len(res.Removed), len(objs))
	}
	if got := fileSize(); got != int64(v.BlockSize) {
		t.Fatalf("after prune --reclaim the volume file holds %d bytes, want its label block (%d)", got, v.BlockSize)
	}
	p = lsJSON[poolRowsJSON](t, cfg, "pools")
	if len(p) != 1 || p[0].Used != int64(v.BlockSize) || p[0].Live != 0 || p[0].Recyclable != int64(v.BlockSize) || p[0].States["recyclable"] != 1 {
		t.Fatalf("ls pools after prune --reclaim: %+v", p)
	}
	if txt := lsText(t, cfg, "pools"); !strings.Contains(txt, "RECYCLABLE") || !strings.Contains(txt, "1 recyclable") {
		t.Fatalf("ls pools:\n%s", txt)
	}
	if txt := lsText(t, cfg, "volumes"); !strings.Contains(txt, "total default: 1 volume(s) (1 recyclable)") {
		t.Fatalf("ls volumes has no totals:\n%s", txt)
	}
	// Nothing more to free.
	if again := prune(); again.Freed != 0 || len(again.Reclaimed) != 0 {
		t.Fatalf("a second prune --reclaim freed %d: %+v", again.Freed, again.Reclaimed)
	}
	checkJSON(t, cfg, 0)

	// The next backup relabels the recyclable volume: same label and file.
	backupJSON(t, cfg, 0)
	vols = lsJSON[[]catalog.Volume](t, cfg, "volumes")
	if len(vols) != 1 || vols[0].Label != v.Label || vols[0].Path != v.Path || vols[0].ID == v.ID || vols[0].State != "appendable" {
		t.Fatalf("the backup after prune --reclaim did not reuse %s (%s): %+v", v.Label, v.ID, vols)
	}
	target := filepath.Join(t.TempDir(), "restore")
	if code, out, errs := run(t, "-c", cfg, "restore", "--source", "S", "--to", target); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	diffs, err := testtree.Compare(data, filepath.Join(target, data))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("restore after reuse differs:\n%s", strings.Join(diffs[:min(20, len(diffs))], "\n"))
	}
	checkJSON(t, cfg, 0)
}
