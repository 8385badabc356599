// Package pki is the security of a daisy fleet: its certificate authority,
// the certificates of its hosts, mutually authenticated TLS 1.3 between
// them, who may do what, and the bearer tokens of the HTTP API.
//
// A directory holds everything (by default "pki" beside the catalog):
// ca.crt and ca.key (the CA, ECDSA P-256, key mode 0600), and per host
// ROLE.NAME.crt and ROLE.NAME.key. [InitCA] makes the CA and refuses to
// overwrite one; [LoadCA] checks that its key is private and matches its
// certificate; [CA.Issue] signs a host's certificate. A certificate names
// its host in a URI SAN, daisy://ROLE/NAME (roles: server, client for the
// agent of a client, media-host), and carries the host's address (IP or
// DNS name) and its name as SANs. [Hosts] lists the certificates a
// daisy.yaml needs, [List] those a directory holds.
//
// [ServerConfig] and [ClientConfig] build tls.Configs that speak TLS 1.3
// only, require a certificate of the peer signed by the CA, and check its
// role (and, when dialling, its name); [PeerOf] reads the verified peer's
// [Peer]. [RequireRole] and [AuthorizeSource] are the checks the server
// makes per request: an agent acts only for the sources of its own client.
//
// [CA.Revoke] (daisy cert revoke ROLE/NAME) adds a certificate to the
// fleet's revocation list, crl.pem beside ca.crt ([CRLFile], an X.509 CRL
// signed by the CA); every handshake of [ServerConfig], [ClientConfig] and
// the API's TLS checks the peer against the list of the daemon's own
// directory, read again whenever the file changes. A list that is there
// but damaged, or not signed by the CA, refuses every peer.
//
// [Tokens] keeps the HTTP API's bearer tokens in tokens.json of the
// directory (until the server keeps them in the catalog), only their
// SHA-256: a token (daisy_ID_SECRET, 32 random bytes) is shown once, when
// made, and compared in constant time.
package pki
