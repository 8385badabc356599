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
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("s3test: %v", last)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "daisytest" + randHex(4),
		SecretKey: randHex(16),
		Bucket:    "daisy-test",
		Dir:       t.TempDir(),
		logs:      &syncBuffer{},
	}
	s.cmd = exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet", "posix", s.Dir)
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
	hc := &http.Client{Timeout: time.Second}
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
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1",
	})
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
