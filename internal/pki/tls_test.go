package pki

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/config"
)

// fleetDirs makes a CA with the certificates of a server, two clients and
// a media host, all for 127.0.0.1, and a second CA with a certificate of
// client-a of its own; an expired certificate of client-a is in expired.
type fleetDirs struct{ good, other, expired string }

var (
	srvPeer = Peer{RoleServer, "backup1"}
	cliA    = Peer{RoleClient, "client-a"}
	cliB    = Peer{RoleClient, "client-b"}
	mh1     = Peer{RoleMediaHost, "mh1"}
)

func makeFleet(t *testing.T) fleetDirs {
	t.Helper()
	now := time.Now()
	root := t.TempDir()
	f := fleetDirs{good: filepath.Join(root, "good"), other: filepath.Join(root, "other"), expired: filepath.Join(root, "expired")}
	ca, err := InitCA(f.good, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Peer{srvPeer, cliA, cliB, mh1} {
		if _, err := ca.Issue(newHost(p, "127.0.0.1:7450"), 2, now, false); err != nil {
			t.Fatal(err)
		}
	}
	other, err := InitCA(f.other, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Issue(newHost(cliA, "127.0.0.1:7450"), 2, now, false); err != nil {
		t.Fatal(err)
	}
	// The same CA in another directory, with an expired certificate.
	if err := os.MkdirAll(f.expired, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{CACertFile, CAKeyFile} {
		data, _ := os.ReadFile(filepath.Join(f.good, n))
		if err := os.WriteFile(filepath.Join(f.expired, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := &CA{Dir: f.expired, Cert: ca.Cert, Key: ca.Key}
	for _, p := range []Peer{cliA, srvPeer} {
		if _, err := old.Issue(newHost(p, "127.0.0.1:7450"), 1, now.AddDate(0, 0, -3), false); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func creds(t *testing.T, dir string, p Peer) *Credentials {
	t.Helper()
	c, err := LoadCredentials(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testServer accepts TLS connections on 127.0.0.1 and answers each with
// the peer it verified; the handshake errors go to errs.
func testServer(t *testing.T, cfg *tls.Config) (addr string, errs chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errs = make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					errs <- err
					return
				}
				p, err := PeerOf(tc.ConnectionState())
				if err != nil {
					errs <- err
					return
				}
				errs <- nil
				tc.Write([]byte(p.String() + "\n"))
			}()
		}
	}()
	return ln.Addr().String(), errs
}

// dial connects with cfg and reads the server's answer.
func dial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func clientConfig(t *testing.T, c *Credentials, want Peer, addr string) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(c, want, addr)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func serverErr(t *testing.T, errs chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no connection")
	}
	return nil
}

func TestTLSAccepted(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer), RoleClient, RoleMediaHost))
	for _, p := range []Peer{cliA, mh1} {
		cfg := clientConfig(t, creds(t, f.good, p), srvPeer, addr)
		got, err := dial(addr, cfg)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := serverErr(t, errs); err != nil {
			t.Fatalf("%s: server: %v", p, err)
		}
		if got != p.String() {
			t.Fatalf("the server saw %q, want %s", got, p)
		}
	}
	// The connection is TLS 1.3.
	c, err := tls.Dial("tcp", addr, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("version %x, want TLS 1.3", v)
	}
}

// refused dials the server with cfg and checks that both sides refuse,
// the server with an error containing want.
func refused(t *testing.T, addr string, errs chan error, cfg *tls.Config, want string) {
	t.Helper()
	got, err := dial(addr, cfg)
	if err == nil {
		t.Fatalf("the connection was accepted (server saw %q)", got)
	}
	serr := serverErr(t, errs)
	if serr == nil {
		t.Fatal("the server accepted the handshake")
	}
	if !strings.Contains(serr.Error(), want) {
		t.Fatalf("server error %q, want one containing %q", serr, want)
	}
}

func TestTLSRefusesOtherCA(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer)))
	// client-a's certificate from another CA, trusting the right server.
	c := creds(t, f.other, cliA)
	c.CAs = creds(t, f.good, cliA).CAs
	cfg := clientConfig(t, c, srvPeer, addr)
	// Send it even though the server asks for certificates of its own CA
	// (Go's client would otherwise send none).
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c.Cert, nil }
	refused(t, addr, errs, cfg, "unknown authority")
}

func TestTLSRefusesServerOfOtherCA(t *testing.T) {
	f := makeFleet(t)
	srv := creds(t, f.good, srvPeer)
	other := creds(t, f.other, cliA) // a certificate of the other CA on the server's side
	srv.Cert = other.Cert
	addr, errs := testServer(t, ServerConfig(srv))
	_, err := dial(addr, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr))
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("dial: %v, want unknown authority", err)
	}
	<-errs
}

func TestTLSRefusesExpired(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer)))
	refused(t, addr, errs, clientConfig(t, creds(t, f.expired, cliA), srvPeer, addr), "expired")

	// An expired server is refused by the client.
	addr2, errs2 := testServer(t, ServerConfig(creds(t, f.expired, srvPeer)))
	_, err := dial(addr2, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr2))
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("dial an expired server: %v, want expired", err)
	}
	<-errs2
}

