package main

// The README test (issue 9, acceptance 2): the commands of README.md,
// extracted from the file (every indented code block, in order), run with
// bash -e -o pipefail in a fresh clone-like directory: a temporary
// directory that holds copies of the repository's docs/, examples/ and
// scripts/ and the daisy binary built by this test at ./daisy. Each line
// must exit 0 (the lines whose comments name exit 3 do so only on damage,
// and this run has none). The whole sequence runs twice in the same
// directory, as a user who pastes it again would.
//
// Changes made to the lines before they run, and nothing else:
//   - the set-up line's leading "go build -o daisy ./cmd/daisy && " is
//     dropped: the binary is already at ./daisy, built from this tree;
//   - "/tmp/daisy-readme-" becomes "<temporary dir>/daisy-readme-", so that
//     two runs of the test never share a target and nothing is left in /tmp.
//
// Lines left out (readmeSkip): ./scripts/test (the suite itself) and
// ./scripts/fuzz.sh 10m (ten minutes per decoder).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readmeSkip lists the README commands the test does not run.
var readmeSkip = map[string]string{
	"./scripts/test":        "the test suite itself",
	"./scripts/fuzz.sh 10m": "ten minutes of fuzzing per decoder",
}

const readmeBuild = "go build -o daisy ./cmd/daisy && "

// readmeLine is one command of README.md and its line number.
type readmeLine struct {
	n   int
	cmd string
}

// readmeCommands returns the lines of README.md's indented code blocks,
// in order, and fails if the set-up line or a skipped line is missing (a
// README rewritten without them needs this test changed too).
func readmeCommands(t *testing.T, readme string) []readmeLine {
	t.Helper()
	var out []readmeLine
	seen := map[string]bool{}
	inFence := false
	for i, l := range strings.Split(readme, "\n") {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
			continue
		}
		var cmd string
		switch {
		case inFence:
			cmd = l
		case strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t"):
			cmd = strings.TrimSpace(l)
		default:
			continue
		}
		cmd = strings.TrimSpace(cmd)
		if cmd == "" {
			continue
		}
		seen[cmd] = true
		if _, ok := readmeSkip[cmd]; ok {
			continue
		}
		out = append(out, readmeLine{i + 1, cmd})
	}
	for c := range readmeSkip {
		if !seen[c] {
			t.Errorf("README.md no longer holds %q: update readmeSkip", c)
		}
	}
	if len(out) == 0 || !strings.HasPrefix(out[0].cmd, readmeBuild) {
		t.Fatalf("the first command of README.md does not start with %q", readmeBuild)
	}
	return out
}

func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("go test -short skips the README run")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("no bash to run the README with: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := readmeCommands(t, string(readme))
	root := t.TempDir()
	clone := filepath.Join(root, "clone")
	if err := os.Mkdir(clone, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"docs", "examples", "scripts"} {
		if out, err := exec.Command("cp", "-a", filepath.Join("../..", d), clone).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v\n%s", d, err, out)
		}
	}
	buildDaisy(t, clone)

	var script strings.Builder
	script.WriteString("set -eo pipefail\n")
	for i, l := range lines {
		cmd := l.cmd
		if i == 0 {
			cmd = strings.TrimPrefix(cmd, readmeBuild)
		}
		cmd = strings.ReplaceAll(cmd, "/tmp/daisy-readme-", root+"/daisy-readme-")
		// The marker names the line that runs, so a failure points at it.
		script.WriteString("echo '### README.md:" + strconv.Itoa(l.n) + "' >&2\n")
		script.WriteString(cmd + "\n")
	}
	script.WriteString("echo '### done' >&2\n")

	for run := 1; run <= 2; run++ {
		cmd := exec.Command("bash", "-c", script.String())
		cmd.Dir = clone
		cmd.Env = append(os.Environ(), "TZ=UTC")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		errText := stderr.String()
		if err != nil || !strings.HasSuffix(errText, "### done\n") {
			last := "?"
			if i := strings.LastIndex(errText, "### README.md:"); i >= 0 {
				last = strings.SplitN(errText[i+len("### "):], "\n", 2)[0]
			}
			t.Fatalf("run %d: README command at %s failed: %v\nstderr:\n%s\nstdout (tail):\n%s",
				run, last, err, tail(errText, 3000), tail(stdout.String(), 3000))
		}
		checkReadmeResults(t, root, clone, stdout.String())
	}
}

// checkReadmeResults checks that the commands did what the README says,
// beyond their exit codes.
func checkReadmeResults(t *testing.T, root, clone, stdout string) {
	t.Helper()
	same := func(restored, orig string) {
		t.Helper()
		got, err := os.ReadFile(restored)
		if err != nil {
			t.Errorf("README: %v", err)
			return
		}
		want, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("README: %s differs from %s", restored, orig)
		}
	}
	// The last restore into daisy-readme-r is the salvage of D3 of figure 5
	// (a copy of docs/), at the original absolute path.
	same(filepath.Join(root, "daisy-readme-r", root, "daisy-readme-fig5/data/D3/FORMAT.md"),
		filepath.Join(clone, "docs/FORMAT.md"))
	// Copy 3 of D2 of figure 2 holds examples/.
	same(filepath.Join(root, "daisy-readme-r3", root, "daisy-readme-fig2/data/D2/figure5.yaml"),
		filepath.Join(clone, "examples/figure5.yaml"))
	// cat | tar -tvf lists the files of the first object of the demo.
	if !strings.Contains(stdout, "docs/ARCHITECTURE.md") {
		t.Errorf("README: no tar listing of docs/ in the output")
	}
	// The salvaged stream of figure 5 is a tar file.
	if out, err := exec.Command("tar", "-tf", filepath.Join(root, "daisy-readme-obj.tar")).CombinedOutput(); err != nil || !strings.Contains(string(out), "FORMAT.md") {
		t.Errorf("README: tar -tf daisy-readme-obj.tar: %v\n%s", err, out)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
