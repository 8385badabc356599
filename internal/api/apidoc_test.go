package api

// The docs/API.md test (acceptance 6, its second part): every curl line
// of the file's ```sh blocks runs, in order, with sh -c against an API
// served over TLS on 127.0.0.1 with the Local runner, a real catalog and
// the vtape configuration of the file's first ```yaml block (under a
// catalog in the test's directory), after a backup of a small tree. The
// variables the file defines at its top are set: DAISY_API, DAISY_CA,
// DAISY_TOKEN, and DAISY_CERT and DAISY_KEY (an admin's certificate).
//
// The one change made to the lines before they run: "/tmp/daisy-api-"
// becomes "<temporary dir>/daisy-api-", so that nothing is left in /tmp
// and two runs never share a restore target.
//
// Each line must exit 0 and print a sensible answer: JSON (NDJSON for
// follow), with an "error" for the lines that send no credentials or
// wrong ones, Prometheus text with the daisy_ metrics for /metrics. Every
// endpoint of Endpoints must have an example, and the jobs the examples
// start must all succeed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// docLine is a curl line of docs/API.md and its line number.
type docLine struct {
	n   int
	cmd string
}

// apiDoc reads docs/API.md: its curl lines and its first yaml block.
func apiDoc(t *testing.T) (lines []docLine, yaml string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	fence := ""
	var y []string
	yamlDone := false
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "```") {
			if fence == "" {
				fence = strings.TrimPrefix(l, "```")
			} else {
				if fence == "yaml" && y != nil {
					yamlDone = true
				}
				fence = ""
			}
			continue
		}
		switch {
		case fence == "sh" && strings.HasPrefix(l, "curl "):
			lines = append(lines, docLine{i + 1, l})
		case fence == "yaml" && !yamlDone:
			y = append(y, l)
		}
	}
	return lines, strings.Join(y, "\n") + "\n"
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
			if re.MatchString(l.cmd) && (method == "POST") == strings.Contains(l.cmd, " -d '") {
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
		cmd := strings.ReplaceAll(l.cmd, "/tmp/daisy-api-", tmp+"/daisy-api-")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		c.Env = env
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		cancel()
		if err != nil {
			t.Errorf("docs/API.md:%d: %s\n%v: %s%s", l.n, l.cmd, err, out, stderr.Bytes())
			continue
		}
		checkDocAnswer(t, l, out)
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

// checkDocAnswer checks that the output of an example is what its kind
// of request answers.
func checkDocAnswer(t *testing.T, l docLine, out []byte) {
	t.Helper()
	where := func() string { return l.cmd + "\n" + string(out) }
	if len(bytes.TrimSpace(out)) == 0 {
		t.Errorf("docs/API.md:%d printed nothing: %s", l.n, l.cmd)
		return
	}
	if strings.Contains(l.cmd, `/metrics"`) {
		for _, m := range []string{"# TYPE daisy_device_written_bytes_total counter", "daisy_buffer_capacity_bytes{", "daisy_jobs_total{", "daisy_job_duration_seconds_bucket{", "go_goroutines"} {
			if !bytes.Contains(out, []byte(m)) {
				t.Errorf("docs/API.md:%d: no %q in %s", l.n, m, out)
			}
		}
		return
	}
	var vals []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	if strings.Contains(l.cmd, "/follow") {
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("docs/API.md:%d: a line that is not JSON: %v\n%s", l.n, err, where())
				return
			}
			vals = append(vals, v)
		}
		if last := vals[len(vals)-1]; last["state"] != jobs.JobSuccess || last["result"] == nil {
			t.Errorf("docs/API.md:%d: the last line is not the ended job: %s", l.n, where())
		}
	} else {
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Errorf("docs/API.md:%d: not JSON: %v\n%s", l.n, err, where())
			return
		}
		vals = append(vals, v)
	}
	credentials := strings.Contains(l.cmd, "Bearer $DAISY_TOKEN") || strings.Contains(l.cmd, `--cert "$DAISY_CERT"`)
	_, isErr := vals[0]["error"]
	wantErr := !credentials || strings.Contains(l.cmd, `"nope"`)
	if isErr != wantErr {
		t.Errorf("docs/API.md:%d: error %v, want %v: %s", l.n, isErr, wantErr, where())
	}
}
