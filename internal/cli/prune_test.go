package cli

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// daisy prune: --json shape and exit code; --dry-run changes nothing; the
// text output names what expired, was removed and recycled.
func TestPruneCommand(t *testing.T) {
	small := testtree.Spec{SmallFiles: 5}
	specs := map[string]testtree.Spec{"D1": small, "D2": small, "D3": small, "D4": small, "D5": small}
	dir, cfg := figure2(t, specs, nil)
	backupJSON(t, cfg, 0)

	// Nothing is old enough yet.
	code, out, errs := run(t, "-c", cfg, "--json", "prune")
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, out, errs)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("prune --json: %v\n%s", err, out)
	}
	for _, k := range []string{"expired", "removed", "recycled", "now", "job"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("prune --json has no %q:\n%s", k, out)
		}
	}
	if string(raw["expired"]) != "[]" || string(raw["removed"]) != "[]" || string(raw["recycled"]) != "[]" {
		t.Fatalf("fresh backups expired:\n%s", out)
	}

	// Make every object 60 days old: pools copy1 and copy2 keep 30 days,
	// copy3 90 days.
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
	before, _ := cat.AllCopies(ctx)

	code, out, errs = run(t, "-c", cfg, "--json", "prune", "--dry-run")
	if code != 0 {
		t.Fatalf("prune --dry-run: exit %d\n%s%s", code, out, errs)
	}
	var dry jobs.PruneResult
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("prune --dry-run --json: %v\n%s", err, out)
	}
	if after, _ := cat.AllCopies(ctx); len(after) != len(before) {
		t.Fatalf("dry run dropped copies: %d before, %d after", len(before), len(after))
	}
	// Copies: D1, D2 three each, D4 two, D3 and D5 one; all but the two in
	// copy3 expire. D3, D4, D5 are left with none.
	if !dry.DryRun || len(dry.Expired) != 8 || len(dry.Removed) != 3 {
		t.Fatalf("dry run: %d expired, %d removed (want 8, 3):\n%s", len(dry.Expired), len(dry.Removed), out)
	}
	for _, e := range dry.Expired {
		if e.Pool == "copy3" {
			t.Fatalf("a copy in copy3 (90d) expired after 60 days: %+v", e)
		}
	}
	var removed []string
	for _, r := range dry.Removed {
		removed = append(removed, r.Source)
	}
	sort.Strings(removed)
	if strings.Join(removed, ",") != "D3,D4,D5" {
		t.Fatalf("removed %v, want D3, D4, D5", removed)
	}
	// Every volume of copy1 and copy2 is emptied.
	if len(dry.Recycled) == 0 {
		t.Fatalf("no volume recyclable:\n%s", out)
	}
	for _, v := range dry.Recycled {
		if v.Pool != "copy1" && v.Pool != "copy2" {
			t.Fatalf("volume of pool %s recycled", v.Pool)
		}
	}

	code, out, errs = run(t, "-c", cfg, "prune")
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"8 copies expired", "3 object(s) removed", "expired  D3", "removed  D5", "→ recyclable"} {
		if !strings.Contains(out, want) {
			t.Fatalf("prune output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := cat.AllCopies(ctx); len(left) != 2 {
		t.Fatalf("%d copies left, want the 2 in copy3", len(left))
	}
	// The objects with a copy in copy3 still restore from it.
	restoreAndCompare(t, dir, cfg, "D1", 0)
	restoreAndCompare(t, dir, cfg, "D2", 0)
}
