package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// TypeS3 is the type of pools (and devices) whose volumes live in
// S3-compatible object storage.
const TypeS3 = "s3"

// S3 is where the volumes of an s3 pool live: a bucket prefix on a server.
// The credentials are not part of it: they come from the environment or
// from CredentialsFile.
type S3 struct {
	// Endpoint is the server's URL, "https://HOST[:PORT]" or
	// "http://HOST[:PORT]" (the "tls" key decides for an endpoint given
	// without a scheme; TLS by default).
	Endpoint string
	Bucket   string
	// Prefix is the key prefix of the pool's volumes, without slashes
	// around it; the pool's name by default, "" for the bucket's root.
	Prefix string
	// Region is the bucket's region; "" lets the server say.
	Region string
	// CredentialsFile is an AWS shared credentials file (absolute), and
	// Profile its section; "" for the environment (AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY).
	CredentialsFile, Profile string
	// CAFile is a PEM file of certificates to trust besides the system's.
	CAFile string
	// PartSize is the size of the part objects a volume is cut into.
	PartSize int64
}

// DefaultPartSize is the part size of s3 pools without "part_size".
const DefaultPartSize = 64 * MiB

// MaxPartSize is the largest part: S3's limit for one PUT.
const MaxPartSize = 5 * GiB

// s3PoolKeys are the keys of a pool of type s3.
var s3PoolKeys = []string{"name", "type", "endpoint", "tls", "bucket", "prefix", "region", "credentials_file", "profile", "ca_file", "part_size", "volume_capacity", "retention"}

// decodeS3Pool reads the keys of a pool of type s3 into p.
func (d *decoder) decodeS3Pool(c *Config, im *mapping, p *Pool) {
	s := &S3{Prefix: p.Name, PartSize: DefaultPartSize}
	p.S3 = s
	if c.s3At == nil {
		c.s3At = map[string]pos{}
	}
	c.s3At[p.Name] = im.keyPos("name", im.at)
	p.FreeSpace = 0 // the volumes take no room on a local filesystem
	ep, epAt, epOK := im.str("endpoint")
	tls, tlsAt, tlsOK := im.boolean("tls")
	switch {
	case !epOK && im.missing("endpoint"):
		d.errorf(im.keyPos("type", im.at), "%s of type s3 has no endpoint; add e.g. \"endpoint: https://s3.example.com\"", im.label)
	case epOK:
		u, err := parseEndpoint(ep, tls, tlsOK)
		if err != "" {
			at := epAt
			if strings.Contains(err, "tls") {
				at = tlsAt
			}
			d.errorf(at, "endpoint of %s: %s", im.label, err)
		}
		s.Endpoint = u
	}
	if b, at, ok := im.str("bucket"); ok {
		if err := checkBucket(b); err != "" {
			d.errorf(at, "bucket %q of %s %s", b, im.label, err)
		}
		s.Bucket = b
	} else if im.missing("bucket") {
		d.errorf(im.keyPos("type", im.at), "%s of type s3 has no bucket; add e.g. \"bucket: backups\"", im.label)
	}
	if v, at, ok := im.str("prefix"); ok {
		v = strings.Trim(v, "/")
		if err := checkPrefix(v); err != "" {
			d.errorf(at, "prefix %q of %s %s", v, im.label, err)
		}
		s.Prefix = v
	}
	if v, _, ok := im.str("region"); ok {
		s.Region = v
	}
	s.CredentialsFile = d.s3File(c, im, "credentials_file", "an AWS credentials file, or remove the key to take the credentials from the environment")
	if v, at, ok := im.str("profile"); ok {
		if s.CredentialsFile == "" {
			d.errorf(at, "profile of %s names a section of a credentials file; add credentials_file, or remove the key", im.label)
		}
		s.Profile = v
	}
	s.CAFile = d.s3File(c, im, "ca_file", "a PEM file, or remove the key")
	if v, at, ok := im.size("part_size"); ok {
		if v < MinBlockSize || v > MaxPartSize {
			d.errorf(at, "part_size %s of %s is out of range; use %s to %s, e.g. 64MiB", FormatSize(v), im.label, FormatSize(MinBlockSize), FormatSize(MaxPartSize))
		} else {
			s.PartSize = v
		}
	}
}

