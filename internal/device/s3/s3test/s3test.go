// Package s3test starts a real S3 server for tests: versitygw
// (Apache-licensed, written in Go) with its posix backend in a temporary
// directory, listening on a free port of 127.0.0.1. The binary is found in
// PATH or in $(go env GOPATH)/bin (`.ci/run` installs it with `go
// install`). Without it a test is skipped, unless CI=true, where it fails:
// the device conformance suite must run against a real server in CI.
package s3test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Binary is the name of the server's executable.
const Binary = "versitygw"

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's address with its scheme,
	// "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root account's credentials.
	AccessKey, SecretKey string
	// Bucket is a bucket made for the test.
	Bucket string
	// Dir is the posix backend's directory: Dir/BUCKET/KEY is the object.
	Dir string
	// CAFile is, for a server started by StartTLS, the PEM file of the
	// self-signed certificate it presents (for 127.0.0.1).
	CAFile string

	cmd  *exec.Cmd
	logs *syncBuffer
}

// Find returns the path of the versitygw binary, or "" when there is none.
func Find() string {
	if p, err := exec.LookPath(Binary); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", Binary)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Start starts a server for the test and makes a bucket on it; the server
// is killed (by its PID) when the test ends. Without the binary the test
// is skipped, or fails when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, false)
}

// StartTLS is Start with TLS: the server presents a self-signed
// certificate for 127.0.0.1, whose PEM file is CAFile, and Endpoint is
// "https://127.0.0.1:PORT".
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return startServer(t, true)
}

func startServer(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := Find()
	if bin == "" {
		msg := Binary + " not found in PATH or $(go env GOPATH)/bin; install it with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var last error
	for try := 0; try < 3; try++ {
		s, err := start(t, bin, useTLS)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("s3test: %v", last)
	return nil
}

func start(t testing.TB, bin string, useTLS bool) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	s := &Server{
		Endpoint:  fmt.Sprintf("%s://127.0.0.1:%d", scheme, port),
		AccessKey: "daisytest" + randHex(4),
		SecretKey: randHex(16),
		Bucket:    "daisy-test",
		Dir:       t.TempDir(),
		logs:      &syncBuffer{},
	}
	args := []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet"}
	if useTLS {
		cert, key, err := selfSigned(t.TempDir())
		if err != nil {
			return nil, err
		}
		s.CAFile = cert
		args = append(args, "--cert", cert, "--key", key)
	}
	s.cmd = exec.Command(bin, append(args, "posix", s.Dir)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	stop := func() {
		s.cmd.Process.Kill()
		<-done
	}
	if err := s.waitReady(done); err != nil {
		stop()
		return nil, err
	}
	t.Cleanup(stop)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{}); err != nil {
		return nil, fmt.Errorf("make bucket %s: %w (server output: %s)", s.Bucket, err, s.logs.String())
	}
	return s, nil
}

// waitReady polls the server until it answers HTTP (any status), for up
// to 30 seconds, or until the process has ended.
func (s *Server) waitReady(done <-chan struct{}) error {
	// Any answer will do: the certificate is not checked here.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%s exited before answering: %s", Binary, s.logs.String())
		default:
		}
		resp, err := hc.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within 30s: %s", Binary, s.Endpoint, s.logs.String())
}

// Client returns a client of the server with the root credentials.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	host, secure := strings.CutPrefix(s.Endpoint, "https://")
	host = strings.TrimPrefix(host, "http://")
	o := &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1", Secure: secure}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		o.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c, err := minio.New(host, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SetEnv sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the server's
// credentials for the rest of the test (t.Setenv).
func (s *Server) SetEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
}

// Env returns the credentials as environment entries for a child process.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}

// Objects returns the keys of the objects in the bucket under prefix.
func (s *Server) Objects(t testing.TB, prefix string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for oi := range s.Client(t).ListObjects(context.Background(), s.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("list %s: %v", prefix, oi.Err)
		}
		out[oi.Key] = true
	}
	return out
}

// Logs returns what the server printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, as PEM files.
func selfSigned(dir string) (cert, key string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "daisy s3test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects a process's output for messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
