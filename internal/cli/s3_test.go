package cli

import (
	"fmt"
	"strings"
	"testing"

	"daisy/internal/catalog"
	"daisy/internal/device/s3/s3test"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// mirrorOnS3 puts pool copy2 of figure 2 (mirror level 1, devices R5 and
// R8) into the bucket of srv, with volumes of 4 MiB in parts of 1 MiB so
// that copies span volumes and volumes span parts, and adds a vtape pool
// copy4 for copies made later.
func mirrorOnS3(srv *s3test.Server) func(string) string {
	return func(s string) string {
		pool := "  - name: copy2             # second copies, written by mirror level 1\n    type: vtape\n    directory: state/volumes/copy2\n    volume_capacity: 4GiB\n"
		if !strings.Contains(s, pool) {
			panic("figure2.yaml changed shape: no vtape pool copy2")
		}
		s = strings.Replace(s, pool, fmt.Sprintf(`  - name: copy2             # second copies, in object storage
    type: s3
    endpoint: %s
    bucket: %s
    prefix: daisy/copy2
    region: us-east-1
    part_size: 1MiB
    volume_capacity: 4MiB
  - name: copy4
    type: vtape
    directory: state/volumes/copy4
`, srv.Endpoint, srv.Bucket), 1)
		for _, dev := range []string{"R5", "R8"} {
			old := "  - name: " + dev + "\n    type: vtape\n"
			if !strings.Contains(s, old) {
				panic("figure2.yaml changed shape: no device " + dev)
			}
			s = strings.Replace(s, old, "  - name: "+dev+"\n    type: s3\n", 1)
		}
		return s
	}
}

// Acceptance 3 of issue 10: figure 2 with mirror level 1 on S3 (a real
// server on loopback) and the rest on virtual tapes. One backup; every
// source × copy restores identical; a copy job from the S3 pool to a vtape
// pool; verify --all; the catalog deleted and rebuilt from the bucket and
// the volume directories; every copy restores again.
func TestFigure2MirrorOnS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	spec := testtree.Spec{SmallFiles: 60, LargeFiles: 2, LargeSize: 3 << 20}
	dir, cfg := figure2(t, map[string]testtree.Spec{"D1": spec, "D2": spec, "D4": spec}, mirrorOnS3(srv))
	if code, out, errs := run(t, "-c", cfg, "check"); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errs)
	}

	res := backupJSON(t, cfg, 0)
	want := map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}
	states := copyStates(res)
	for src, n := range want {
		for c := 1; c <= n; c++ {
			if states[src][c] != jobs.CopyGood {
				t.Fatalf("%s copy %d is %q (%v)", src, c, states[src][c], states[src])
			}
		}
	}
	// The second copies are in the bucket: the volumes of pool copy2 are
	// prefixes with a manifest and parts, and some copy spans volumes.
	var s3Vols []catalog.Volume
	for _, v := range lsJSON[[]catalog.Volume](t, cfg, "volumes") {
		if v.Pool == "copy2" {
			s3Vols = append(s3Vols, v)
		}
	}
	if len(s3Vols) < 2 {
		t.Fatalf("pool copy2 has %d volumes, want at least 2 (spanning)", len(s3Vols))
	}
	objs := srv.Objects(t, "daisy/copy2/")
	for _, v := range s3Vols {
		if !objs["daisy/copy2/"+v.Label+"/manifest.json"] || !objs["daisy/copy2/"+v.Label+"/part-00000001-000000000000"] {
			t.Fatalf("volume %s (%s) is not in the bucket: %v", v.Label, v.Path, objs)
		}
	}
	for src, n := range want {
		for c := 1; c <= n; c++ {
			restoreAndCompare(t, dir, cfg, src, c)
		}
	}

	// A copy job reads the S3 copies and writes them onto virtual tapes.
	cres := copyJSON(t, 0, "-c", cfg, "copy", "--from-pool", "copy2", "--to-pool", "copy4", "--all")
	if len(cres.Objects) != 3 {
		t.Fatalf("copy from copy2: %d objects, want D1, D2 and D4", len(cres.Objects))
	}
	newCopy := map[string]int{}
	for _, o := range cres.Objects {
		if o.FromPool != "copy2" || o.FromCopy != 2 || len(o.NewCopies) != 1 || o.Error != "" {
			t.Fatalf("copy of %s: from copy %d of pool %s, new %v, error %q", o.Source, o.FromCopy, o.FromPool, o.NewCopies, o.Error)
		}
		newCopy[o.Source] = o.NewCopies[0]
		want[o.Source]++
	}
	for src, c := range newCopy {
		if c != want[src] {
			t.Fatalf("new copy of %s is %d, want %d", src, c, want[src])
		}
		restoreAndCompare(t, dir, cfg, src, c)
	}
	total := 0
	for _, n := range want {
		total += n
	}

	if v := verifyJSON(t, 0, "-c", cfg, "--all"); v.OK != total || v.Damaged != 0 {
		t.Fatalf("verify --all: %d ok, %d damaged; want %d ok", v.OK, v.Damaged, total)
	}

	// The catalog is lost: the bucket and the volume directories give it
	// back.
	removeCatalog(t, dir)
	rb := rebuildJSON(t, cfg, 0, "--files")
	if rb.CopiesGood != total || rb.CopiesFailed != 0 || len(rb.Problems) != 0 {
		t.Fatalf("rebuild: %d good, %d failed copies, problems %v; want %d good", rb.CopiesGood, rb.CopiesFailed, rb.Problems, total)
	}
	rebuilt := 0
	for _, v := range lsJSON[[]catalog.Volume](t, cfg, "volumes") {
		if v.Pool == "copy2" {
			rebuilt++
		}
	}
	if rebuilt != len(s3Vols) {
		t.Fatalf("rebuild found %d volumes of copy2, the backup wrote %d", rebuilt, len(s3Vols))
	}
	for src, n := range want {
		for c := 1; c <= n; c++ {
			restoreAndCompare(t, dir, cfg, src, c)
		}
	}
}
