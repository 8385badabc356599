// Package s3 keeps volumes in S3-compatible object storage (device type
// "s3"). A volume is a key prefix in a bucket holding immutable part
// objects, each a run of whole blocks, and a small manifest object naming
// the parts and the blocks each holds (docs/FORMAT.md, "Volumes in object
// storage"):
//
//	PREFIX/LABEL/manifest.json
//	PREFIX/LABEL/part-SSSSSSSS-BBBBBBBBBBBB   (part number S, first block B)
//
// Blocks written are collected in memory until a part is full (PartSize)
// or the medium is synced or closed; the part is then uploaded and the
// manifest rewritten. Appending never rewrites an object that holds data;
// cutting a volume (Truncate) rewrites only the manifest and deletes the
// parts wholly cut off. Reads and Locate use ranged GETs with a read-ahead
// window that doubles while reading goes on in sequence, up to ReadAhead
// bytes, so a probe costs one block and a stream few requests. Every
// request is retried, with backoff, a bounded number of times; what still
// fails is a device error.
//
// The label block is the first block of the first part, as on a tape, so
// a volume describes itself and List finds the volumes of a bucket prefix
// for a catalog rebuild. A volume whose manifest is lost is recovered from
// its part names and sizes.
//
// Credentials come from a credentials file (Options.CredentialsFile) or
// from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN); they are never part of a name, a message or the
// configuration.
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"daisy/internal/device"
)

// Defaults of Options.
const (
	DefaultPartSize  = 64 << 20
	DefaultRetries   = 5
	DefaultRetryWait = 200 * time.Millisecond
	DefaultTimeout   = 5 * time.Minute
	// maxRetryWait caps the backoff between two attempts.
	maxRetryWait = 10 * time.Second
)

// ReserveBlocks is the number of blocks kept after the early warning for
// a trailer, as on a virtual tape.
const ReserveBlocks = 2

// MaxBlockSize bounds the block size of a volume.
const MaxBlockSize = 64 << 20

// Options configure a library.
type Options struct {
	// Endpoint is the server's URL: "https://host[:port]" or
	// "http://host[:port]" (no TLS), without a path.
	Endpoint string
	// CAFile is a PEM file of certificates to trust for TLS besides the
	// system's; "" for the system's only.
	CAFile string
	// Bucket holds the volumes, under Prefix ("" for the bucket's root;
	// a "/" is added when missing).
	Bucket, Prefix string
	// Region is the bucket's region; "" asks the server.
	Region string
	// CredentialsFile is an AWS shared credentials file (INI: a
	// [profile] section with aws_access_key_id and
	// aws_secret_access_key); Profile selects the section ("default"
	// when ""). Without a file the credentials come from the
	// environment.
	CredentialsFile, Profile string
	// PartSize is the size of a part object; it is rounded down to whole
	// blocks (at least one). 0 means DefaultPartSize.
	PartSize int64
	// ReadAhead bounds the read window of a medium; 0 means PartSize.
	ReadAhead int64
	// Capacity is a volume's size in bytes, label included: near it
	// WriteBlock gives the early warning (device.ErrEndOfMedium) and
	// keeps ReserveBlocks blocks for a trailer. 0 means unlimited.
	Capacity int64
	// Retries is how often a failed request is tried again (0 means
	// DefaultRetries; negative: never). RetryWait is the first wait,
	// doubled after each failure up to 10 s (0 means DefaultRetryWait).
	Retries   int
	RetryWait time.Duration
	// Timeout bounds one request (0 means DefaultTimeout).
	Timeout time.Duration
	// Transport, when set, carries the requests (tests put a faulty one
	// in front of a real server).
	Transport http.RoundTripper
}

// Library is a bucket prefix holding volumes. It implements
// device.Library and is safe for concurrent use.
type Library struct {
	o       Options
	c       *minio.Client
	prefix  string // "" or ending in "/"
	name    string
	secrets []string // never shown in a message
}

var (
	_ device.Library   = (*Library)(nil)
	_ device.Reclaimer = (*Library)(nil)
)

