package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CRLFile is the fleet's certificate revocation list in a pki directory:
// an X.509 CRL signed by the CA, PEM. daisy cert revoke writes it beside
// the CA; copied beside ca.crt on a host, it makes that host's daemons
// refuse the revoked certificates from their next handshake on (the file
// is read again whenever it changes; connections already up stay until
// they end or the daemon restarts).
const CRLFile = "crl.pem"

// ErrRevoked is the error of a peer whose certificate is revoked.
var ErrRevoked = errors.New("certificate revoked")

// Revoke adds cert (a host's certificate, signed by the CA) to the CA's
// revocation list in its directory, replacing the file in one rename;
// a certificate revoked already keeps its first date. It returns when the
// serial was revoked.
func (ca *CA) Revoke(cert *x509.Certificate, now time.Time) (time.Time, error) {
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return time.Time{}, fmt.Errorf("the certificate of serial %x is not signed by the CA of %s: %w", cert.SerialNumber, ca.Dir, err)
	}
	path := filepath.Join(ca.Dir, CRLFile)
	var entries []x509.RevocationListEntry
	number := big.NewInt(1)
	old, err := readCRL(path, ca.Cert)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return time.Time{}, err
	default:
		entries = old.RevokedCertificateEntries
		number = new(big.Int).Add(old.Number, big.NewInt(1))
		for _, e := range entries {
			if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return e.RevocationTime, nil
			}
		}
	}
	now = now.UTC().Truncate(time.Second)
	entries = append(entries, x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: now})
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now,
		NextUpdate:                ca.Cert.NotAfter,
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		return time.Time{}, fmt.Errorf("sign the revocation list: %w", err)
	}
	if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644, true); err != nil {
		return time.Time{}, err
	}
	return now, nil
}

// RevokeHost revokes the certificate of p in the CA's directory
// (ROLE.NAME.crt), as Revoke.
func (ca *CA) RevokeHost(p Peer, now time.Time) (*x509.Certificate, time.Time, error) {
	path := filepath.Join(ca.Dir, fileBase(p)+".crt")
	cert, err := readCert(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, fmt.Errorf("no certificate of %s in %s (%s is missing)", p, ca.Dir, path)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	at, err := ca.Revoke(cert, now)
	return cert, at, err
}

// readCRL reads and checks the CRL at path: PEM, parsed, signed by ca.
func readCRL(path string, ca *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "X509 CRL" {
		return nil, fmt.Errorf("%s: not a PEM X509 CRL", path)
	}
	crl, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("%s: not signed by the CA (%s): %w", path, ca.Subject.CommonName, err)
	}
	return crl, nil
}

// revocations is the CRL of a pki directory as a daemon checks it: read
// again when the file changes (size or modification time), none when
// there is no file. A file that is there but cannot be read, parsed or
// checked refuses every peer until it is fixed: a revocation must not be
// lost to a damaged file.
type revocations struct {
	path string
	ca   *x509.Certificate

	mu      sync.Mutex
	stamp   string
	serials map[string]time.Time
	err     error
}

func newRevocations(dir string, ca *x509.Certificate) *revocations {
	return &revocations{path: filepath.Join(dir, CRLFile), ca: ca}
}

// revoked reports when cert was revoked (zero when it is not), or why the
// list cannot say.
func (r *revocations) revoked(cert *x509.Certificate) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := os.Stat(r.path)
	stamp := ""
	if err == nil {
		stamp = fmt.Sprint(st.Size(), st.ModTime().UnixNano())
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("revocation list %s: %w", r.path, err)
	}
	if r.serials == nil || stamp != r.stamp {
		r.stamp, r.serials, r.err = stamp, map[string]time.Time{}, nil
		if stamp != "" {
			crl, err := readCRL(r.path, r.ca)
			if err != nil {
				r.err = fmt.Errorf("revocation list: %w; no peer is accepted until it is fixed", err)
			} else {
				for _, e := range crl.RevokedCertificateEntries {
					r.serials[e.SerialNumber.Text(16)] = e.RevocationTime
				}
			}
		}
	}
	if r.err != nil {
		return time.Time{}, r.err
	}
	return r.serials[cert.SerialNumber.Text(16)], nil
}

// check is the revocation check of a verified peer certificate.
func (r *revocations) check(cert *x509.Certificate) error {
	if r == nil {
		return nil
	}
	at, err := r.revoked(cert)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		who := cert.Subject.CommonName
		if p, err := PeerFromCert(cert); err == nil {
			who = p.String()
		}
		return fmt.Errorf("%w: the certificate of %s (serial %x) was revoked on %s (%s)", ErrRevoked, who, cert.SerialNumber, at.UTC().Format(time.DateOnly), r.path)
	}
	return nil
}

// CheckRevoked returns an error when the peer certificate cert is in the
// revocation list of the credentials' directory (or the list is
// damaged); nil otherwise.
func (c *Credentials) CheckRevoked(cert *x509.Certificate) error {
	return c.revoked.check(cert)
}