// parseEndpoint returns the endpoint as a URL with its scheme, or why it
// is not one.
func parseEndpoint(ep string, tls, tlsSet bool) (string, string) {
	ep = strings.TrimSpace(ep)
	if ep == "" {
		return "", "empty; name the server, e.g. https://s3.example.com or http://127.0.0.1:7070"
	}
	if !strings.Contains(ep, "://") {
		scheme := "https"
		if tlsSet && !tls {
			scheme = "http"
		}
		ep = scheme + "://" + ep
	}
	u, err := url.Parse(ep)
	switch {
	case err != nil:
		return "", fmt.Sprintf("%q is not a URL: %v", ep, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Sprintf("scheme %q; use https:// (or http:// without TLS)", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Sprintf("%q names no host", ep)
	case u.User != nil:
		return "", "has a user or password in it; credentials go in the environment or a credentials_file, never in daisy.yaml"
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Sprintf("%q has a path; give the server only (the bucket and prefix have keys of their own)", ep)
	case tlsSet && tls != (u.Scheme == "https"):
		return "", fmt.Sprintf("tls: %v disagrees with the scheme of %q; remove the tls key or change the scheme", tls, ep)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", fmt.Sprintf("port %q is not a port number", p)
		}
	}
	return u.Scheme + "://" + u.Host, ""
}

// checkBucket applies S3's rules for bucket names; "" when b follows them.
func checkBucket(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "must be 3 to 63 characters long"
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return "may hold only lowercase letters, digits, dots and hyphens"
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return "must begin and end with a letter or digit"
	}
	if strings.Contains(b, "..") {
		return "must not hold two dots in a row"
	}
	if net.ParseIP(b) != nil {
		return "must not look like an IP address"
	}
	return ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkPrefix checks a key prefix: path elements of printable characters.
func checkPrefix(p string) string {
	if p == "" {
		return ""
	}
	if len(p) > 512 {
		return "is longer than 512 bytes"
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return "has an empty, \".\" or \"..\" element; write e.g. daisy/offsite"
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "has a control character or a backslash"
		}
	}
	return ""
}

