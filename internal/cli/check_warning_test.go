package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 9: check's warnings about source paths that do not exist on this
// host give file:line:column of the path in daisy.yaml, as its errors do.
func TestCheckWarningHasPosition(t *testing.T) {
	dir := t.TempDir()
	cfg := oneSourceConfig(t, dir) // data/S is not there
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A second path, which exists, and a third, missing, on a line of
	// its own: each warning points at its own path.
	if err := os.MkdirAll(filepath.Join(dir, "here"), 0o755); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), "    paths: [data/S]\n", "    paths:\n      - data/S\n      - here\n      -   gone/too\n", 1)
	if err := os.WriteFile(cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	at := func(path string) string {
		for i, line := range strings.Split(edited, "\n") {
			if c := strings.Index(line, path); strings.HasPrefix(line, "      -") && c >= 0 {
				return fmt.Sprintf("%s:%d:%d: warning: source S: path %s", cfg, i+1, c+1, filepath.Join(dir, path))
			}
		}
		t.Fatalf("no %s in the file", path)
		return ""
	}
	code, out, errs := run(t, "-c", cfg, "check")
	if code != 0 {
		t.Fatalf("check: exit %d, want 0 (warnings only)\n%s%s", code, out, errs)
	}
	for _, p := range []string{"data/S", "gone/too"} {
		if want := at(p); !strings.Contains(out, want+" does not exist") {
			t.Errorf("check: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "path "+filepath.Join(dir, "here")) {
		t.Errorf("check warns about a path that exists:\n%s", out)
	}
	code, out, errs = run(t, "-c", cfg, "--json", "check")
	var res struct{ Warnings []string }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Warnings) != 2 || !strings.HasPrefix(res.Warnings[0], at("data/S")) || !strings.HasPrefix(res.Warnings[1], at("gone/too")) {
		t.Errorf("check --json: exit %d, warnings %q, want the two at their positions\n%s%s", code, res.Warnings, out, errs)
	}
}
