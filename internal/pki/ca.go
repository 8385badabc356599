package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"daisy/internal/config"
	"daisy/internal/durable"
)

// Names of the CA's files in a directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Default validities, in days.
const (
	DefaultCADays   = 3650
	DefaultHostDays = 397
)

// CA is the certificate authority of a fleet.
type CA struct {
	Dir  string
	Cert *x509.Certificate
	Key  crypto.Signer
}

// DefaultDir is the directory of the CA and certificates of cfg: "pki"
// beside its catalog (the state directory).
func DefaultDir(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Catalog.SQLite), "pki")
}

// InitCA makes a new CA valid for days from now in dir (made if missing,
// mode 0700): ca.key (mode 0600) and ca.crt. It refuses when either file
// exists.
func InitCA(dir string, days int, now time.Time) (*CA, error) {
	if days < 1 {
		return nil, fmt.Errorf("a CA valid for %d days: give at least 1", days)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s exists: a CA is there already; it is not replaced (every certificate it signed would stop working): use another --dir, or remove the CA's files first", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("CA file %s: %w", p, err)
		}
	}
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("CA directory %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"daisy"}, CommonName: "daisy CA " + hex.EncodeToString(serial.Bytes()[:4])},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeKey(keyPath, key, false); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, pemBytes("CERTIFICATE", der), 0o644, false); err != nil {
		return nil, err
	}
	return &CA{Dir: dir, Cert: cert, Key: key}, nil
}

// LoadCA reads the CA of dir: its certificate, and its key, which must be
// readable by its owner only and match the certificate.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	cert, err := readCert(certPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no CA in %s (%s is missing): run daisy cert init first, or give the CA's directory with --dir", dir, certPath)
		}
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("CA key %s is readable by others (mode %04o); make it private: chmod 600 %s", keyPath, st.Mode().Perm(), keyPath)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not match the CA certificate %s (the key of another CA?); put the CA's own key there", keyPath, certPath)
	}
	return &CA{Dir: dir, Cert: cert, Key: key}, nil
}

// Host is a certificate a fleet needs: who and at which names.
type Host struct {
	Peer
	Address string   // where it listens, as in daisy.yaml
	DNS     []string // DNS SANs
	IPs     []net.IP // IP SANs
}

// CertFile and KeyFile are the names of a host's files in a directory.
func (h Host) CertFile() string { return fileBase(h.Peer) + ".crt" }

// KeyFile is the name of the host's key file.
func (h Host) KeyFile() string { return fileBase(h.Peer) + ".key" }

func fileBase(p Peer) string { return string(p.Role) + "." + p.Name }

// Hosts lists the certificates the fleet of cfg needs: the server, every
// client with an address (its agent) and every media host. A client
// without an address is the server's own host and needs none.
func Hosts(cfg *config.Config) ([]Host, error) {
	if cfg.Server == nil {
		return nil, fmt.Errorf("%s declares no server: certificates are for a fleet; add \"server: {host: NAME, address: HOST:PORT}\", the clients' addresses and media_hosts", cfg.File)
	}
	var out []Host
	s := cfg.Server
	out = append(out, newHost(Peer{RoleServer, s.Host}, s.Address, s.API))
	for _, c := range cfg.Clients {
		if c.Address != "" {
			out = append(out, newHost(Peer{RoleClient, c.Name}, c.Address))
		}
	}
	for _, m := range cfg.MediaHosts {
		out = append(out, newHost(Peer{RoleMediaHost, m.Name}, m.Address))
	}
	return out, nil
}

// AdminHost is the certificate of an administrator named name (a person
// or a tool): role admin, no DNS or IP names, since it only dials.
func AdminHost(name string) (Host, error) {
	if name == "" || strings.ContainsAny(name, "/\\ ") || strings.HasPrefix(name, ".") {
		return Host{}, fmt.Errorf("admin name %q: give a name without spaces or slashes (a person or a tool, e.g. alice)", name)
	}
	return Host{Peer: Peer{Role: RoleAdmin, Name: name}}, nil
}

// newHost gives a host the SANs of its name and the hosts of its
// addresses.
func newHost(p Peer, addrs ...string) Host {
	h := Host{Peer: p}
	if len(addrs) > 0 {
		h.Address = addrs[0]
	}
	addDNS := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		for _, x := range h.DNS {
			if x == n {
				return
			}
		}
		h.DNS = append(h.DNS, n)
	}
	if net.ParseIP(p.Name) == nil && config.CheckAddress(p.Name+":1") == nil {
		addDNS(p.Name)
	}
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip != nil {
			dup := false
			for _, x := range h.IPs {
				dup = dup || x.Equal(ip)
			}
			if !dup {
				h.IPs = append(h.IPs, ip)
			}
			continue
		}
		addDNS(host)
	}
	return h
}