// New makes a library. It checks the options and finds the credentials,
// but does not contact the server.
func New(o Options) (*Library, error) {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryWait == 0 {
		o.RetryWait = DefaultRetryWait
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.PartSize < 0:
		return nil, fmt.Errorf("s3: negative part size %d", o.PartSize)
	case o.ReadAhead < 0:
		return nil, fmt.Errorf("s3: negative read-ahead %d", o.ReadAhead)
	case o.Capacity < 0:
		return nil, fmt.Errorf("s3: negative volume capacity %d", o.Capacity)
	case o.Bucket == "":
		return nil, errors.New("s3: no bucket")
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = o.PartSize
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("s3: endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", o.Endpoint)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	creds, secrets, err := findCredentials(o)
	if err != nil {
		return nil, err
	}
	tr := o.Transport
	if tr == nil {
		t, err := minio.DefaultTransport(u.Scheme == "https")
		if err != nil {
			return nil, fmt.Errorf("s3: %w", err)
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("s3: CA file: %w", err)
			}
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("s3: CA file %s holds no PEM certificate", o.CAFile)
			}
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			t.TLSClientConfig.RootCAs = pool
		}
		tr = t
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Region:    o.Region,
		Transport: tr,
		// The library retries itself, a bounded number of times.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Library{
		o: o, c: c, prefix: prefix, secrets: secrets,
		name: fmt.Sprintf("s3 %s://%s/%s/%s", u.Scheme, u.Host, o.Bucket, prefix),
	}, nil
}

// findCredentials reads the credentials file, or else the environment.
func findCredentials(o Options) (*credentials.Credentials, []string, error) {
	if o.CredentialsFile != "" {
		profile := o.Profile
		if profile == "" {
			profile = "default"
		}
		if _, err := os.Stat(o.CredentialsFile); err != nil {
			return nil, nil, fmt.Errorf("s3: credentials file: %w", err)
		}
		c := credentials.NewFileAWSCredentials(o.CredentialsFile, profile)
		v, err := c.Get()
		if err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
			return nil, nil, fmt.Errorf("s3: credentials file %s: no aws_access_key_id and aws_secret_access_key in profile [%s]", o.CredentialsFile, profile)
		}
		return c, []string{v.AccessKeyID, v.SecretAccessKey, v.SessionToken}, nil
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, nil, errors.New("s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or name a credentials_file")
	}
	token := os.Getenv("AWS_SESSION_TOKEN")
	return credentials.NewStaticV4(id, secret, token), []string{id, secret, token}, nil
}

// Name returns "s3 SCHEME://HOST/BUCKET/PREFIX".
func (l *Library) Name() string { return l.name }

// Caps: volumes are seekable, appendable and can be cut; the early
// warning comes at the configured capacity.
func (l *Library) Caps() device.Caps {
	return device.Caps{Seekable: true, Append: true, Truncate: true, EarlyWarning: l.o.Capacity > 0}
}

// Close releases the library.
func (l *Library) Close() error { return nil }

// volKey returns the key prefix of the volume at ref.
func (l *Library) volKey(ref device.VolumeRef) string { return l.prefix + ref + "/" }

// checkRef checks that ref names a volume directory: one path element of
// printable characters.
func checkRef(what, ref string) error {
	switch {
	case ref == "" || ref == "." || ref == "..":
		return fmt.Errorf("s3: %s %q is not a volume name", what, ref)
	case len(ref) > 200:
		return fmt.Errorf("s3: %s %.40q... is longer than 200 bytes", what, ref)
	case strings.ContainsAny(ref, "/\\"):
		return fmt.Errorf("s3: %s %q has a slash", what, ref)
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("s3: %s %q has a control character", what, ref)
		}
	}
	return nil
}

func (l *Library) checkBlockSize(ref string, bs int, need bool) error {
	if bs < 0 || bs > MaxBlockSize || (need && bs == 0) {
		return fmt.Errorf("s3: %s: block size %d, must be 1..%d", ref, bs, MaxBlockSize)
	}
	if bs > 0 && l.o.Capacity != 0 && l.o.Capacity < (2+ReserveBlocks)*int64(bs) {
		return fmt.Errorf("s3: %s: capacity %d bytes is less than %d blocks of %d (label, one data block and the reserve of %d)", ref, l.o.Capacity, 2+ReserveBlocks, bs, ReserveBlocks)
	}
	return nil
}

// Create makes a new volume named label (its reference): an empty
// manifest, no part. A prefix that holds anything already is refused.
func (l *Library) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	if err := checkRef("label", label); err != nil {
		return nil, "", err
	}
	if err := l.checkBlockSize(label, blockSize, true); err != nil {
		return nil, "", err
	}
	keys, err := l.keys(ctx, label, 1)
	if err != nil {
		return nil, "", err
	}
	if len(keys) > 0 {
		return nil, "", fmt.Errorf("s3: create %s: the volume already exists (a new volume needs a new label): %w (%w)", l.objName(l.volKey(label)), device.ErrExists, fs.ErrExist)
	}
	man := &manifest{Format: manifestFormat, Label: label, BlockSize: blockSize, NextPart: 1}
	if err := l.putManifest(ctx, label, man); err != nil {
		return nil, "", err
	}
	return l.newMedium(label, man, false), label, nil
}

