package rpc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates internal/rpc/daisypb from
// proto/daisy/v1 with the pinned generators (scripts/protoc.sh) and fails
// when the checked-in code differs: the .proto and the code never drift.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("protoc missing in CI (.ci/run installs protobuf-compiler)")
		}
		t.Skip("protoc missing: apt-get install protobuf-compiler")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "../../scripts/protoc.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/protoc.sh: %v\n%s", err, b)
	}
	gen, err := filepath.Glob(filepath.Join(out, "*.go"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("scripts/protoc.sh generated nothing in %s (%v)", out, err)
	}
	have, _ := filepath.Glob("daisypb/*.go")
	if len(have) != len(gen) {
		t.Errorf("daisypb holds %d files, the .proto gives %d: run scripts/protoc.sh", len(have), len(gen))
	}
	for _, g := range gen {
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(filepath.Join("daisypb", filepath.Base(g)))
		if err != nil {
			t.Errorf("%v: run scripts/protoc.sh", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("daisypb/%s differs from what proto/daisy/v1 gives: run scripts/protoc.sh and commit the result", filepath.Base(g))
		}
	}
}
