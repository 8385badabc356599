package cli

// The remote mode of the command line: with a server (--server URL,
// DAISY_SERVER, or the api: address of the server: section of the
// configuration) backup, restore, verify, prune and copy start their job
// on daisy server through its HTTP API (internal/api, docs/API.md),
// follow it and print its result as the local commands do; ls jobs,
// objects, copies, volumes and pools read the API. A command the API cannot do is
// refused (exit 2) when a server was given, never run locally.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"daisy/internal/api"
	"daisy/internal/config"
	"daisy/internal/pki"
)

// Environment variables of the remote mode (the flags win).
const (
	envServer = "DAISY_SERVER"
	envToken  = "DAISY_TOKEN"
	envCA     = "DAISY_CA"
	envCert   = "DAISY_CERT"
	envKey    = "DAISY_KEY"
)

// serverLocal is the --server value that runs the command in this
// process even when DAISY_SERVER or the configuration names a server.
const serverLocal = "local"

// remoteFlags are the global flags of the remote mode.
type remoteFlags struct {
	server, token, cert, key, ca string

	// The client remote() made (or nil for the local mode), once.
	resolved bool
	client   *remoteClient
	err      error
}

func (r *remoteFlags) add(f *pflag.FlagSet) {
	f.StringVar(&r.server, "server", "", "run jobs on daisy server through its HTTP API at this URL (https://HOST:PORT; env "+envServer+`; default: the api: of the configuration's server:, if any; "local" runs them here)`)
	f.StringVar(&r.token, "token", "", "bearer token for --server (env "+envToken+"; made by daisy token create NAME)")
	f.StringVar(&r.cert, "cert", "", "admin certificate for --server instead of a token (env "+envCert+"; daisy cert issue --admin NAME)")
	f.StringVar(&r.key, "key", "", "key of --cert (env "+envKey+"; default: --cert with .key for .crt)")
	f.StringVar(&r.ca, "ca", "", "the fleet's CA certificate for --server (env "+envCA+"; default: ca.crt of the pki directory beside the configuration's catalog)")
}

// explicitServer is the server the flag or the environment names ("" for
// none, or for "local").
func (r *remoteFlags) explicitServer() string {
	s := r.server
	if s == "" {
		s = os.Getenv(envServer)
	}
	if s == serverLocal {
		return ""
	}
	return s
}

// remoteOnlyLocal are the commands that read the catalog or the volumes
// of this host, which the API does not offer: with a server given they
// are refused rather than run here.
var remoteOnlyLocal = []string{
	"daisy cat", "daisy find", "daisy scan", "daisy catalog", "daisy ls files",
	"daisy migrate", "daisy compact", "daisy refresh", "daisy demux", "daisy consolidate",
}

// refuseRemote refuses cmd when a server was given (--server,
// DAISY_SERVER) and cmd cannot go through it.
func (g *globals) refuseRemote(cmd *cobra.Command) error {
	srv := g.srv.explicitServer()
	if srv == "" {
		return nil
	}
	path := cmd.CommandPath()
	for _, p := range remoteOnlyLocal {
		if path == p || strings.HasPrefix(path, p+" ") {
			return usageError("%s cannot run through a server (--server %s): the server's API has no such operation; run it on the server's host without --server (or with --server local)", path, srv)
		}
	}
	return nil
}

// remoteClient talks to one server's API.
type remoteClient struct {
	g     *globals
	base  *url.URL // https://HOST:PORT
	token string
	http  *http.Client
}

// remote returns the client of the server the command goes through, or
// nil for the local mode: --server, else DAISY_SERVER, else the api: of
// the configuration's server: section ("local" for either of the first
// two: the local mode).
func (g *globals) remote() (*remoteClient, error) {
	r := &g.srv
	if !r.resolved {
		r.resolved = true
		r.client, r.err = g.newRemote()
	}
	return r.client, r.err
}