// Open mounts the volume at ref at block 0.
func (l *Library) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, blockSize int) (device.Medium, error) {
	if err := checkRef("volume", ref); err != nil {
		return nil, err
	}
	if err := l.checkBlockSize(ref, blockSize, false); err != nil {
		return nil, err
	}
	man, err := l.loadManifest(ctx, ref, blockSize)
	if err != nil {
		return nil, err
	}
	if blockSize != 0 && man.BlockSize != blockSize {
		return nil, fmt.Errorf("s3: open %s: the volume has blocks of %d bytes, the device is set to %d", l.objName(l.volKey(ref)), man.BlockSize, blockSize)
	}
	if err := l.checkBlockSize(ref, man.BlockSize, true); err != nil {
		return nil, err
	}
	return l.newMedium(ref, man, mode == device.ReadOnly), nil
}

// Erase empties the volume at ref: a manifest without parts is written
// first, then every part object is deleted. The medium is at block 0.
func (l *Library) Erase(ctx context.Context, ref device.VolumeRef, blockSize int) (device.Medium, error) {
	if err := checkRef("volume", ref); err != nil {
		return nil, err
	}
	if err := l.checkBlockSize(ref, blockSize, true); err != nil {
		return nil, err
	}
	keys, err := l.keys(ctx, ref, 0)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("s3: erase %s: %w", l.objName(l.volKey(ref)), device.ErrNoVolume)
	}
	next := int64(1)
	for _, k := range keys {
		if seq, _, ok := parsePartName(k.name); ok && seq >= next {
			next = seq + 1
		}
	}
	man := &manifest{Format: manifestFormat, Label: ref, BlockSize: blockSize, NextPart: next}
	if old, err := l.getManifest(ctx, ref); err == nil && old.NextPart > next {
		man.NextPart = old.NextPart
	}
	if err := l.putManifest(ctx, ref, man); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, _, ok := parsePartName(k.name); ok {
			if err := l.remove(ctx, l.volKey(ref)+k.name); err != nil {
				return nil, err
			}
		}
	}
	return l.newMedium(ref, man, false), nil
}

// List returns the volumes under the prefix: every directory holding a
// manifest or part objects, with its size from the manifest (-1 when the
// manifest cannot be read).
func (l *Library) List(ctx context.Context) ([]device.Found, error) {
	var dirs []string
	err := l.retry(ctx, "list "+l.objName(l.prefix), func(ctx context.Context) error {
		dirs = dirs[:0]
		for oi := range l.c.ListObjects(ctx, l.o.Bucket, minio.ListObjectsOptions{Prefix: l.prefix}) {
			if oi.Err != nil {
				return oi.Err
			}
			if d, ok := strings.CutSuffix(strings.TrimPrefix(oi.Key, l.prefix), "/"); ok && checkRef("", d) == nil {
				dirs = append(dirs, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(dirs)
	var found []device.Found
	for _, d := range dirs {
		man, err := l.getManifest(ctx, d)
		switch {
		case err == nil:
			found = append(found, device.Found{Ref: d, Size: man.Blocks * int64(man.BlockSize)})
			continue
		case !errors.Is(err, errNoManifest):
			found = append(found, device.Found{Ref: d, Size: -1})
			continue
		}
		keys, err := l.keys(ctx, d, 0)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if _, _, ok := parsePartName(k.name); ok {
				found = append(found, device.Found{Ref: d, Size: -1})
				break
			}
		}
	}
	return found, nil
}

// objName names an object (or a prefix) in messages.
func (l *Library) objName(key string) string {
	return "s3://" + l.o.Bucket + "/" + strings.TrimSuffix(key, "/")
}

// keyInfo is an object of a volume: its name below the volume's prefix and
// its size.
type keyInfo struct {
	name string
	size int64
}

// keys lists the objects of the volume at ref (at most max, 0: all).
func (l *Library) keys(ctx context.Context, ref string, max int) ([]keyInfo, error) {
	vol := l.volKey(ref)
	var out []keyInfo
	err := l.retry(ctx, "list "+l.objName(vol), func(ctx context.Context) error {
		out = out[:0]
		for oi := range l.c.ListObjects(ctx, l.o.Bucket, minio.ListObjectsOptions{Prefix: vol, Recursive: true, MaxKeys: max}) {
			if oi.Err != nil {
				return oi.Err
			}
			out = append(out, keyInfo{name: strings.TrimPrefix(oi.Key, vol), size: oi.Size})
			if max > 0 && len(out) >= max {
				break
			}
		}
		return nil
	})
	return out, err
}

func (l *Library) remove(ctx context.Context, key string) error {
	return l.retry(ctx, "delete "+l.objName(key), func(ctx context.Context) error {
		err := l.c.RemoveObject(ctx, l.o.Bucket, key, minio.RemoveObjectOptions{})
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return err
	})
}
