package apidoc

import (
	"strings"
	"testing"
)

const sample = "# T\n\n```yaml\nsources: [home]\n```\n\n```sh\nexport X=1\ncurl -sS \"$DAISY_API/v1/health\"\n```\n\ncurl outside a block\n\n```json\ncurl in json\n```\n\n```sh\ncurl -d '{\"target\": \"/tmp/daisy-api-restore\"}' -H \"Authorization: Bearer $DAISY_TOKEN\" \"$DAISY_API/v1/jobs\"\n```\n\n```yaml\nsecond: block\n```\n"

// The examples are the curl lines of sh blocks only, with their line
// numbers; the configuration is the first yaml block; Command changes
// only the restore target's directory.
func TestDocExamples(t *testing.T) {
	ex := DocExamples([]byte(sample))
	if len(ex) != 2 || ex[0].Line != 9 || ex[1].Line != 19 || !strings.HasPrefix(ex[0].Cmd, "curl -sS") {
		t.Fatalf("examples %+v", ex)
	}
	if c := Config([]byte(sample)); c != "sources: [home]\n" {
		t.Errorf("Config %q", c)
	}
	if c := ex[1].Command("/x"); c != strings.Replace(ex[1].Cmd, "/tmp/daisy-api-restore", "/x/daisy-api-restore", 1) {
		t.Errorf("Command %q", c)
	}
}

// Check wants an error answer exactly from the lines without
// credentials (or naming the source "nope"), JSON otherwise, a
// successful last line for follow, and daisy's metrics for /metrics.
func TestCheck(t *testing.T) {
	tok := `curl -H "Authorization: Bearer $DAISY_TOKEN" "$DAISY_API/v1/jobs/1`
	for _, c := range []struct {
		cmd, out string
		ok       bool
	}{
		{`curl "$DAISY_API/v1/health"`, `{"error": "authentication required"}`, true},
		{`curl "$DAISY_API/v1/health"`, `{"status": "ok"}`, false},
		{tok + `"`, `{"id": 1}`, true},
		{tok + `"`, `{"error": "no"}`, false},
		{tok + `"`, `not json`, false},
		{tok + `"`, "  \n", false},
		{`curl -H "Authorization: Bearer $DAISY_TOKEN" -d '{"sources": ["nope"]}' "$DAISY_API/v1/jobs"`, `{"error": "no source"}`, true},
		{tok + `/follow"`, "{\"state\":\"running\"}\n{\"state\":\"success\",\"result\":{}}\n", true},
		{tok + `/follow"`, "{\"state\":\"running\"}\n{\"state\":\"failed\",\"result\":{}}\n", false},
		{`curl --cert "$DAISY_CERT" "$DAISY_API/metrics"`, "go_goroutines 1\n", false},
	} {
		err := Example{Cmd: c.cmd}.Check([]byte(c.out))
		if (err == nil) != c.ok {
			t.Errorf("%s answering %q: %v, want ok %v", c.cmd, c.out, err, c.ok)
		}
	}
}