// Issued is a certificate of a directory.
type Issued struct {
	Host
	Path     string // of the certificate
	Cert     *x509.Certificate
	NotAfter time.Time
	// Problem says why the certificate would be refused: not signed by the
	// CA of the directory, expired, no daisy host; "" when it is good.
	Problem string
}

// Issue signs a certificate for h valid for days from now and writes its
// key (mode 0600) and certificate into the CA's directory. It refuses to
// replace existing files unless replace is set (a renewal).
func (ca *CA) Issue(h Host, days int, now time.Time, replace bool) (Issued, error) {
	if days < 1 {
		return Issued{}, fmt.Errorf("a certificate valid for %d days: give at least 1", days)
	}
	certPath, keyPath := filepath.Join(ca.Dir, h.CertFile()), filepath.Join(ca.Dir, h.KeyFile())
	if !replace {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return Issued{}, fmt.Errorf("%s exists: %s has a certificate already; renew it with --force", p, h.Peer)
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("key of %s: %w", h.Peer, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return Issued{}, err
	}
	notAfter := now.AddDate(0, 0, days)
	if notAfter.After(ca.Cert.NotAfter) {
		return Issued{}, fmt.Errorf("a certificate of %s valid until %s would outlive the CA (valid until %s); give fewer --days", h.Peer, notAfter.UTC().Format(time.DateOnly), ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"daisy"}, OrganizationalUnit: []string{string(h.Role)}, CommonName: h.Name},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every daemon both serves and dials.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    h.DNS,
		IPAddresses: h.IPs,
		URIs:        []*url.URL{h.URI()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Issued{}, fmt.Errorf("certificate of %s: %w", h.Peer, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, err
	}
	if err := writeKey(keyPath, key, replace); err != nil {
		return Issued{}, err
	}
	if err := writeFile(certPath, pemBytes("CERTIFICATE", der), 0o644, replace); err != nil {
		return Issued{}, err
	}
	return Issued{Host: h, Path: certPath, Cert: cert, NotAfter: cert.NotAfter}, nil
}

// List reads every host certificate of dir (ROLE.NAME.crt), sorted by
// role and name, each checked against the CA of dir at now.
func List(dir string, now time.Time) ([]Issued, error) {
	caCert, err := readCert(filepath.Join(dir, CACertFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no CA in %s: run daisy cert init first, or give the CA's directory with --dir", dir)
		}
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	revs := newRevocations(dir, caCert)
	names, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, err
	}
	var out []Issued
	for _, p := range names {
		if filepath.Base(p) == CACertFile {
			continue
		}
		is := Issued{Path: p}
		cert, err := readCert(p)
		if err != nil {
			is.Problem = err.Error()
			out = append(out, is)
			continue
		}
		is.Cert, is.NotAfter = cert, cert.NotAfter
		is.DNS, is.IPs = cert.DNSNames, cert.IPAddresses
		peer, err := PeerFromCert(cert)
		is.Peer = peer
		switch {
		case err != nil:
			is.Problem = err.Error()
		case now.After(cert.NotAfter):
			is.Problem = "expired on " + cert.NotAfter.UTC().Format(time.DateOnly)
		default:
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				is.Problem = "not signed by the CA of " + dir + " (" + err.Error() + ")"
			} else if at, err := revs.revoked(cert); err != nil {
				is.Problem = err.Error()
			} else if !at.IsZero() {
				is.Problem = "revoked on " + at.UTC().Format(time.DateOnly)
			}
		}
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return roleOrder(out[i].Role) < roleOrder(out[j].Role)
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

func roleOrder(r Role) int {
	switch r {
	case RoleServer:
		return 0
	case RoleClient:
		return 1
	case RoleMediaHost:
		return 2
	case RoleAdmin:
		return 3
	}
	return 4
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1<<32)), nil // never small, never 0
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeKey(path string, key *ecdsa.PrivateKey, replace bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pemBytes("PRIVATE KEY", der), 0o600, replace)
}

// writeFile writes data to path, synced, its directory too. Without
// replace it fails if path exists (O_EXCL); with it a temporary file is
// renamed over path.
func writeFile(path string, data []byte, perm fs.FileMode, replace bool) error {
	target := path
	if replace {
		target = path + ".tmp"
		os.Remove(target)
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; it is not replaced", path)
		}
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(target)
		return fmt.Errorf("write %s: %w", target, err)
	}
	if replace {
		if err := durable.Rename(target, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return durable.SyncParent(path)
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return cert, nil
}

// readKey reads a PEM private key (PKCS #8, or EC).
func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", path)
	}
	var k any
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s holds a %q, not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s cannot sign", path)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := a.(equaler); ok {
		return e.Equal(b)
	}
	da, err1 := x509.MarshalPKIXPublicKey(a)
	db, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}