func (g *globals) newRemote() (*remoteClient, error) {
	r := &g.srv
	srv := r.server
	if srv == "" {
		srv = os.Getenv(envServer)
	}
	if srv == serverLocal {
		return nil, nil
	}
	// The configuration, if there is one: its server's API address when
	// none was given, its pki directory for the CA.
	var cfg *config.Config
	if _, err := os.Stat(g.configPath); err == nil {
		c, err := config.Load(g.configPath)
		switch {
		case err != nil && srv == "":
			return nil, nil // the local mode says what is wrong with it
		case err != nil && r.ca == "" && os.Getenv(envCA) == "":
			return nil, fmt.Errorf("the configuration %s, read for the CA of --server %s, is not valid (give --ca FILE to go without it): %w", g.configPath, srv, err)
		case err == nil:
			cfg = c
		}
	}
	if srv == "" {
		if cfg == nil || cfg.Server == nil || cfg.Server.API == "" {
			return nil, nil
		}
		srv = "https://" + cfg.Server.API
	}
	base, err := parseServerURL(srv)
	if err != nil {
		return nil, err
	}
	c := &remoteClient{g: g, base: base}

	caFile := firstSet(r.ca, os.Getenv(envCA))
	if caFile == "" {
		if cfg == nil {
			return nil, usageError("--server %s: give the fleet's CA certificate with --ca FILE (or %s): ca.crt of the server's pki directory (no configuration at %s to find it beside the catalog)", c.base, envCA, g.configPath)
		}
		caFile = filepath.Join(pki.DefaultDir(cfg), pki.CACertFile)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, usageError("--server %s: the CA certificate: %v (give the fleet's ca.crt with --ca FILE or %s)", c.base, err, envCA)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, usageError("--server %s: %s holds no PEM certificate (give the fleet's ca.crt with --ca FILE)", c.base, caFile)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}

	c.token = strings.TrimSpace(firstSet(r.token, os.Getenv(envToken)))
	certFile, keyFile := firstSet(r.cert, os.Getenv(envCert)), firstSet(r.key, os.Getenv(envKey))
	switch {
	case certFile != "":
		if keyFile == "" {
			keyFile = strings.TrimSuffix(certFile, ".crt") + ".key"
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, usageError("--cert %s --key %s: %v (daisy cert issue --admin NAME makes admin.NAME.crt and .key)", certFile, keyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case keyFile != "":
		return nil, usageError("--key %s without --cert: give the admin certificate too", keyFile)
	case c.token == "":
		return nil, usageError("server %s needs credentials: give --token TOKEN (or %s; `daisy token create NAME` where the server runs makes one), or an admin certificate with --cert FILE --key FILE (`daisy cert issue --admin NAME`)", c.base, envToken)
	}
	c.http = &http.Client{Transport: &http.Transport{
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       time.Minute,
	}}
	return c, nil
}

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseServerURL reads a server's URL: https://HOST:PORT, or HOST:PORT.
func parseServerURL(s string) (*url.URL, error) {
	raw := s
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, usageError("--server %q: %v; give https://HOST:PORT, the api: address of the server", raw, err)
	case u.Scheme != "https":
		return nil, usageError("--server %q: the API is served over HTTPS only; give https://HOST:PORT", raw)
	case u.Host == "" || u.Port() == "":
		return nil, usageError("--server %q: give https://HOST:PORT, the api: address of the server (e.g. https://127.0.0.1:7451)", raw)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "":
		return nil, usageError("--server %q: give only https://HOST:PORT, no path", raw)
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

// request sends a request to the server; body, if not nil, is sent as
// JSON. A status other than 2xx becomes an error that names the server,
// with an exit code: 2 for 400, 1 otherwise.
func (c *remoteClient) request(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	u := *c.base
	u.Path = path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("server %s: %s %s: %w", c.base, method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("server %s: %s %s: %w", c.base, method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.connError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.statusError(method, path, resp)
	}
	return resp, nil
}

// connError explains why the server could not be reached.
func (c *remoteClient) connError(ctx context.Context, err error) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("server %s: %w", c.base, ctx.Err())
	case errors.As(err, &ua):
		return fmt.Errorf("server %s: its certificate is not signed by the CA of --ca (give the fleet's ca.crt): %w", c.base, err)
	case errors.As(err, &hn):
		return fmt.Errorf("server %s: its certificate is not for this address (use the address of the api: of the configuration): %w", c.base, err)
	case errors.As(err, &ci):
		return fmt.Errorf("server %s: its certificate is not valid: %w", c.base, err)
	}
	return fmt.Errorf("server %s cannot be reached: %w", c.base, err)
}

// statusError is the error of an answer that is not 2xx.
func (c *remoteClient) statusError(method, path string, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e := fmt.Errorf("server %s: %s %s: %d %s: %s", c.base, method, path, resp.StatusCode, http.StatusText(resp.StatusCode), msg)
	code := ExitFailure
	switch resp.StatusCode {
	case http.StatusBadRequest:
		code = ExitUsage
	case http.StatusUnauthorized:
		e = fmt.Errorf("%w (give a valid token with --token or %s: `daisy token create NAME` where the server runs makes one; or an admin certificate with --cert/--key)", e, envToken)
	case http.StatusForbidden:
		e = fmt.Errorf("%w (the API takes a token, or a certificate of `daisy cert issue --admin NAME`)", e)
	case http.StatusConflict:
		e = fmt.Errorf("%w; nothing was done (give --wait 10m to wait for it)", e)
	}
	return &exitError{code, e}
}

// getJSON decodes the answer of GET path into v.
func (c *remoteClient) getJSON(ctx context.Context, path string, query url.Values, v any) error {
	resp, err := c.request(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("server %s: GET %s: the answer is not what the API sends: %w", c.base, path, err)
	}
	return nil
}

// waitSeconds is --wait as the API's wait_seconds (rounded up).
func waitSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// remoteView is a job of the API as GET /v1/jobs/{id} and the last line
// of its follow show it, with its result kept as JSON.
type remoteView struct {
	ID         int64           `json:"id"`
	Kind       string          `json:"kind"`
	State      string          `json:"state"`
	CatalogJob int64           `json:"catalog_job"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	Error      string          `json:"error"`
	Result     json.RawMessage `json:"result"`
}

// run starts req on the server, follows it to its end (showing its
// progress under label) and returns its last view.
func (c *remoteClient) run(ctx context.Context, req api.JobRequest, label string) (*remoteView, error) {
	resp, err := c.request(ctx, http.MethodPost, "/v1/jobs", nil, req)
	if err != nil {
		return nil, err
	}
	var started api.StartedJob
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if err != nil || started.Job == 0 {
		return nil, fmt.Errorf("server %s: POST /v1/jobs: the answer names no job (%v)", c.base, err)
	}
	p := newRemoteProgress(c.g, label, req.Kind == api.KindBackup)
	if c.g.interactive() {
		fmt.Fprintf(c.g.stderr, "daisy: %s job %d started on server %s\n", req.Kind, started.Job, c.base)
	}
	v, err := c.follow(ctx, started.Job, p.update)
	p.stop()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// follow reads GET /v1/jobs/{id}/follow, calling onProgress with each
// line's progress, and returns the job's view from its last line. When the
// stream ends before (the connection was cut), it asks for the job once.
func (c *remoteClient) follow(ctx context.Context, id int64, onProgress func(*api.Snapshot)) (*remoteView, error) {
	path := "/v1/jobs/" + strconv.FormatInt(id, 10)
	resp, err := c.request(ctx, http.MethodGet, path+"/follow", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var streamErr error
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if !errors.Is(err, io.EOF) {
				streamErr = err
			}
			break
		}
		var head struct {
			ID       int64         `json:"id"`
			Progress *api.Snapshot `json:"progress"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("server %s: GET %s/follow: a line is not what the API sends: %w", c.base, path, err)
		}
		if head.Progress != nil {
			onProgress(head.Progress)
		}
		if head.ID != 0 {
			var v remoteView
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("server %s: GET %s/follow: the last line is not a job: %w", c.base, path, err)
			}
			return &v, nil
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("stopped following job %d; it runs on in server %s (daisy --server %s ls jobs): %w", id, c.base, c.base, ctx.Err())
	}
	var v remoteView
	if err := c.getJSON(ctx, path, nil, &v); err != nil {
		return nil, fmt.Errorf("lost the progress of job %d (%v) and cannot ask for it: %w", id, streamErr, err)
	}
	if v.State == api.StateRunning {
		return nil, fmt.Errorf("server %s: the progress of job %d was cut (%v); the job runs on there (daisy --server %s ls jobs)", c.base, id, streamErr, c.base)
	}
	return &v, nil
}

