package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"daisy/internal/config"
)

// Role is what a host is in the fleet.
type Role string

// Roles of certificates.
const (
	RoleServer    Role = "server"     // daisy server
	RoleClient    Role = "client"     // daisy agent of a client
	RoleMediaHost Role = "media-host" // daisy media-agent of a media host
	// RoleAdmin is an administrator's certificate: for the server's HTTP
	// API (and, later, daisy --server). It names a person or a tool, not
	// a host of daisy.yaml, so Hosts does not list it.
	RoleAdmin Role = "admin"
)

// URIScheme is the scheme of the URI SAN that names a certificate's host.
const URIScheme = "daisy"

func (r Role) valid() bool {
	return r == RoleServer || r == RoleClient || r == RoleMediaHost || r == RoleAdmin
}

// Peer is a host as its certificate names it.
type Peer struct {
	Role Role
	Name string
}

// String is "client/client-a".
func (p Peer) String() string { return string(p.Role) + "/" + p.Name }

// ParsePeer parses the String form of a peer, ROLE/NAME.
func ParsePeer(s string) (Peer, error) {
	role, name, ok := strings.Cut(s, "/")
	p := Peer{Role: Role(role), Name: name}
	if !ok || name == "" || strings.ContainsAny(name, "/ ") || !p.Role.valid() {
		return Peer{}, fmt.Errorf("%q is not ROLE/NAME with a role of server, client, media-host or admin (e.g. client/c1)", s)
	}
	return p, nil
}

// URI is the certificate's URI SAN, daisy://ROLE/NAME.
func (p Peer) URI() *url.URL {
	return &url.URL{Scheme: URIScheme, Host: string(p.Role), Path: "/" + p.Name}
}

// ErrForbidden is the error of a peer that may not do what it asks.
var ErrForbidden = errors.New("forbidden")

// PeerFromCert reads the peer a certificate names: its one daisy:// URI
// SAN.
func PeerFromCert(cert *x509.Certificate) (Peer, error) {
	var found []Peer
	for _, u := range cert.URIs {
		if u.Scheme != URIScheme {
			continue
		}
		p := Peer{Role: Role(u.Host), Name: strings.TrimPrefix(u.Path, "/")}
		if !p.Role.valid() || p.Name == "" || strings.Contains(p.Name, "/") {
			return Peer{}, fmt.Errorf("certificate %q names %s, which is not daisy://server|client|media-host|admin/NAME", cert.Subject.CommonName, u)
		}
		found = append(found, p)
	}
	switch len(found) {
	case 0:
		return Peer{}, fmt.Errorf("certificate %q names no daisy host (no daisy://ROLE/NAME URI SAN); issue it with daisy cert issue", cert.Subject.CommonName)
	case 1:
		return found[0], nil
	}
	return Peer{}, fmt.Errorf("certificate %q names %d daisy hosts; a certificate is for one host", cert.Subject.CommonName, len(found))
}

// PeerOf is the peer of a TLS connection, from its verified certificate.
// A connection whose peer sent no certificate, or one not verified against
// the CA, has no peer.
func PeerOf(cs tls.ConnectionState) (Peer, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Peer{}, errors.New("the peer presented no verified certificate")
	}
	return PeerFromCert(cs.VerifiedChains[0][0])
}

// RequireRole returns nil when p has one of roles, else an error wrapping
// ErrForbidden that says which roles may.
func RequireRole(p Peer, roles ...Role) error {
	if slices.Contains(roles, p.Role) {
		return nil
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return fmt.Errorf("%w: %s may not do this, only a %s", ErrForbidden, p, strings.Join(names, " or "))
}

// ActFor returns nil when p may act for the client (read or restore its
// objects, run its sources): the server for any client, an agent only for
// its own. A media host acts for no client.
func (p Peer) ActFor(client string) error {
	switch {
	case p.Role == RoleServer:
		return nil
	case p.Role == RoleClient && p.Name == client:
		return nil
	case p.Role == RoleClient:
		return fmt.Errorf("%w: %s may act only for its own sources, not for those of client %s", ErrForbidden, p, client)
	}
	return fmt.Errorf("%w: %s acts for no client (asked for client %s)", ErrForbidden, p, client)
}

// AuthorizeSource returns nil when p may act for source (back it up, read
// or restore its objects): the source must exist in cfg and p act for its
// client.
func AuthorizeSource(p Peer, cfg *config.Config, source string) error {
	s, ok := cfg.Source(source)
	if !ok {
		return fmt.Errorf("%w: %s asked for source %q, which %s does not declare", ErrForbidden, p, source, cfg.File)
	}
	if err := p.ActFor(s.Client); err != nil {
		return fmt.Errorf("source %s: %w", s.Name, err)
	}
	return nil
}
