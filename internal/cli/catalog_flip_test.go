package cli

import (
	"fmt"
	"path/filepath"
	"testing"

	"daisy/internal/testtree"
)

// Issue 8 item 7, the case it reports: one flipped byte in the files index
// of catalog.db once gave a restore of 89 of 127 entries with exit 0. Every
// form of restore must now either restore the whole tree or fail loudly.
func TestRestoreAfterFlippedCatalogByte(t *testing.T) {
	dir, cfg, data := smallSetup(t, 127)
	flipIndexKey(t, catalogPath(dir), "sqlite_autoindex_files_1")
	for i, extra := range [][]string{
		nil,
		{"--path", data},
		{"--path", data + "/*"},
		{"--resume"},
	} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			target := filepath.Join(dir, fmt.Sprintf("restored-%d", i))
			args := append([]string{"-c", cfg, "restore", "--source", "D", "--to", target}, extra...)
			code, out, errs := run(t, args...)
			if code != 0 {
				if errs == "" {
					t.Fatalf("exit %d without a word on stderr\n%s", code, out)
				}
				t.Logf("exit %d: %s", code, errs)
				return
			}
			diffs, err := testtree.Compare(data, filepath.Join(target, data))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Fatalf("exit 0 but the restore differs (%d differences, first %q)\n%s%s", len(diffs), diffs[0], out, errs)
			}
		})
	}
}