func TestTLSRefusesNoCertificate(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer)))
	cfg := clientConfig(t, creds(t, f.good, cliA), srvPeer, addr)
	cfg.Certificates = nil
	refused(t, addr, errs, cfg, "certificate")
}

func TestTLSRefusesTLS12(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer)))
	cfg := clientConfig(t, creds(t, f.good, cliA), srvPeer, addr)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	refused(t, addr, errs, cfg, "unsupported versions")
}

// A client's certificate where a media host is needed: refused by a
// server that takes media hosts only, and by a dialler that expects a
// media host.
func TestTLSRefusesWrongRole(t *testing.T) {
	f := makeFleet(t)
	addr, errs := testServer(t, ServerConfig(creds(t, f.good, srvPeer), RoleMediaHost))
	refused(t, addr, errs, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr), "client/client-a may not do this, only a media-host")
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, mh1), srvPeer, addr)); err != nil {
		t.Fatalf("the media host was refused: %v", err)
	}
	if err := serverErr(t, errs); err != nil {
		t.Fatal(err)
	}

	// An agent dials media host mh1 but client-b answers.
	fake, ferrs := testServer(t, ServerConfig(creds(t, f.good, cliB)))
	_, err := dial(fake, clientConfig(t, creds(t, f.good, cliA), mh1, fake))
	if err == nil || !strings.Contains(err.Error(), "client/client-b answered at "+fake+", where media-host/mh1 was expected") {
		t.Fatalf("dial: %v", err)
	}
	<-ferrs
}

func TestLoadCredentialsErrors(t *testing.T) {
	f := makeFleet(t)
	if _, err := LoadCredentials(f.good, Peer{RoleClient, "client-z"}); err == nil || !strings.Contains(err.Error(), "no key of client/client-z") {
		t.Fatalf("missing: %v", err)
	}
	key := filepath.Join(f.good, "client.client-a.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(f.good, cliA); err == nil || !strings.Contains(err.Error(), "readable by others (mode 0644)") {
		t.Fatalf("mode: %v", err)
	}
	os.Chmod(key, 0o600)
	// client-b's key with client-a's certificate.
	data, _ := os.ReadFile(filepath.Join(f.good, "client.client-b.key"))
	os.WriteFile(key, data, 0o600)
	if _, err := LoadCredentials(f.good, cliA); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Fatalf("mismatch: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	if err := RequireRole(mh1, RoleMediaHost); err != nil {
		t.Fatal(err)
	}
	if err := RequireRole(cliA, RoleMediaHost, RoleServer); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "only a media-host or server") {
		t.Fatalf("RequireRole: %v", err)
	}
	if err := cliA.ActFor("client-a"); err != nil {
		t.Fatal(err)
	}
	if err := srvPeer.ActFor("client-b"); err != nil {
		t.Fatal(err)
	}
	if err := cliA.ActFor("client-b"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("client-a for client-b: %v", err)
	}
	if err := mh1.ActFor("client-a"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a media host for a client: %v", err)
	}
}

