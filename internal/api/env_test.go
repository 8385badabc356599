package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// testYAML is a one-host configuration: source S backed up by bma0 on a
// vtape device, mirrored by mma0 (two copies), plus a copy pool.
const testYAML = `catalog:
  sqlite: state/catalog.db
defaults:
  buffer_size: 4MiB
  block_size: 64KiB
sources:
  - name: S
    paths: [data/S]
pools:
  - {name: p, type: vtape, directory: state/volumes/p}
  - {name: m, type: vtape, directory: state/volumes/m}
  - {name: c, type: vtape, directory: state/volumes/c}
devices:
  - {name: tape0, type: vtape}
  - {name: tape1, type: vtape}
backup_group:
  - name: bma0
    device: tape0
    pool: p
    buffers:
      - {name: B1, source: S}
mirror_groups:
  - media_agents:
      - name: mma0
        device: tape1
        pool: m
        buffers:
          - {name: M1, follows: bma0.B1}
`

// env is an API served over TLS on 127.0.0.1 with the Local runner, a
// catalog and a vtape configuration in a temporary directory.
type env struct {
	t       *testing.T
	dir     string
	cfg     *config.Config
	cat     *jobs.Catalog
	api     *API
	addr    string // https://127.0.0.1:PORT
	pkiDir  string
	tokens  *pki.Tokens
	token   string // a valid token
	caPool  *x509.CertPool
	client  *http.Client // trusts the CA, presents no certificate
	logs    *syncBuffer  // what the API logged (JSON)
	cancel  context.CancelFunc
	served  chan error
	srcSpec testtree.Spec
}

var serverPeer = pki.Peer{Role: pki.RoleServer, Name: "backup1"}

func newEnv(t *testing.T, spec testtree.Spec) *env {
	t.Helper()
	return newEnvWith(t, testYAML, "S", spec)
}

// newEnvWith is newEnv with the configuration yaml, whose one source's
// tree, made by spec, is data/SOURCE.
func newEnvWith(t *testing.T, yaml, source string, spec testtree.Spec) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), srcSpec: spec}
	if err := os.WriteFile(filepath.Join(e.dir, "daisy.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testtree.Make(filepath.Join(e.dir, "data", source), spec); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(e.dir, "daisy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	jobs.UseConfig(cfg)
	t.Cleanup(func() { jobs.UseConfig(nil) })
	ctx := context.Background()
	e.cat, err = jobs.OpenCatalog(ctx, cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cat.Close() })

	// PKI: a CA, the server's certificate for 127.0.0.1, an admin's and a
	// client agent's; a token store with one token.
	e.pkiDir = filepath.Join(e.dir, "pki")
	now := time.Now()
	ca, err := pki.InitCA(e.pkiDir, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []pki.Host{
		{Peer: serverPeer, IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"localhost"}},
		{Peer: pki.Peer{Role: pki.RoleClient, Name: "client-a"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}},
	}
	admin, err := pki.AdminHost("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range append(hosts, admin) {
		if _, err := ca.Issue(h, 2, now, false); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := pki.LoadCredentials(e.pkiDir, serverPeer)
	if err != nil {
		t.Fatal(err)
	}
	e.caPool = creds.CAs
	e.tokens = &pki.Tokens{Path: filepath.Join(e.pkiDir, pki.TokensFile)}
	if e.token, _, err = e.tokens.Create("test", now); err != nil {
		t.Fatal(err)
	}

	jctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	static := func() *config.Config { return e.cfg }
	e.logs = &syncBuffer{}
	e.api, err = New(Options{
		Config: static, Catalog: e.cat, Tokens: e.tokens, Context: jctx,
		Logger:      slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Runner:      &Local{Config: static, Catalog: e.cat},
		FollowEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = "https://" + l.Addr().String()
	e.served = make(chan error, 1)
	sctx, stop := context.WithCancel(context.Background())
	go func() { e.served <- Serve(sctx, l, e.api, TLSConfig(creds)) }()
	t.Cleanup(func() {
		stop()
		if err := <-e.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		cancel()
		sd, c := context.WithTimeout(context.Background(), time.Minute)
		defer c()
		if err := e.api.Shutdown(sd); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	e.client = e.httpClient(nil)
	return e
}

// syncBuffer is a bytes.Buffer for a logger of several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpClient trusts the CA and presents cert (none when nil).
func (e *env) httpClient(cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: e.caPool, MinVersion: tls.VersionTLS13}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}, Timeout: 5 * time.Minute}
}

// certOf loads the certificate and key of peer from the pki directory.
func (e *env) certOf(p pki.Peer) *tls.Certificate {
	e.t.Helper()
	base := filepath.Join(e.pkiDir, string(p.Role)+"."+p.Name)
	c, err := tls.LoadX509KeyPair(base+".crt", base+".key")
	if err != nil {
		e.t.Fatal(err)
	}
	return &c
}

// do sends a request with the env's token (token "" sends none) and
// returns the status and body.
func (e *env) do(c *http.Client, method, path, token string, body any) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.addr+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c == nil {
		c = e.client
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, data, resp.Header
}

// get is do of GET with the token, expecting status want; it decodes the
// body into v (if not nil).
func (e *env) get(path string, want int, v any) []byte {
	e.t.Helper()
	code, body, _ := e.do(nil, http.MethodGet, path, e.token, nil)
	if code != want {
		e.t.Fatalf("GET %s: %d, want %d: %s", path, code, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			e.t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return body
}

// startJob posts req and returns the job's ID (202 expected).
func (e *env) startJob(req JobRequest) int64 {
	e.t.Helper()
	code, body, _ := e.do(nil, http.MethodPost, "/v1/jobs", e.token, req)
	if code != http.StatusAccepted {
		e.t.Fatalf("POST /v1/jobs %+v: %d: %s", req, code, body)
	}
	var s StartedJob
	if err := json.Unmarshal(body, &s); err != nil || s.Job == 0 || s.URL != jobURL(s.Job) {
		e.t.Fatalf("POST /v1/jobs: %v: %s", err, body)
	}
	return s.Job
}

// wait polls the job until it ended and returns its view.
func (e *env) wait(id int64) JobView {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var v JobView
		e.get(jobURL(id), http.StatusOK, &v)
		if v.State != StateRunning {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("job %d still running after 5 minutes", id)
	return JobView{}
}
