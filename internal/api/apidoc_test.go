package api

// The docs/API.md test (acceptance 6, its second part): every curl line
// of the file's ```sh blocks runs, in order, with sh -c against an API
// served over TLS on 127.0.0.1 with the Local runner, a real catalog and
// the vtape configuration of the file's first ```yaml block (under a
// catalog in the test's directory), after a backup of a small tree. The
// variables the file defines at its top are set: DAISY_API, DAISY_CA,
// DAISY_TOKEN, and DAISY_CERT and DAISY_KEY (an admin's certificate).
//
// The lines, the one change made to them before they run ("/tmp/daisy-api-"
// becomes "<temporary dir>/daisy-api-") and what a sensible answer is are
// internal/api/apidoc's, shared with cmd/daisy's test that runs the same
// lines against daisy server and its fleet.
//
// Each line must exit 0 and print a sensible answer: JSON (NDJSON for
// follow), with an "error" for the lines that send no credentials or
// wrong ones, Prometheus text with the daisy_ metrics for /metrics. Every
// endpoint of Endpoints must have an example, and the jobs the examples
// start must all succeed.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"daisy/internal/api/apidoc"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// apiDoc reads docs/API.md: its curl lines and its first yaml block.
func apiDoc(t *testing.T) ([]apidoc.Example, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	return apidoc.DocExamples(data), apidoc.Config(data)
}

func TestAPIDocExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing: the docs/API.md examples need it (.ci/run installs it)")
		}
		t.Skip("curl is missing")
	}
	lines, docYAML := apiDoc(t)
	if len(lines) < len(Endpoints) || !strings.Contains(docYAML, "name: home") {
		t.Fatalf("docs/API.md: %d curl lines, configuration %q", len(lines), docYAML)
	}
	// Every endpoint has an example.
	for _, ep := range Endpoints {
		method, path, _ := strings.Cut(ep, " ")
		re := regexp.MustCompile(`"\$DAISY_API` + strings.ReplaceAll(regexp.QuoteMeta(path), `\{id\}`, `[^/"?]+`) + `["?]`)
		found := false
		for _, l := range lines {
			post := strings.Contains(l.Cmd, " -d '") || strings.Contains(l.Cmd, " -X POST ")
			if re.MatchString(l.Cmd) && (method == "POST") == post {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/API.md has no curl example of %s", ep)
		}
	}

	cfgYAML := "catalog:\n  sqlite: state/catalog.db\ndefaults:\n  buffer_size: 4MiB\n  block_size: 64KiB\n" + docYAML
	e := newEnvWith(t, cfgYAML, "home", testtree.Spec{Seed: 7, SmallFiles: 30, LargeFiles: 1, LargeSize: 2 << 20})
	// The small tree backed up first, so that the catalog has an object
	// with two copies before the examples.
	if res, err := jobs.Backup(context.Background(), e.cfg, e.cat, jobs.BackupOptions{}); err != nil || res.State != jobs.JobSuccess {
		t.Fatalf("first backup: %v %+v", err, res)
	}
	tmp := t.TempDir()
	admin := filepath.Join(e.pkiDir, "admin.alice")
	env := append(os.Environ(),
		"DAISY_API="+e.addr, "DAISY_CA="+filepath.Join(e.pkiDir, pki.CACertFile), "DAISY_TOKEN="+e.token,
		"DAISY_CERT="+admin+".crt", "DAISY_KEY="+admin+".key")
	for _, l := range lines {
		cmd := l.Command(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		c.Env = env
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		cancel()
		if err != nil {
			t.Errorf("docs/API.md:%d: %s\n%v: %s%s", l.Line, l.Cmd, err, out, stderr.Bytes())
			continue
		}
		if err := l.Check(out); err != nil {
			t.Errorf("docs/API.md:%d: %s\n%v\n%s", l.Line, l.Cmd, err, out)
		}
	}

	// The jobs the examples started all ended well; the restore is the tree.
	deadline := time.Now().Add(5 * time.Minute)
	var list JobList
	for {
		e.get("/v1/jobs", 200, &list)
		running := 0
		for _, j := range list.Jobs {
			if j.State == StateRunning {
				running++
			}
		}
		if running == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	kinds := map[string]bool{}
	for _, j := range list.Jobs {
		kinds[j.Kind] = true
		if j.State != jobs.JobSuccess {
			t.Errorf("job %d (%s) of the examples: %s %s", j.ID, j.Kind, j.State, j.Error)
		}
	}
	for _, k := range []string{KindBackup, KindRestore, KindVerify, KindCopy, KindPrune} {
		if !kinds[k] {
			t.Errorf("the examples started no %s job", k)
		}
	}
	restored := filepath.Join(tmp, "daisy-api-restore", e.dir, "data", "home")
	diffs, err := testtree.Compare(filepath.Join(e.dir, "data", "home"), restored)
	if err != nil || len(diffs) > 0 {
		t.Errorf("the example's restore: %v %s", err, strings.Join(diffs, "\n"))
	}
}
