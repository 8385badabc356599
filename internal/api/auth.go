package api

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"

	"daisy/internal/pki"
)

// Who made a request: the token's name or the certificate's peer.
type caller struct {
	Token string // the token's ID (never the token)
	Name  string
}

// authenticate says who made r, or writes the refusal: a TLS client
// certificate of role admin or server, else a bearer token of the store.
// A client or media-host certificate is refused (403) even with a token:
// agents do not use the API.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		p, err := pki.PeerOf(*r.TLS)
		if err != nil {
			a.fail(w, r, http.StatusForbidden, "the client certificate is not usable: "+err.Error())
			return caller{}, false
		}
		if err := pki.RequireRole(p, pki.RoleAdmin, pki.RoleServer); err != nil {
			a.fail(w, r, http.StatusForbidden, err.Error()+" (the API is for administrators: a token, or a certificate of daisy cert issue --admin NAME)")
			return caller{}, false
		}
		return caller{Name: p.String()}, true
	}
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	switch {
	case h == "":
		a.unauthorized(w, r, "authentication required: send Authorization: Bearer TOKEN (daisy token create NAME) or a client certificate of role admin")
		return caller{}, false
	case !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
		a.unauthorized(w, r, "the Authorization header is not \"Bearer TOKEN\"")
		return caller{}, false
	}
	if a.opts.Tokens == nil {
		a.unauthorized(w, r, "this server accepts no tokens (it has no token store); use a client certificate of role admin")
		return caller{}, false
	}
	t, err := a.opts.Tokens.Verify(strings.TrimSpace(token))
	switch {
	case errors.Is(err, pki.ErrBadToken):
		a.unauthorized(w, r, "invalid or revoked token")
		return caller{}, false
	case err != nil:
		a.opts.Logger.Error("token store", "err", err)
		a.fail(w, r, http.StatusInternalServerError, "the server cannot read its token store")
		return caller{}, false
	}
	return caller{Token: t.ID, Name: t.Name}, true
}

func (a *API) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="daisy"`)
	a.fail(w, r, http.StatusUnauthorized, msg)
}

// TLSConfig is the tls.Config of the API: TLS 1.3, the server's
// certificate, and a client certificate verified against the CA (and the
// revocation list beside it) when one is given
// (tls.VerifyClientCertIfGiven), so that token users need none. Roles are
// checked per request (403 for an agent's certificate).
func TLSConfig(c *pki.Credentials) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    c.CAs,
		NextProtos:   []string{"h2", "http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return nil // no certificate: a token is asked for
			}
			return c.CheckRevoked(cs.VerifiedChains[0][0])
		},
	}
}
