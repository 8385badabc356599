package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Credentials are what a daemon presents and trusts: its certificate and
// key, and the CA its peers' certificates must be signed by.
type Credentials struct {
	Self Peer
	Cert tls.Certificate
	CAs  *x509.CertPool
	// revoked is the revocation list beside ca.crt (CRLFile), checked at
	// every handshake.
	revoked *revocations
}

// LoadCredentials reads the credentials of self from dir: ca.crt and
// ROLE.NAME.crt and .key. The key must be private and match the
// certificate, and the certificate must name self.
func LoadCredentials(dir string, self Peer) (*Credentials, error) {
	caCert, err := readCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	base := fileBase(self)
	certPath, keyPath := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	st, err := os.Stat(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no key of %s in %s (%s is missing): issue it with daisy cert issue --host %s", self, dir, keyPath, self.Name)
	case err != nil:
		return nil, fmt.Errorf("key of %s: %w", self, err)
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("key %s is readable by others (mode %04o); make it private: chmod 600 %s", keyPath, st.Mode().Perm(), keyPath)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("certificate and key of %s (%s, %s): %w", self, certPath, keyPath, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", certPath, err)
		}
		pair.Leaf = leaf
	}
	got, err := PeerFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if got != self {
		return nil, fmt.Errorf("certificate %s names %s, not %s", certPath, got, self)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &Credentials{Self: self, Cert: pair, CAs: pool, revoked: newRevocations(dir, caCert)}, nil
}

// ServerConfig is the tls.Config of a daemon that accepts connections:
// TLS 1.3 only, a client certificate signed by the CA and not revoked
// (CRLFile) required, and its role one of allow (any role when allow is
// empty). The handler reads the peer with PeerOf.
func ServerConfig(c *Credentials, allow ...Role) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.CAs,
		VerifyConnection: func(cs tls.ConnectionState) error {
			p, err := PeerOf(cs)
			if err != nil {
				return err
			}
			if err := c.CheckRevoked(cs.VerifiedChains[0][0]); err != nil {
				return err
			}
			if len(allow) == 0 {
				return nil
			}
			return RequireRole(p, allow...)
		},
	}
}

// ClientConfig is the tls.Config of a daemon that dials want at address
// (HOST:PORT): TLS 1.3 only, its own certificate presented, the peer's
// signed by the CA and not revoked, valid for the host of address and
// naming want (so that another host of the fleet at that address is not
// taken for it).
func ClientConfig(c *Credentials, want Peer, address string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("address %q of %s: %w", address, want, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		RootCAs:      c.CAs,
		ServerName:   host,
		VerifyConnection: func(cs tls.ConnectionState) error {
			p, err := PeerOf(cs)
			if err != nil {
				return err
			}
			if p != want {
				return fmt.Errorf("%w: %s answered at %s, where %s was expected", ErrForbidden, p, address, want)
			}
			return c.CheckRevoked(cs.VerifiedChains[0][0])
		},
	}, nil
}
