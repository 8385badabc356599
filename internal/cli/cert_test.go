package cli

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const certFleet = `server: {host: backup1, address: 127.0.0.1:7450, api: 127.0.0.1:7451}
clients:
  - {name: client-a, address: 127.0.0.2:7452}
  - {name: client-b, address: client-b.example.com:7452}
  - {name: backup1}
media_hosts:
  - {name: mh1, address: 127.0.0.3:7453}
sources:
  - {name: home, client: client-a, paths: [data]}
devices:
  - {name: tape0, host: mh1}
backup_group:
  - {name: bma0, device: tape0, buffers: [{name: B1, source: home}]}
`

func certSetup(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(cfg, []byte(certFleet), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

func readCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertInitIssueLs(t *testing.T) {
	dir, cfg := certSetup(t)
	pkiDir := filepath.Join(dir, "state", "pki")
	code, out, errs := run(t, "-c", cfg, "cert", "init")
	if code != 0 || !strings.Contains(out, "created daisy CA") || !strings.Contains(out, pkiDir) {
		t.Fatalf("cert init: %d %q %q", code, out, errs)
	}
	st, err := os.Stat(filepath.Join(pkiDir, "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", st, err)
	}
	// A second init refuses, and leaves the CA as it was.
	before, _ := os.ReadFile(filepath.Join(pkiDir, "ca.key"))
	code, _, errs = run(t, "-c", cfg, "cert", "init")
	if code != ExitUsage || !strings.Contains(errs, filepath.Join(pkiDir, "ca.crt")+" exists") {
		t.Fatalf("second init: %d %q", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(pkiDir, "ca.key")); string(after) != string(before) {
		t.Fatal("the second init changed ca.key")
	}

	code, out, errs = run(t, "-c", cfg, "cert", "issue", "--days", "30")
	if code != 0 {
		t.Fatalf("cert issue: %d %q %q", code, out, errs)
	}
	want := map[string][]string{
		"server.backup1":  {"daisy://server/backup1", "backup1", "127.0.0.1"},
		"client.client-a": {"daisy://client/client-a", "client-a", "127.0.0.2"},
		"client.client-b": {"daisy://client/client-b", "client-b", "client-b.example.com"},
		"media-host.mh1":  {"daisy://media-host/mh1", "mh1", "127.0.0.3"},
	}
	for base, names := range want {
		c := readCertFile(t, filepath.Join(pkiDir, base+".crt"))
		got := sans(c.DNSNames, c.IPAddresses)
		for _, u := range c.URIs {
			got = append(got, u.String())
		}
		for _, n := range names {
			if !strings.Contains(strings.Join(got, " "), n) {
				t.Fatalf("%s has SANs %v, lacks %s", base, got, n)
			}
		}
		if d := c.NotAfter.Sub(c.NotBefore).Hours() / 24; d < 29.9 || d > 30.1 {
			t.Fatalf("%s valid for %.1f days, want 30", base, d)
		}
		if st, err := os.Stat(filepath.Join(pkiDir, base+".key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s.key: %v %v", base, st, err)
		}
		if !strings.Contains(out, "issued "+strings.Replace(base, ".", "/", 1)+": ") {
			t.Fatalf("issue output lacks %s:\n%s", base, out)
		}
	}
	// The local client (no address) has no certificate.
	if fileExists(filepath.Join(pkiDir, "client.backup1.crt")) {
		t.Fatal("the server's own client got a certificate")
	}

	// Issuing again refuses, naming the files, and writes nothing.
	old, _ := os.ReadFile(filepath.Join(pkiDir, "client.client-a.crt"))
	code, _, errs = run(t, "-c", cfg, "cert", "issue")
	if code != ExitUsage || !strings.Contains(errs, filepath.Join(pkiDir, "server.backup1.crt")) || !strings.Contains(errs, "--force") {
		t.Fatalf("second issue: %d %q", code, errs)
	}
	// --host renews one host with --force.
	code, out, errs = run(t, "-c", cfg, "cert", "issue", "--host", "client-a", "--force")
	if code != 0 || strings.Count(out, "issued ") != 1 {
		t.Fatalf("issue --host client-a --force: %d %q %q", code, out, errs)
	}
	if now, _ := os.ReadFile(filepath.Join(pkiDir, "client.client-a.crt")); string(now) == string(old) {
		t.Fatal("--force did not renew client-a")
	}
	code, _, errs = run(t, "-c", cfg, "cert", "issue", "--host", "client-z")
	if code != ExitUsage || !strings.Contains(errs, "--host client-z: "+cfg+" has no host of that name (with a certificate: backup1, client-a, client-b, mh1)") {
		t.Fatalf("unknown host: %d %q", code, errs)
	}

	// ls: every certificate good; a host added to daisy.yaml is missing.
	os.WriteFile(cfg, []byte(strings.Replace(certFleet, "media_hosts:\n", "media_hosts:\n  - {name: mh2, address: 127.0.0.4:7453}\n", 1)), 0o644)
	code, out, errs = run(t, "-c", cfg, "--json", "cert", "ls")
	if code != 0 {
		t.Fatalf("cert ls: %d %q %q", code, out, errs)
	}
	var rows []issuedJSON
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Role+"/"+r.Name+" "+strings.SplitN(r.Status, ":", 2)[0])
	}
	if strings.Join(got, ", ") != "server/backup1 good, client/client-a good, client/client-b good, media-host/mh1 good, media-host/mh2 missing" {
		t.Fatalf("ls: %v", got)
	}
	code, out, _ = run(t, "-c", cfg, "cert", "ls")
	if code != 0 || !strings.Contains(out, "ROLE") || !strings.Contains(out, "missing: daisy cert issue --host mh2") {
		t.Fatalf("ls text: %d\n%s", code, out)
	}
}

func TestCertErrors(t *testing.T) {
	dir, cfg := certSetup(t)
	pkiDir := filepath.Join(dir, "state", "pki")
	// No CA yet.
	code, _, errs := run(t, "-c", cfg, "cert", "issue")
	if code == 0 || !strings.Contains(errs, "no CA in "+pkiDir) || !strings.Contains(errs, "daisy cert init") {
		t.Fatalf("issue without CA: %d %q", code, errs)
	}
	if code, _, errs := run(t, "-c", cfg, "cert", "init"); code != 0 {
		t.Fatal(errs)
	}
	// A CA key that others can read.
	key := filepath.Join(pkiDir, "ca.key")
	os.Chmod(key, 0o644)
	code, _, errs = run(t, "-c", cfg, "cert", "issue")
	if code == 0 || !strings.Contains(errs, "CA key "+key+" is readable by others (mode 0644)") {
		t.Fatalf("readable key: %d %q", code, errs)
	}
	os.Chmod(key, 0o600)
	// The key of another CA.
	other := filepath.Join(dir, "other")
	if code, _, errs := run(t, "-c", cfg, "cert", "init", "--dir", other); code != 0 {
		t.Fatal(errs)
	}
	data, _ := os.ReadFile(filepath.Join(other, "ca.key"))
	os.WriteFile(key, data, 0o600)
	code, _, errs = run(t, "-c", cfg, "cert", "issue")
	if code == 0 || !strings.Contains(errs, "CA key "+key+" does not match the CA certificate") {
		t.Fatalf("mismatched key: %d %q", code, errs)
	}
	// An unreadable key file.
	os.WriteFile(key, []byte("not a key\n"), 0o600)
	code, _, errs = run(t, "-c", cfg, "cert", "issue")
	if code == 0 || !strings.Contains(errs, key+" holds no PEM key") {
		t.Fatalf("garbage key: %d %q", code, errs)
	}
	// ls marks a certificate of another CA.
	if code, _, errs := run(t, "-c", cfg, "cert", "issue", "--dir", other, "--host", "mh1"); code != 0 {
		t.Fatal(errs)
	}
	for _, ext := range []string{".crt", ".key"} {
		b, _ := os.ReadFile(filepath.Join(other, "media-host.mh1"+ext))
		os.WriteFile(filepath.Join(pkiDir, "media-host.mh1"+ext), b, 0o600)
	}
	code, out, _ := run(t, "-c", cfg, "cert", "ls")
	if code != 0 || !strings.Contains(out, "not signed by the CA of "+pkiDir) {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	// A file without a server.
	os.WriteFile(cfg, []byte("sources: [{name: home, paths: [data]}]\n"), 0o644)
	code, _, errs = run(t, "-c", cfg, "cert", "issue")
	if code != ExitUsage || !strings.Contains(errs, "declares no server: certificates are for a fleet") {
		t.Fatalf("no server: %d %q", code, errs)
	}
	// --days 0.
	code, _, errs = run(t, "-c", cfg, "cert", "init", "--dir", filepath.Join(dir, "x"), "--days", "0")
	if code != ExitUsage || !strings.Contains(errs, "--days 0") {
		t.Fatalf("--days 0: %d %q", code, errs)
	}
}

func TestTokenCmd(t *testing.T) {
	dir, cfg := certSetup(t)
	code, out, errs := run(t, "-c", cfg, "--json", "token", "create", "grafana")
	if code != 0 {
		t.Fatalf("create: %d %q", code, errs)
	}
	var made struct{ ID, Name, Token string }
	if err := json.Unmarshal([]byte(out), &made); err != nil || made.Name != "grafana" || !strings.HasPrefix(made.Token, "daisy_"+made.ID+"_") {
		t.Fatalf("create: %q %v", out, err)
	}
	store := filepath.Join(dir, "state", "pki", "tokens.json")
	data, err := os.ReadFile(store)
	if err != nil || strings.Contains(string(data), made.Token) {
		t.Fatalf("store %v holds the token: %s", err, data)
	}
	code, out, _ = run(t, "-c", cfg, "token", "ls")
	if code != 0 || !strings.Contains(out, made.ID) || !strings.Contains(out, "grafana") || strings.Contains(out, made.Token) {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	code, _, errs = run(t, "-c", cfg, "token", "revoke", "ffffffffffff")
	if code != ExitUsage || !strings.Contains(errs, `no token "ffffffffffff" in `+store) {
		t.Fatalf("revoke unknown: %d %q", code, errs)
	}
	code, out, _ = run(t, "-c", cfg, "token", "revoke", made.ID)
	if code != 0 || !strings.Contains(out, "revoked token "+made.ID+" (grafana)") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	code, out, _ = run(t, "-c", cfg, "--json", "token", "ls")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("ls after revoke: %d %q", code, out)
	}
}

// cert revoke puts a host's certificate on crl.pem and cert ls says so;
// a word that is no ROLE/NAME, or a host without a certificate, is
// refused.
func TestCertRevoke(t *testing.T) {
	dir, cfg := certSetup(t)
	for _, args := range [][]string{{"cert", "init"}, {"cert", "issue"}} {
		if code, out, errs := run(t, append([]string{"-c", cfg}, args...)...); code != 0 {
			t.Fatalf("%v: %d %q %q", args, code, out, errs)
		}
	}
	code, out, errs := run(t, "-c", cfg, "cert", "revoke", "client/client-a")
	crl := filepath.Join(dir, "state", "pki", "crl.pem")
	if code != 0 || !strings.Contains(out, "revoked client/client-a (serial ") || !strings.Contains(out, crl) {
		t.Fatalf("cert revoke: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(crl); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "-c", cfg, "cert", "ls")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] == "ROLE" {
			continue
		}
		if revoked := strings.Contains(l, "revoked on "); revoked != (f[1] == "client-a") {
			t.Errorf("cert ls: %q", l)
		}
	}
	if code != 0 {
		t.Fatalf("cert ls: %d %q", code, errs)
	}
	for _, tc := range []struct{ arg, want string }{
		{"client-a", `"client-a" is not ROLE/NAME`},
		{"robot/x", `"robot/x" is not ROLE/NAME`},
		{"client/nobody", "no certificate of client/nobody"},
	} {
		code, _, errs := run(t, "-c", cfg, "cert", "revoke", tc.arg)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("cert revoke %s: %d %q, want %q", tc.arg, code, errs, tc.want)
		}
	}
}
