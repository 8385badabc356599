package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/catalog"
)

// Issue 9, acceptance 4: the start of a backup as ls objects shows it,
// pasted into restore --at, restores that backup, also when the next one
// started within the same second. It runs the pipeline of the issue
// through sh with the real binary.
func TestAtFromLsObjects(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI has no awk: the README's pipeline cannot be checked")
		}
		t.Skip("no awk")
	}
	bin := buildDaisy(t, t.TempDir())
	for _, sameSecond := range []bool{true, false} {
		name := "different seconds"
		if sameSecond {
			name = "same second"
		}
		t.Run(name, func(t *testing.T) {
			var dir string
			var objs []catalog.Object
			for attempt := 0; ; attempt++ {
				dir, objs = twoBackups(t, bin, sameSecond)
				same := objs[0].Started.Truncate(time.Second).Equal(objs[1].Started.Truncate(time.Second))
				if same == sameSecond {
					break
				}
				if attempt == 4 {
					t.Fatalf("the two backups did not start in the %s: %v, %v", name, objs[0].Started, objs[1].Started)
				}
			}
			for row, want := range map[int]string{2: "one", 3: "two"} {
				out := filepath.Join(dir, fmt.Sprintf("out%d", row))
				// For row 2, exactly as the issue writes it.
				pipeline := fmt.Sprintf(`daisy restore --source S --to %s --at "$(daisy ls objects | awk 'NR==%d {print $4" "$5}')"`, out, row)
				stdout := sh(t, dir, bin, pipeline)
				obj := objs[row-2]
				if !strings.Contains(stdout, "restored "+obj.ID+" ("+obj.Level+" of S, started "+obj.Started.Local().Format(startedLayout)+")") {
					t.Errorf("row %d: %s\ndoes not say it restored %s (%s, started %s)", row, stdout, obj.ID, obj.Level, obj.Started.Local().Format(startedLayout))
				}
				got, err := os.ReadFile(filepath.Join(out, dir, "data", "S", "f.txt"))
				if err != nil || string(got) != want {
					t.Errorf("row %d: restored f.txt = %q, %v; want %q (the backup of that row)", row, got, err, want)
				}
			}
			// The JSON says which backup was chosen too.
			var rr struct {
				Object  string    `json:"object"`
				Level   string    `json:"level"`
				Started time.Time `json:"started"`
			}
			stdout := sh(t, dir, bin, `daisy --json restore --source S --to out-json --at "$(daisy ls objects | awk 'NR==2 {print $4" "$5}')"`)
			if err := json.Unmarshal([]byte(stdout), &rr); err != nil {
				t.Fatalf("restore --json: %v\n%s", err, stdout)
			}
			if rr.Object != objs[0].ID || rr.Level != objs[0].Level || !rr.Started.Equal(objs[0].Started) {
				t.Errorf("restore --json chose %s (%s, %v), want %s (%s, %v)", rr.Object, rr.Level, rr.Started, objs[0].ID, objs[0].Level, objs[0].Started)
			}
		})
	}
}

// twoBackups makes a configuration in a fresh directory and two backups of
// its source S, whose file f.txt holds "one" in the first and "two" in the
// second, started within one second or (sameSecond false) in different
// seconds. It returns the directory and the two objects.
func twoBackups(t *testing.T, bin string, sameSecond bool) (string, []catalog.Object) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "data", "S")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	oneSourceConfig(t, dir)
	nextSecond := func() {
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	}
	for i, content := range []string{"one", "two"} {
		if err := os.WriteFile(filepath.Join(src, "f.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 0 || !sameSecond {
			nextSecond()
		}
		sh(t, dir, bin, "daisy backup --level full")
	}
	var objs []catalog.Object
	if err := json.Unmarshal([]byte(sh(t, dir, bin, "daisy --json ls objects")), &objs); err != nil || len(objs) != 2 {
		t.Fatalf("ls objects --json: %v, %d objects", err, len(objs))
	}
	return dir, objs
}

// sh runs a command line with sh in dir, with bin as daisy on the PATH,
// and returns its standard output.
func sh(t *testing.T, dir, bin, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %s: %v\n%s%s", line, err, out, stderr.String())
	}
	return string(out)
}

// oneSourceConfig writes dir/daisy.yaml: source S (dir/data/S) backed up
// to a vtape pool, and returns its path.
func oneSourceConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := "sources:\n  - name: S\n    paths: [data/S]\npools:\n  - name: default\n    type: vtape\n    volume_capacity: 64MiB\ndevices:\n  - name: tape0\n    type: vtape\nbackup_group:\n  - name: bma0\n    device: tape0\n    buffers:\n      - {name: B1, source: S}\n"
	p := filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