// Client A's certificate asking for client B's source is refused; the
// server may act for both; an unknown source is refused.
func TestAuthorizeSource(t *testing.T) {
	cfg, err := config.Parse("/etc/daisy/daisy.yaml", []byte(`server: {host: backup1, address: 127.0.0.1:7450}
clients:
  - {name: client-a, address: 127.0.0.2:7452}
  - {name: client-b, address: 127.0.0.3:7452}
sources:
  - {name: home-a, client: client-a, paths: [/home]}
  - {name: home-b, client: client-b, paths: [/home]}
devices: [{name: tape0}]
backup_group: [{name: bma0, device: tape0, buffers: [{name: B1, source: home-a}, {name: B2, source: home-b}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := AuthorizeSource(cliA, cfg, "home-a"); err != nil {
		t.Fatal(err)
	}
	err = AuthorizeSource(cliA, cfg, "home-b")
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "source home-b: forbidden: client/client-a may act only for its own sources, not for those of client client-b") {
		t.Fatalf("client-a for home-b: %v", err)
	}
	if err := AuthorizeSource(srvPeer, cfg, "home-b"); err != nil {
		t.Fatal(err)
	}
	if err := AuthorizeSource(mh1, cfg, "home-a"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("media host: %v", err)
	}
	if err := AuthorizeSource(cliA, cfg, "nope"); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown source: %v", err)
	}
}

// Hosts lists what daisy.yaml needs: no certificate for a client without
// an address, SANs of names and addresses.
func TestHosts(t *testing.T) {
	cfg, err := config.Parse("d.yaml", []byte(`server: {host: backup1, address: backup1.example.com:7450, api: 127.0.0.1:7451}
clients: [{name: a, address: "[2001:db8::1]:7452"}, {name: local}]
media_hosts: [{name: mh1, address: 192.0.2.3:7453}]
sources: [{name: s, client: a, paths: [/s]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := Hosts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hosts {
		got = append(got, h.String()+" "+strings.Join(h.DNS, ",")+" "+fmt.Sprint(h.IPs))
	}
	want := "server/backup1 backup1,backup1.example.com [127.0.0.1]; client/a a [2001:db8::1]; media-host/mh1 mh1 [192.0.2.3]"
	if strings.Join(got, "; ") != want {
		t.Fatalf("Hosts:\n%s\nwant\n%s", strings.Join(got, "; "), want)
	}
}

// An admin certificate names role admin; a server accepts it only where
// its roles allow admin.
func TestAdminCertificate(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	ca, err := InitCA(dir, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a/b", "a b", ".hidden"} {
		if _, err := AdminHost(bad); err == nil {
			t.Errorf("AdminHost(%q) accepted", bad)
		}
	}
	h, err := AdminHost("alice")
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(h, 2, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(is.Path) != "admin.alice.crt" {
		t.Errorf("admin certificate at %s", is.Path)
	}
	p, err := PeerFromCert(is.Cert)
	if err != nil || p != (Peer{RoleAdmin, "alice"}) {
		t.Fatalf("PeerFromCert: %v %v", p, err)
	}
	if err := RequireRole(p, RoleServer); err == nil {
		t.Error("an admin passed RequireRole(server)")
	}
	if err := RequireRole(p, RoleAdmin, RoleServer); err != nil {
		t.Error(err)
	}
	if err := p.ActFor("client-a"); err == nil {
		t.Error("an admin acts for a client's agent")
	}
	creds, err := LoadCredentials(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Self != p {
		t.Errorf("credentials of %v", creds.Self)
	}
	list, err := List(dir, now)
	if err != nil || len(list) != 1 || list[0].Role != RoleAdmin || list[0].Problem != "" {
		t.Errorf("List: %+v %v", list, err)
	}
}

// A revoked certificate is refused by the daemons that accept it and by
// those that dial it, from the next handshake on, without a restart; the
// others are not; a damaged list, or one another CA signed, refuses every
// peer; a new certificate of the host is good again.
func TestRevokedCertificateRefused(t *testing.T) {
	f := makeFleet(t)
	srv := creds(t, f.good, srvPeer) // loaded before the list exists
	addr, errs := testServer(t, ServerConfig(srv, RoleClient))
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr)); err != nil {
		t.Fatal(err)
	}
	if err := serverErr(t, errs); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(f.good)
	if err != nil {
		t.Fatal(err)
	}
	certA, at, err := ca.RevokeHost(cliA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused(t, addr, errs, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr), "the certificate of client/client-a (serial "+certA.SerialNumber.Text(16)+") was revoked")
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, cliB), srvPeer, addr)); err != nil {
		t.Fatalf("client-b after client-a was revoked: %v", err)
	}
	if err := serverErr(t, errs); err != nil {
		t.Fatal(err)
	}
	// Twice: the same date, one entry.
	if _, again, err := ca.RevokeHost(cliA, time.Now().Add(time.Hour)); err != nil || !again.Equal(at) {
		t.Errorf("revoked again: %v at %s, first %s", err, again, at)
	}
	crl, err := readCRL(filepath.Join(f.good, CRLFile), ca.Cert)
	if err != nil || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("the list after two revocations of one certificate: %v, %+v", err, crl)
	}
	list, err := List(f.good, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range list {
		revoked := strings.HasPrefix(is.Problem, "revoked on ")
		if revoked != (is.Peer == cliA) {
			t.Errorf("cert ls: %s: %q", is.Peer, is.Problem)
		}
	}

	// The dialling side: a media host revoked is refused by its callers.
	maddr, merrs := testServer(t, ServerConfig(creds(t, f.good, mh1)))
	if _, _, err := ca.RevokeHost(mh1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(maddr, clientConfig(t, creds(t, f.good, srvPeer), mh1, maddr)); err == nil || !strings.Contains(err.Error(), "media-host/mh1") || !errors.Is(err, ErrRevoked) {
		t.Errorf("dialling a revoked media host: %v", err)
	}
	<-merrs

	// A new certificate of client-a is good.
	if _, err := ca.Issue(newHost(cliA, "127.0.0.1:7450"), 2, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, cliA), srvPeer, addr)); err != nil {
		t.Fatalf("client-a's new certificate: %v", err)
	}
	if err := serverErr(t, errs); err != nil {
		t.Fatal(err)
	}

	// A damaged list, or another CA's, refuses everyone (here the dialling
	// side, which reads the same directory, refuses first).
	path := filepath.Join(f.good, CRLFile)
	if err := os.WriteFile(path, []byte("not a CRL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, cliB), srvPeer, addr)); err == nil || !strings.Contains(err.Error(), "no peer is accepted until it is fixed") {
		t.Errorf("a damaged list: %v", err)
	}
	<-errs
	other, err := LoadCA(f.other)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.RevokeHost(cliA, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(f.other, CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, clientConfig(t, creds(t, f.good, cliB), srvPeer, addr)); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Errorf("another CA's list: %v", err)
	}
	<-errs
}