// result decodes the job's result into res, and returns the job's error
// as an error naming the server (nil when it has none). ok is false when
// the job has no result: the returned error says why.
func (c *remoteClient) result(v *remoteView, res any) (bool, error) {
	var jobErr error
	if v.Error != "" {
		jobErr = fmt.Errorf("server %s: %s job %d: %s", c.base, v.Kind, v.ID, v.Error)
	}
	if len(v.Result) == 0 || string(v.Result) == "null" {
		switch {
		case v.State == api.StateRefused && jobErr != nil:
			return false, fmt.Errorf("server %s: %s job %d was refused: %s", c.base, v.Kind, v.ID, v.Error)
		case jobErr != nil:
			return false, jobErr
		}
		return false, fmt.Errorf("server %s: %s job %d ended %s without a result", c.base, v.Kind, v.ID, v.State)
	}
	if err := json.Unmarshal(v.Result, res); err != nil {
		return false, fmt.Errorf("server %s: the result of %s job %d is not what daisy %s prints: %w", c.base, v.Kind, v.ID, v.Kind, err)
	}
	return true, jobErr
}

// duration is how long the job ran.
func (v *remoteView) duration() time.Duration {
	if v.Finished.IsZero() || v.Started.IsZero() {
		return 0
	}
	return v.Finished.Sub(v.Started)
}
