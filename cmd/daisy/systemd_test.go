package main

// The systemd units of dist/systemd: each parses as a unit file with the
// keys a daemon of daisy needs (what it runs, how it reloads and stops,
// its hardening), the command line each runs exists with those flags,
// and systemd-analyze verify accepts them where it is installed.

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/cli"
)

// unitFile is a parsed unit: section → key → values (a key may repeat).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				t.Fatalf("%s:%d: %q is neither a section, a comment nor KEY=VALUE in a section", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unitFile) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "dist", "systemd")
	units := map[string]string{
		"daisy-server.service":      "server",
		"daisy-agent.service":       "agent",
		"daisy-media-agent.service": "media-agent",
	}
	for name, sub := range units {
		path := filepath.Join(dir, name)
		u := parseUnit(t, path)
		for _, s := range []string{"Unit", "Service", "Install"} {
			if u[s] == nil {
				t.Errorf("%s: no [%s] section", name, s)
			}
		}
		want := map[[2]string]string{
			{"Service", "Type"}:            "exec",
			{"Service", "Restart"}:         "on-failure",
			{"Service", "NoNewPrivileges"}: "true",
			{"Service", "PrivateTmp"}:      "true",
			{"Service", "KillSignal"}:      "SIGTERM",
			{"Install", "WantedBy"}:        "multi-user.target",
		}
		for k, v := range want {
			if got := u.get(k[0], k[1]); got != v {
				t.Errorf("%s: [%s] %s=%q, want %q", name, k[0], k[1], got, v)
			}
		}
		for _, k := range []string{"Description", "After"} {
			if u.get("Unit", k) == "" {
				t.Errorf("%s: no %s", name, k)
			}
		}
		if ps := u.get("Service", "ProtectSystem"); ps != "strict" && ps != "full" {
			t.Errorf("%s: ProtectSystem=%q", name, ps)
		}
		exe := strings.Fields(u.get("Service", "ExecStart"))
		if len(exe) < 2 || exe[0] != "/usr/local/bin/daisy" {
			t.Fatalf("%s: ExecStart %q does not run /usr/local/bin/daisy", name, exe)
		}
		// The subcommand and every flag it is given exist.
		args, found := []string{}, false
		for _, a := range exe[1:] {
			if a == sub {
				found = true
			}
			if strings.HasPrefix(a, "-") {
				args = append(args, a)
			}
		}
		if !found {
			t.Errorf("%s: ExecStart %q does not run daisy %s", name, exe, sub)
		}
		var out, errb bytes.Buffer
		if code := cli.Main([]string{sub, "--help"}, nil, &out, &errb); code != 0 {
			t.Errorf("daisy %s --help: exit %d: %s", sub, code, errb.String())
		}
		for _, a := range args {
			if a == "-c" {
				continue // a global flag
			}
			if !strings.Contains(out.String(), a) {
				t.Errorf("%s: ExecStart gives %s, which daisy %s does not take", name, a, sub)
			}
		}
	}
	srv := parseUnit(t, filepath.Join(dir, "daisy-server.service"))
	if got := srv.get("Service", "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("daisy-server.service: ExecReload=%q", got)
	}
	agent := parseUnit(t, filepath.Join(dir, "daisy-agent.service"))
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		caps := agent.get("Service", k)
		for _, c := range []string{"CAP_DAC_READ_SEARCH", "CAP_CHOWN", "CAP_FOWNER"} {
			if !strings.Contains(caps, c) {
				t.Errorf("daisy-agent.service: %s lacks %s (backup reads everything, restore sets owners)", k, c)
			}
		}
	}

	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: the units were checked as unit files only")
		return
	}
	// verify wants ExecStart's binary to exist: this test's own.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	var paths []string
	for name := range units {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("/usr/local/bin/daisy"), []byte(self)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(tool, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
