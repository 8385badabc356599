package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// cert issue --admin NAME issues only an administrator's certificate
// (role admin, daisy://admin/NAME, no host SANs), refuses to replace it
// without --force, and does not go with --host.
func TestCertIssueAdmin(t *testing.T) {
	dir, cfg := certSetup(t)
	pkiDir := filepath.Join(dir, "state", "pki")
	if code, out, errs := run(t, "-c", cfg, "cert", "init"); code != 0 {
		t.Fatalf("cert init: %d %q %q", code, out, errs)
	}
	code, out, errs := run(t, "-c", cfg, "cert", "issue", "--admin", "alice")
	if code != 0 || !strings.Contains(out, "issued admin/alice") || strings.Count(out, "issued") != 1 {
		t.Fatalf("cert issue --admin: %d %q %q", code, out, errs)
	}
	c := readCertFile(t, filepath.Join(pkiDir, "admin.alice.crt"))
	if len(c.URIs) != 1 || c.URIs[0].String() != "daisy://admin/alice" || len(c.DNSNames) != 0 || len(c.IPAddresses) != 0 {
		t.Errorf("admin certificate names %v %v %v", c.URIs, c.DNSNames, c.IPAddresses)
	}
	if code, _, errs := run(t, "-c", cfg, "cert", "issue", "--admin", "alice"); code != ExitUsage || !strings.Contains(errs, "admin.alice.crt") || !strings.Contains(errs, "exist already") {
		t.Errorf("second --admin alice: %d %q", code, errs)
	}
	if code, _, errs := run(t, "-c", cfg, "cert", "issue", "--admin", "alice", "--force"); code != 0 {
		t.Errorf("--admin alice --force: %d %q", code, errs)
	}
	if code, _, errs := run(t, "-c", cfg, "cert", "issue", "--admin", "a b"); code != ExitUsage || !strings.Contains(errs, "--admin") {
		t.Errorf("--admin 'a b': %d %q", code, errs)
	}
	if code, _, errs := run(t, "-c", cfg, "cert", "issue", "--admin", "bob", "--host", "mh1"); code != ExitUsage || !strings.Contains(errs, "do not go together") {
		t.Errorf("--admin with --host: %d %q", code, errs)
	}
	code, out, _ = run(t, "-c", cfg, "cert", "ls")
	if code != 0 || !strings.Contains(out, "alice") {
		t.Errorf("cert ls: %d %q", code, out)
	}
}
