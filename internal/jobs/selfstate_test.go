package jobs

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"daisy/internal/config"
)

// The exclusion of daisy's state matches exactly the state's paths, even
// with glob characters or bytes that are not UTF-8 in them, under the name the walk of a source gives
// them when the source's path leads there through a symbolic link.
func TestExcludeDaisyState(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real [1]*\xff") // glob characters, not UTF-8
	if err := os.MkdirAll(filepath.Join(real, "pool?"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	state := []statePath{
		{lexical: filepath.Join(real, "catalog.db"), real: resolve(filepath.Join(real, "catalog.db"))},
		{lexical: filepath.Join(real, "pool?"), real: resolve(filepath.Join(real, "pool?")), dir: true},
	}
	matches := func(pats []string, p string) bool {
		for _, q := range pats {
			if ok, _ := path.Match(q, p); ok {
				return true
			}
		}
		return false
	}
	for _, root := range []string{real, filepath.Join(dir, "link"), dir} {
		src, excluded := excludeDaisyState(state, config.Source{Paths: []string{root}, Exclude: []string{"*.tmp"}}, nil)
		if src.Exclude[0] != "*.tmp" || len(src.Exclude) < 3 {
			t.Fatalf("root %s: excludes %q", root, src.Exclude)
		}
		base := root
		if root == dir {
			base = real
		}
		for _, p := range []string{filepath.Join(base, "catalog.db"), filepath.Join(base, "pool?")} {
			if !matches(src.Exclude, p) {
				t.Errorf("root %s: %s is not excluded by %q", root, p, src.Exclude)
			}
		}
		for _, p := range []string{filepath.Join(base, "catalog.dbx"), filepath.Join(base, "poolX"), filepath.Join(base, "pool?x")} {
			if matches(src.Exclude, p) {
				t.Errorf("root %s: %s is excluded by %q", root, p, src.Exclude)
			}
		}
		if !slices.Contains(excluded, filepath.Join(base, "pool?")) {
			t.Errorf("root %s: excluded %q", root, excluded)
		}
	}
	// A source inside a pool directory is left out whole; one beside
	// daisy's state gets no pattern.
	inside := filepath.Join(real, "pool?", "x")
	if src, _ := excludeDaisyState(state, config.Source{Paths: []string{inside}}, nil); !slices.Contains(src.Exclude, globEscape(inside)) {
		t.Errorf("source inside the pool: excludes %q", src.Exclude)
	}
	if src, ex := excludeDaisyState(state, config.Source{Paths: []string{t.TempDir()}}, nil); len(src.Exclude) != 0 || len(ex) != 0 {
		t.Errorf("unrelated source: excludes %q, excluded %q", src.Exclude, ex)
	}
}
