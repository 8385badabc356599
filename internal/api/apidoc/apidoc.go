// Package apidoc reads the examples of docs/API.md, for the tests that run
// them as written: internal/api's against an API in the test, cmd/daisy's
// against daisy server and its fleet. It holds what both must agree on:
// which lines are examples, the one change made to them before they run,
// and what a good answer of each looks like.
package apidoc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Example is a curl line of a ```sh block of the file and its line number
// (from 1).
type Example struct {
	Line int
	Cmd  string
}

// DocExamples returns the curl lines of markdown's ```sh blocks, in order.
func DocExamples(markdown []byte) []Example {
	var out []Example
	fence := ""
	for i, l := range strings.Split(string(markdown), "\n") {
		switch {
		case strings.HasPrefix(l, "```") && fence == "":
			fence = strings.TrimPrefix(l, "```")
		case strings.HasPrefix(l, "```"):
			fence = ""
		case fence == "sh" && strings.HasPrefix(l, "curl "):
			out = append(out, Example{i + 1, l})
		}
	}
	return out
}

// Config returns the first ```yaml block of markdown: the configuration
// the examples name (source home, pools main, mirror and offsite).
func Config(markdown []byte) string {
	_, rest, ok := strings.Cut(string(markdown), "\n```yaml\n")
	if !ok {
		return ""
	}
	block, _, _ := strings.Cut(rest, "\n```")
	return block + "\n"
}

// Command is the example as it runs: "/tmp/daisy-api-" becomes
// dir+"/daisy-api-", so that nothing is left in /tmp and two runs never
// share a restore target. Nothing else changes.
func (e Example) Command(dir string) string {
	return strings.ReplaceAll(e.Cmd, "/tmp/daisy-api-", dir+"/daisy-api-")
}

// Check reports what is wrong with out as the answer of e: it must be JSON
// (NDJSON whose last line is the ended, successful job, for follow), with
// an "error" exactly for the lines that send no credentials or wrong ones,
// name a source that does not exist, or cancel a job (job 1, which has
// ended when that line runs); Prometheus text with daisy's metrics for
// /metrics.
func (e Example) Check(out []byte) error {
	if len(bytes.TrimSpace(out)) == 0 {
		return errors.New("printed nothing")
	}
	if strings.Contains(e.Cmd, `/metrics"`) {
		var errs []error
		for _, m := range []string{"# TYPE daisy_device_written_bytes_total counter", "# TYPE daisy_device_records_total counter",
			"daisy_buffer_capacity_bytes{", "daisy_jobs_total{", "daisy_job_duration_seconds_bucket{", "go_goroutines"} {
			if !bytes.Contains(out, []byte(m)) {
				errs = append(errs, fmt.Errorf("no %q in the metrics", m))
			}
		}
		return errors.Join(errs...)
	}
	var vals []map[string]any
	if strings.Contains(e.Cmd, "/follow") {
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return fmt.Errorf("a line that is not JSON: %v", err)
			}
			vals = append(vals, v)
		}
		if last := vals[len(vals)-1]; last["state"] != "success" || last["result"] == nil {
			return errors.New("the last line is not the job ended in success, with its result")
		}
	} else {
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
		vals = append(vals, v)
	}
	credentials := strings.Contains(e.Cmd, "Bearer $DAISY_TOKEN") || strings.Contains(e.Cmd, `--cert "$DAISY_CERT"`)
	_, isErr := vals[0]["error"]
	if wantErr := !credentials || strings.Contains(e.Cmd, `"nope"`) || strings.Contains(e.Cmd, `/cancel"`); isErr != wantErr {
		return fmt.Errorf("an error answer: %v, want %v", isErr, wantErr)
	}
	return nil
}
