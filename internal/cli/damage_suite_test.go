package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/testtree"
	"daisy/internal/volume"
)

// Issue 8, acceptance 4: random single-byte flips in the volumes of a
// figure 2 backup (uniform, and some aimed at block headers and labels), each on an otherwise intact set of volumes (flip, run,
// flip back). For each flip, every object with records in the block is
// restored from the damaged copy alone and, when it has another copy, with
// fallback. Never silent wrong content: a restored file that is not listed
// as lost is identical to its source; every flip in a block's records or
// header is reported with its object and a range that covers what the
// block held; with a second good copy the restore is identical.
//
// DAISY_DAMAGE_FLIPS sets the number of flips (default 24),
// DAISY_DAMAGE_MB the data of each of the five sources in MiB (default 2),
// DAISY_DAMAGE_SEED the seed.
func TestDamageSuite(t *testing.T) {
	flips := envInt(t, "DAISY_DAMAGE_FLIPS", 24)
	mb := envInt(t, "DAISY_DAMAGE_MB", 2)
	seed := envInt(t, "DAISY_DAMAGE_SEED", 1)
	if testing.Short() && os.Getenv("DAISY_DAMAGE_FLIPS") == "" {
		flips = 8
	}
	spec := testtree.Spec{SmallFiles: 120, LargeFiles: 2, LargeSize: max(int64(mb)<<20/2, 64<<10)}
	specs := map[string]testtree.Spec{}
	for i := 1; i <= 5; i++ {
		specs[fmt.Sprintf("D%d", i)] = spec
	}
	start := time.Now()
	dir, cfg := figure2(t, specs, nil)
	backupJSON(t, cfg, 0)
	setup := time.Since(start)

	// What is where, from the catalog.
	ctx := context.Background()
	cat, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cat.Objects(ctx, catalog.ObjectFilter{})
	if err != nil {
		t.Fatal(err)
	}
	source := map[string]string{}     // object → source
	copiesOf := map[string]int{}      // object → good copies
	onVolume := map[string][][2]any{} // volume → (object, copy)
	for _, o := range objs {
		source[o.ID] = o.Source
		cps, err := cat.Copies(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			copiesOf[o.ID]++
			exts, err := cat.Extents(ctx, o.ID, c.Number)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range exts {
				if !seen[e.VolumeID] {
					seen[e.VolumeID] = true
					onVolume[e.VolumeID] = append(onVolume[e.VolumeID], [2]any{o.ID, c.Number})
				}
			}
		}
	}
	vols, err := cat.Volumes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cat.Close()
	var sizes []int64
	var total int64
	for _, v := range vols {
		fi, err := os.Stat(v.Path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
		total += fi.Size()
	}

	type tally struct{ flips, objects, reported, intact, fallbacks, identical int }
	counts := map[string]*tally{}
	silent := 0
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	for i := range flips {
		// A byte of the volumes, uniformly.
		at := rng.Int64N(total)
		vi := 0
		for at >= sizes[vi] {
			at -= sizes[vi]
			vi++
		}
		v := vols[vi]
		bs := int64(v.BlockSize)
		// Uniform flips almost never hit the 64 bytes of a block header
		// or a label: every 10th flip is aimed at a block header, every
		// 25th at the label's payload.
		switch {
		case i%25 == 24:
			h, err := volume.ParseBlockHeader(labelBlock(t, v.Path, v.BlockSize))
			if err != nil {
				t.Fatal(err)
			}
			at = int64(volume.BlockHeaderSize) + rng.Int64N(int64(h.Length))
		case i%10 == 9:
			at = (1+rng.Int64N(sizes[vi]/bs-1))*bs + rng.Int64N(volume.BlockHeaderSize)
		}
		block, pos := at/bs, int(at%bs)
		class := "label"
		type hit struct {
			object   string
			copyN    int
			from, to int64 // data of the object in the block; -1 if none
		}
		var hits []hit
		if block == 0 {
			if h, err := volume.ParseBlockHeader(labelBlock(t, v.Path, v.BlockSize)); err == nil && pos >= volume.BlockHeaderSize+int(h.Length) {
				class = "label padding"
			}
			for _, oc := range onVolume[v.ID] {
				hits = append(hits, hit{oc[0].(string), oc[1].(int), -1, -1})
			}
		} else {
			h, recs, ok := readBlockRecs(t, v.Path, v.BlockSize, block)
			switch {
			case !ok:
				t.Fatalf("flip %d: volume %s block %d is not intact before the flip", i, v.Label, block)
			case pos < volume.BlockHeaderSize:
				class = "header"
			case pos < volume.BlockHeaderSize+int(h.Length):
				class = "records"
			default:
				class = "padding"
			}
			byObj := map[string]*hit{}
			var order []string
			for _, r := range recs {
				if !r.Type.IsObject() {
					continue
				}
				id := r.Object.String()
				hh := byObj[id]
				if hh == nil {
					cn := 0
					for _, oc := range onVolume[v.ID] {
						if oc[0].(string) == id {
							cn = oc[1].(int)
						}
					}
					hh = &hit{id, cn, -1, -1}
					byObj[id] = hh
					order = append(order, id)
				}
				if r.Type.IsData() {
					if hh.from < 0 {
						hh.from = r.Offset
					}
					hh.to = r.End
				}
			}
			for _, id := range order {
				hits = append(hits, *byObj[id])
			}
			if len(hits) == 0 {
				class += " (no object records)"
			}
		}
		c := counts[class]
		if c == nil {
			c = &tally{}
			counts[class] = c
		}
		c.flips++
		flipByte(t, v.Path, at)
		for _, h := range hits {
			c.objects++
			src := filepath.Join(dir, "data", source[h.object])
			what := fmt.Sprintf("flip %d (%s, volume %s block %d byte %d) object %s (%s) copy %d", i, class, v.Label, block, pos, h.object, source[h.object], h.copyN)
			// From the damaged copy alone.
			target := filepath.Join(t.TempDir(), "r")
			code, out, errs := run(t, "-c", cfg, "--json", "restore", "--object", h.object, "--copy", fmt.Sprint(h.copyN), "--to", target)
			var rr damageResult
			if code == 0 || code == ExitPartial {
				if err := json.Unmarshal([]byte(out), &rr); err != nil {
					t.Fatalf("%s: restore --json: %v\n%s", what, err, out)
				}
				skip := lostPaths(t, rr, src)
				for _, p := range rr.Problems {
					for path := range listedIn(p, src) {
						skip[path] = true
					}
				}
				if d := sameContent(t, src, filepath.Join(target, src), skip); len(d) > 0 {
					silent++
					t.Errorf("%s: exit %d, content differs beyond the entries reported lost: %v", what, code, d)
				}
			}
			switch {
			case class == "padding" || class == "label padding" || strings.HasSuffix(class, "(no object records)"):
				// Outside the block's checksum, or only other records:
				// the object reads whole.
				if code != 0 {
					t.Errorf("%s: exit %d, want 0: %s", what, code, errs)
				} else {
					c.intact++
				}
			case code == 0 && class == "label":
				// A reader that recovers the label from its copies:
				// the content was compared above.
				c.intact++
			case code == ExitFailure && class == "label" && strings.Contains(errs, v.Label):
				c.reported++
			case code == ExitPartial:
				ok := false
				for _, r := range rr.LostRanges {
					if r.Object == h.object && (h.from < 0 || (r.From <= h.from && r.To >= h.to)) {
						ok = true
					}
				}
				if ok {
					c.reported++
				} else {
					t.Errorf("%s: lost ranges %+v do not cover the block's data %d..%d", what, rr.LostRanges, h.from, h.to)
				}
			default:
				t.Errorf("%s: exit %d, want 3 with the damage reported: %s", what, code, errs)
			}
			// With another copy, whole.
			if copiesOf[h.object] > 1 {
				c.fallbacks++
				target := filepath.Join(t.TempDir(), "r")
				code, _, errs := run(t, "-c", cfg, "restore", "--object", h.object, "--to", target)
				if d := sameContent(t, src, filepath.Join(target, src), nil); code != 0 || len(d) > 0 {
					t.Errorf("%s: restore with fallback: exit %d, differences %v: %s", what, code, d, errs)
				} else {
					c.identical++
				}
				os.RemoveAll(filepath.Dir(target))
			}
			os.RemoveAll(filepath.Dir(target))
		}
		flipByte(t, v.Path, at)
		if (i+1)%50 == 0 {
			t.Logf("%d flips done in %v, silent wrong content %d", i+1, time.Since(start.Add(setup)).Round(time.Second), silent)
		}
	}
	var lines []string
	for class, c := range counts {
		lines = append(lines, fmt.Sprintf("  %-28s %4d flips, %4d object reads from the damaged copy: %4d damage reported with object and range, %4d intact (exit 0, identical); %4d restores with fallback, %4d identical",
			class, c.flips, c.objects, c.reported, c.intact, c.fallbacks, c.identical))
	}
	t.Logf("damage suite: %d flips over %d volumes (%d MiB), seed %d; silent wrong content: %d; setup %v, flips %v\n%s",
		flips, len(vols), total>>20, seed, silent, setup.Round(time.Second), time.Since(start.Add(setup)).Round(time.Second), strings.Join(lines, "\n"))
}

// labelBlock reads block 0 of a volume file.
func labelBlock(t *testing.T, path string, bs int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, bs)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// listedIn returns the paths under src named in a problem message.
func listedIn(problem, src string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.FieldsFunc(problem, func(r rune) bool { return r == '"' || r == ':' }) {
		f = strings.TrimSpace(f)
		full := "/" + strings.TrimPrefix(f, "/")
		if i := strings.Index(full, src+"/"); i > 0 {
			full = full[i:] // a path in the restore's target
		}
		if rel, err := filepath.Rel(src, full); err == nil && !strings.HasPrefix(rel, "..") {
			m[rel] = true
		}
	}
	return m
}
