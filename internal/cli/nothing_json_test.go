package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// Issue 9: a copy command (refresh, demux, copy, migrate) or a prune that
// had nothing to do records no job; its --json gives no job field and
// says that nothing ran and why, as the text output does.
func TestNothingToDoJSON(t *testing.T) {
	_, cfg, _ := smallSetup(t, 3)
	vol := lsVolumes(t, cfg)[0]
	if code, out, errs := run(t, "-c", cfg, "demux", vol.Label); code != 0 {
		t.Fatalf("demux %s: exit %d\n%s%s", vol.Label, code, out, errs)
	}
	// vol is recyclable now: nothing is live on it.
	for _, args := range [][]string{
		{"refresh", vol.Label}, {"demux", vol.Label},
		{"copy", "--to-pool", vol.Pool, "--volume", vol.Label},
		{"migrate", "--to-pool", vol.Pool, "--volume", vol.Label},
		{"prune"},
	} {
		name := strings.Join(args, " ")
		code, out, errs := run(t, append([]string{"-c", cfg, "--json"}, args...)...)
		var res map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Errorf("%s --json: exit %d\n%s%s", name, code, out, errs)
			continue
		}
		if j, ok := res["job"]; ok && j != nil {
			t.Errorf("%s --json: \"job\": %v, though no job ran:\n%s", name, j, out)
		}
		why, _ := res["nothing_to_do"].(string)
		if !strings.Contains(why, "no job was recorded") {
			t.Errorf("%s --json: does not say that nothing ran (nothing_to_do %q):\n%s", name, why, out)
			continue
		}
		code, text, errs := run(t, append([]string{"-c", cfg}, args...)...)
		if code != 0 || !strings.Contains(text, "nothing to do: "+why) || strings.Contains(text, "job 0") {
			t.Errorf("%s: exit %d, text does not say what the JSON says (%q):\n%s%s", name, code, why, text, errs)
		}
	}
}