// s3File reads the file named by key (absolute; "" when absent) and
// reports one that is empty, missing or not a regular file (fix says what
// to name instead).
func (d *decoder) s3File(c *Config, im *mapping, key, fix string) string {
	v, at, ok := im.str(key)
	if !ok {
		return ""
	}
	if strings.TrimSpace(v) == "" {
		d.errorf(at, "%s has an empty %s; name %s", im.label, key, fix)
		return ""
	}
	path := c.abs(v)
	st, err := os.Stat(path)
	switch {
	case err != nil:
		d.errorf(at, "%s %s of %s cannot be read: %v", key, path, im.label, unwrapPathError(err))
	case !st.Mode().IsRegular():
		d.errorf(at, "%s %s of %s is not a regular file", key, path, im.label)
	}
	return path
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// checkS3Pools checks what a bucket holds: no two s3 pools keep their
// volumes under the same prefix of one bucket (or one under the other's),
// a part holds a block of every device writing into the pool, and only
// s3 devices write into s3 pools and the other way round.
func (d *decoder) checkS3Pools(c *Config, m *meta) {
	type place struct{ pool, where string }
	var seen []place
	for i, p := range c.Pools {
		if p.S3 == nil || p.S3.Bucket == "" || p.S3.Endpoint == "" {
			continue
		}
		where := p.S3.Endpoint + "/" + p.S3.Bucket + "/" + p.S3.Prefix
		for _, q := range seen {
			if q.where == where || strings.HasPrefix(where+"/", q.where+"/") || strings.HasPrefix(q.where+"/", where+"/") {
				d.errorf(m.pools[i].name, "pool %s keeps its volumes at %s, which overlaps pool %s at %s; give each s3 pool a prefix of its own", show(p.Name), where, show(q.pool), q.where)
			}
		}
		seen = append(seen, place{p.Name, where})
	}
	// The writers, each with where to point at: its device key in the
	// backup and mirror groups, the pool for a copy job's.
	type writer struct {
		a  MediaAgent
		at pos
	}
	var writers []writer
	for level, agents := range append([][]MediaAgent{c.BackupGroup}, c.MirrorGroups...) {
		metas := m.backup
		if level > 0 && level-1 < len(m.mirror) {
			metas = m.mirror[level-1]
		}
		for i, a := range agents {
			var at pos
			if i < len(metas) {
				at = metas[i].device
			}
			writers = append(writers, writer{a, at})
		}
	}
	for i := range c.CopyJobs {
		for _, a := range c.CopyJobs[i].MediaAgents() {
			writers = append(writers, writer{a, pos{}})
		}
	}
	for _, w := range writers {
		a := w.a
		p, ok := c.Pool(a.Pool)
		dv, ok2 := c.Device(a.Device)
		if !ok || !ok2 || (p.Type != TypeS3 && dv.Type != TypeS3) {
			continue
		}
		at := w.at
		if !at.valid() {
			at = m.pools[c.poolIndex(p.Name)].name
		}
		if dv.Type != p.Type && dv.Type != TypeTape && dv.Type != TypeChanger && p.Type != TypeTape { // tape's own check names those
			d.errorf(at, "media agent %s writes into pool %s of type %s through device %s of type %s; a pool is written by devices of its own type", show(a.Name), show(p.Name), p.Type, show(dv.Name), dv.Type)
			continue
		}
		if p.S3 != nil && dv.BlockSize > p.S3.PartSize {
			d.errorf(m.pools[c.poolIndex(p.Name)].name, "part_size %s of pool %s is smaller than a block of device %s (%s); use at least %s", FormatSize(p.S3.PartSize), show(p.Name), show(dv.Name), FormatSize(dv.BlockSize), FormatSize(dv.BlockSize))
		}
	}
}

// poolIndex returns the index of the pool named name in c.Pools (-1).
func (c *Config) poolIndex(name string) int {
	for i, p := range c.Pools {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// S3Location returns "s3://BUCKET/PREFIX" for an s3 pool's volumes, for
// messages.
func (p Pool) S3Location() string {
	if p.S3 == nil {
		return ""
	}
	return "s3://" + filepath.ToSlash(strings.TrimSuffix(p.S3.Bucket+"/"+p.S3.Prefix, "/"))
}

// DeviceMemory returns the memory the media of the backup topology's
// media agents hold beyond their buffers: a part of each one writing into
// an s3 pool (blocks wait in memory until a part is full).
func (c *Config) DeviceMemory() int64 {
	var n int64
	for _, a := range c.MediaAgents() {
		if p, ok := c.Pool(a.Pool); ok && p.S3 != nil {
			n += p.S3.PartSize
		}
	}
	return n
}

// S3CredentialWarnings returns a warning, for check to print, for each s3
// pool that takes its credentials from the environment when this
// environment has none: a job run here could not reach its bucket.
func (c *Config) S3CredentialWarnings() []*Error {
	var out []*Error
	for _, p := range c.Pools {
		if p.S3 == nil || p.S3.CredentialsFile != "" || (os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "") {
			continue
		}
		w := &Error{File: c.name, Line: 1, Column: 1}
		if w.File == "" {
			w.File = c.File
		}
		if at, ok := c.s3At[p.Name]; ok && at.valid() {
			w.Line, w.Column = at.line, at.col
		}
		w.Msg = fmt.Sprintf("pool %s: no credentials for %s in this environment: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY where daisy runs, or name a credentials_file", p.Name, p.S3Location())
		out = append(out, w)
	}
	return out
}
