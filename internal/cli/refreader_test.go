package cli

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// needTool returns the path of a tool the test runs; without it the test
// is skipped on a developer's machine and fails in CI, where it must run.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has no %s: the reference reader cannot be checked", name)
		}
		t.Skipf("no %s", name)
	}
	return p
}

// Issue 10, acceptance 6: docs/daisy-read.py, the reference reader written
// from docs/FORMAT.md alone in Python, reads the vtape volumes daisy wrote
// and gives each object's tar stream byte for byte as daisy cat does:
// objects multiplexed onto one device, spanning volumes, with a sparse
// file, a symbolic link and a hard link; a compressed object where the
// Python has a zstd decoder (3.14), else a clear refusal. It lists the
// objects of a volume, follows spans in any order of the files, and
// reports damage and missing volumes with a non-zero exit.
func TestReferenceReader(t *testing.T) {
	python := needTool(t, "python3")
	tarBin := needTool(t, "tar")
	reader, err := filepath.Abs(filepath.Join("..", "..", "docs", "daisy-read.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.NewChaCha8([32]byte{10})
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rng.Read(b)
		return b
	}
	write := func(rel string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, "data", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// S: several files, a sparse one, a symbolic link, a hard link.
	write("S/notes.txt", []byte("a few notes\n"))
	write("S/sub/random.bin", random(150<<10))
	write("S/sub/deeper/empty", nil)
	if err := os.Symlink("sub/random.bin", filepath.Join(dir, "data/S/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "data/S/notes.txt"), filepath.Join(dir, "data/S/hardlink")); err != nil {
		t.Fatal(err)
	}
	sparse, err := os.Create(filepath.Join(dir, "data/S/sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparse.WriteAt(random(8<<10), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(3 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()
	// B: larger than a volume, so that it spans.
	write("B/big", random(800<<10))
	// Z: compressed.
	write("Z/text", bytes.Repeat([]byte("compressible text, over and over again\n"), 8000))

	cfgText := `defaults: {block_size: 64KiB}
sources:
  - {name: S, paths: [data/S]}
  - {name: B, paths: [data/B]}
  - {name: Z, paths: [data/Z], compression: zstd}
pools:
  - {name: p, type: vtape, directory: pool, volume_capacity: 512KiB, free_space: 0}
devices:
  - {name: tape0, type: vtape}
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - {name: B1, source: S}
      - {name: B2, source: B}
      - {name: B3, source: Z}
`
	cfg := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	res := backupJSON(t, cfg, 0)
	vols, err := filepath.Glob(filepath.Join(dir, "pool", "*.vtape"))
	if err != nil || len(vols) < 3 {
		t.Fatalf("%d volume files (%v), want at least 3: the objects should span", len(vols), err)
	}
	// The files in reverse order: the reader finds where each object
	// begins and follows its spans whatever the order given.
	slices.Reverse(vols)

	reference := func(args ...string) (stdout []byte, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(python, append([]string{reader}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code = cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("python3 %s: %v", reader, err)
		}
		return out.Bytes(), errb.String(), code
	}
	tarList := func(stream []byte) string {
		t.Helper()
		cmd := exec.Command(tarBin, "-tf", "-")
		cmd.Stdin = bytes.NewReader(stream)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tar -t: %v", err)
		}
		return string(out)
	}
	// Python 3.14's standard library decodes zstd (compression.zstd).
	hasZstd := exec.Command(python, "-c", "import compression.zstd").Run() == nil

	spanned := false
	for _, o := range res.Objects {
		code, cat, errs := run(t, "-c", cfg, "cat", o.Object)
		if code != 0 {
			t.Fatalf("daisy cat %s: exit %d\n%s", o.Object, code, errs)
		}
		got, stderr, rc := reference(append(slices.Clone(vols), o.Object)...)
		if o.Source == "Z" && !hasZstd {
			if rc != 1 || !strings.Contains(stderr, "zstd") || !strings.Contains(stderr, "3.14") {
				t.Errorf("compressed %s without a zstd decoder: exit %d, want 1 with a message naming zstd and Python 3.14:\n%s", o.Source, rc, stderr)
			}
			continue
		}
		if rc != 0 {
			t.Fatalf("reference reader of %s (%s): exit %d\n%s", o.Object, o.Source, rc, stderr)
		}
		if !bytes.Equal(got, []byte(cat)) {
			t.Errorf("%s: the reference reader's stream (%d bytes) differs from daisy cat's (%d bytes)\n%s", o.Source, len(got), len(cat), stderr)
		}
		want := tarList([]byte(cat))
		if list := tarList(got); list != want {
			t.Errorf("%s: tar -t of the reference reader's stream:\n%s\nof daisy cat's:\n%s", o.Source, list, want)
		}
		if o.Source == "S" {
			for _, name := range []string{"notes.txt", "sub/random.bin", "sub/deeper/empty", "link", "hardlink", "sparse"} {
				if !strings.Contains(want, "data/S/"+name+"\n") {
					t.Errorf("S: no %s in tar -t:\n%s", name, want)
				}
			}
		}
		for _, c := range o.Copies {
			spanned = spanned || len(c.Volumes) > 1
		}
	}
	if !spanned {
		t.Errorf("no object spanned volumes: %+v", res.Objects)
	}

	// --list names every object on the volumes.
	out, stderr, rc := reference(append([]string{"--list"}, vols...)...)
	for _, o := range res.Objects {
		if rc != 0 || !strings.Contains(string(out), o.Object) {
			t.Errorf("--list: exit %d, no %s:\n%s%s", rc, o.Object, out, stderr)
		}
	}

	big := outcomeOf(t, res, "B")
	// A volume of the span left out: the reader says which, exit 1.
	var rest []string
	for _, v := range vols {
		if !strings.Contains(v, big.Copies[0].Volumes[1]) {
			rest = append(rest, v)
		}
	}
	if _, stderr, rc := reference(append(rest, big.Object)...); rc != 1 || !strings.Contains(stderr, big.Copies[0].Volumes[1]) || !strings.Contains(stderr, "INCOMPLETE") {
		t.Errorf("without volume %s: exit %d, want 1 naming it\n%s", big.Copies[0].Volumes[1], rc, stderr)
	}
	// Damaged blocks on the second volume of the span: reported by volume
	// and block, exit 1, less than the object written.
	second := filepath.Join(dir, "pool", big.Copies[0].Volumes[1]+".vtape")
	data, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 64 << 10
	for b := 2; (b+1)*bs <= len(data); b++ {
		data[b*bs+bs/2] ^= 0x40 // in every data block after the first
	}
	damaged := filepath.Join(t.TempDir(), filepath.Base(second))
	if err := os.WriteFile(damaged, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, v := range vols {
		if v != second {
			others = append(others, v)
		}
	}
	got, stderr, rc := reference(append(others, damaged, big.Object)...)
	if rc != 1 || !strings.Contains(stderr, "damaged") || !strings.Contains(stderr, "volume "+big.Copies[0].Volumes[1]+" ("+filepath.Base(second)+"): blocks 2 to") || !strings.Contains(stderr, "INCOMPLETE") {
		t.Errorf("damaged volume %s: exit %d, want 1 reporting the blocks\n%s", big.Copies[0].Volumes[1], rc, stderr)
	}
	if int64(len(got)) >= big.Bytes {
		t.Errorf("damaged volume: %d bytes written, the whole object is %d", len(got), big.Bytes)
	}
}
