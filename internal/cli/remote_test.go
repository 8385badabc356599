package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"daisy/internal/api"
	"daisy/internal/config"
	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// remoteYAML is a one-host configuration: source S backed up by bma0 on
// a vtape device and mirrored by mma0 (two copies), plus a copy pool c.
const remoteYAML = `catalog:
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

// remoteEnv is internal/api served in process over TLS on 127.0.0.1 with
// its Local runner, a catalog and a vtape configuration in a temporary
// directory, and a token; the CLI's commands go to it with --server.
type remoteEnv struct {
	dir, cfg string // the directory and its daisy.yaml
	src      string // the source's tree
	url      string // https://127.0.0.1:PORT
	token    string
	pkiDir   string
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	t.Helper()
	e := &remoteEnv{dir: t.TempDir()}
	e.cfg = filepath.Join(e.dir, "daisy.yaml")
	e.src = filepath.Join(e.dir, "data", "S")
	if err := os.WriteFile(e.cfg, []byte(remoteYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testtree.Make(e.src, testtree.Spec{SmallFiles: 30, LargeFiles: 1, LargeSize: 1 << 20, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	jobs.UseConfig(cfg)
	t.Cleanup(func() { jobs.UseConfig(nil) })
	cat, err := jobs.OpenCatalog(context.Background(), cfg.Catalog.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })

	// PKI beside the catalog, where the CLI looks for ca.crt: a CA, the
	// server's certificate for 127.0.0.1, an admin's; a token.
	e.pkiDir = pki.DefaultDir(cfg)
	now := time.Now()
	ca, err := pki.InitCA(e.pkiDir, 30, now)
	if err != nil {
		t.Fatal(err)
	}
	server := pki.Peer{Role: pki.RoleServer, Name: "backup1"}
	admin, err := pki.AdminHost("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []pki.Host{{Peer: server, IPs: []net.IP{net.ParseIP("127.0.0.1")}}, admin} {
		if _, err := ca.Issue(h, 2, now, false); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := pki.LoadCredentials(e.pkiDir, server)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &pki.Tokens{Path: filepath.Join(e.pkiDir, pki.TokensFile)}
	if e.token, _, err = tokens.Create("test", now); err != nil {
		t.Fatal(err)
	}

	jctx, cancelJobs := context.WithCancel(context.Background())
	static := func() *config.Config { return cfg }
	a, err := api.New(api.Options{
		Config: static, Catalog: cat, Tokens: tokens, Context: jctx,
		Runner:      &api.Local{Config: static, Catalog: cat},
		FollowEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "https://" + l.Addr().String()
	served := make(chan error, 1)
	sctx, stop := context.WithCancel(context.Background())
	go func() { served <- api.Serve(sctx, l, a, api.TLSConfig(creds)) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		cancelJobs()
		sd, c := context.WithTimeout(context.Background(), time.Minute)
		defer c()
		if err := a.Shutdown(sd); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// run runs daisy with -c, --server and the token before args.
func (e *remoteEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, append([]string{"-c", e.cfg, "--server", e.url, "--token", e.token, "--no-progress"}, args...)...)
}

// A backup through the server, then a restore through it, identical to
// the source; ls objects, jobs, volumes and pools read the server's
// catalog; --json prints the results the local commands print.
func TestRemoteBackupRestore(t *testing.T) {
	e := newRemoteEnv(t)
	code, out, errs := e.run(t, "backup")
	if code != 0 || !strings.Contains(out, "backup job 1: success, 1 object(s)") || !strings.Contains(out, "copy 2  good") {
		t.Fatalf("backup --server: %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = e.run(t, "--json", "ls", "objects")
	var objs []jobs.Object
	if code != 0 || json.Unmarshal([]byte(out), &objs) != nil || len(objs) != 1 || objs[0].Source != "S" || objs[0].State != "complete" {
		t.Fatalf("ls objects --json --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "ls", "objects")
	if code != 0 || !strings.Contains(out, objs[0].ID) || !strings.Contains(out, "1:good 2:good") {
		t.Fatalf("ls objects --server: %d %q %q", code, out, errs)
	}
	// ls copies through the server prints what it prints here.
	for _, args := range [][]string{{"ls", "copies"}, {"ls", "copies", objs[0].ID[:13]}, {"--json", "ls", "copies"}} {
		code, out, errs = e.run(t, args...)
		lcode, lout, lerrs := run(t, append([]string{"-c", e.cfg, "--server", "local"}, args...)...)
		if code != 0 || lcode != 0 || out != lout || !strings.Contains(out, objs[0].ID) {
			t.Fatalf("%v --server: %d %q %q; here: %d %q %q", args, code, out, errs, lcode, lout, lerrs)
		}
	}
	code, out, errs = e.run(t, "ls", "jobs")
	if code != 0 || !strings.Contains(out, "backup") || !strings.Contains(out, "success") {
		t.Fatalf("ls jobs --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "ls", "volumes", "--pool", "p")
	if code != 0 || !strings.Contains(out, "p-0001") || !strings.Contains(out, "total p: 1 volume(s)") || strings.Contains(out, "m-0001") || strings.Contains(out, "total m") {
		t.Fatalf("ls volumes --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "--json", "ls", "pools")
	var rows []poolRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[0].Pool != "p" || rows[0].Volumes != 1 || rows[2].Volumes != 0 {
		t.Fatalf("ls pools --json --server: %d %q %q", code, out, errs)
	}

	target := filepath.Join(t.TempDir(), "restored")
	code, out, errs = e.run(t, "restore", "--source", "S", "--copy", "2", "--to", target)
	if code != 0 || !strings.Contains(out, "restored "+objs[0].ID) || !strings.Contains(out, "from copy 2") {
		t.Fatalf("restore --server: %d\n%s\n%s", code, out, errs)
	}
	diffs, err := testtree.Compare(e.src, filepath.Join(target, e.src))
	if err != nil || len(diffs) > 0 {
		t.Fatalf("restored tree differs (%v):\n%s", err, strings.Join(diffs, "\n"))
	}

	// Again into the same target: every file exists and is kept, exit 1
	// as locally, with the result as JSON.
	code, out, errs = e.run(t, "--json", "restore", "--source", "S", "--to", target)
	var res jobs.RestoreResult
	if code != ExitFailure || json.Unmarshal([]byte(out), &res) != nil || res.Kept == 0 || res.Entries != 0 || !strings.Contains(errs, "nothing restored") {
		t.Fatalf("restore into an existing tree --server: %d %q %q", code, out, errs)
	}

	// An incremental with nothing changed, as JSON; a verify of every
	// copy; a copy into pool c; the plan of a prune.
	code, out, errs = e.run(t, "--json", "backup", "--level", "incremental")
	var br jobs.BackupResult
	if code != 0 || json.Unmarshal([]byte(out), &br) != nil || br.State != jobs.JobSuccess || len(br.Objects) != 1 || br.Objects[0].Level != "incremental" {
		t.Fatalf("backup --level incremental --json --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "verify")
	if code != 0 || !strings.Contains(out, "4 copies read, 4 ok, 0 damaged") {
		t.Fatalf("verify --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "copy", "--to-pool", "c", "--object", objs[0].ID)
	if code != 0 || !strings.Contains(out, "success, 1 object(s)") {
		t.Fatalf("copy --server: %d %q %q", code, out, errs)
	}
	code, out, errs = e.run(t, "prune", "--dry-run")
	if code != 0 || !strings.Contains(out, "prune") {
		t.Fatalf("prune --server: %d %q %q", code, out, errs)
	}
}

// The server's refusals become messages naming it, with the exit codes
// of the table: a wrong token 1 (401), none a usage error saying how to
// give one, an unknown source or object 2 (400, as locally); a command the API cannot do is
// refused (2), never run locally.
func TestRemoteServerRefusals(t *testing.T) {
	e := newRemoteEnv(t)
	base := []string{"-c", e.cfg, "--server", e.url}

	code, _, errs := run(t, append(base, "--token", "daisy_000000000000_wrong", "backup")...)
	if code != ExitFailure || !strings.Contains(errs, "server "+e.url) || !strings.Contains(errs, "401") || !strings.Contains(errs, "invalid or revoked token") || !strings.Contains(errs, "--token") {
		t.Errorf("wrong token: %d %q", code, errs)
	}
	t.Setenv(envToken, "")
	code, _, errs = run(t, append(base, "ls", "objects")...)
	if code != ExitUsage || !strings.Contains(errs, "needs credentials") || !strings.Contains(errs, "--token") || !strings.Contains(errs, "daisy token create") {
		t.Errorf("no token: %d %q", code, errs)
	}
	// The token from the environment, the server too.
	t.Setenv(envToken, e.token)
	t.Setenv(envServer, e.url)
	code, out, errs := run(t, "-c", e.cfg, "ls", "objects")
	if code != 0 || !strings.HasPrefix(out, "OBJECT") {
		t.Errorf("ls objects with %s and %s: %d %q %q", envServer, envToken, code, out, errs)
	}

	code, _, errs = e.run(t, "backup", "--source", "nope")
	if code != ExitUsage || !strings.Contains(errs, "server "+e.url) || !strings.Contains(errs, `field sources: no source "nope"`) {
		t.Errorf("unknown source: %d %q", code, errs)
	}
	code, _, errs = e.run(t, "restore", "--source", "S", "--to", "rel/dir")
	if code != ExitUsage || !strings.Contains(errs, "absolute path") {
		t.Errorf("relative target: %d %q", code, errs)
	}
	code, _, errs = e.run(t, "restore", "--object", "0123456789", "--to", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "server "+e.url) || !strings.Contains(errs, `no object "0123456789"`) {
		t.Errorf("unknown object: %d %q", code, errs)
	}
	for _, args := range [][]string{{"cat", "0123"}, {"find", "x"}, {"ls", "files", "--source", "S"}, {"migrate", "--to-pool", "c", "--all"}, {"catalog", "check"}} {
		code, out, errs := e.run(t, args...)
		if code != ExitUsage || !strings.Contains(errs, "cannot run through a server") || out != "" {
			t.Errorf("%v --server: %d %q %q", args, code, out, errs)
		}
	}
	code, _, errs = e.run(t, "copy", "--to-pool", "c", "--since", "1d")
	if code != ExitUsage || !strings.Contains(errs, "--since cannot go through a server") {
		t.Errorf("copy --since --server: %d %q", code, errs)
	}
	// --server local runs here, whatever DAISY_SERVER says.
	code, out, errs = run(t, "-c", e.cfg, "--server", "local", "ls", "objects")
	if code != 0 || !strings.HasPrefix(out, "OBJECT") {
		t.Errorf("--server local: %d %q %q", code, out, errs)
	}
	code, _, errs = run(t, "-c", e.cfg, "--server", "http://"+strings.TrimPrefix(e.url, "https://"), "ls", "objects")
	if code != ExitUsage || !strings.Contains(errs, "HTTPS only") {
		t.Errorf("http:// server: %d %q", code, errs)
	}
}

// An admin certificate instead of a token; a CA that did not sign the
// server's certificate is refused with a hint at --ca.
func TestRemoteServerCertificate(t *testing.T) {
	e := newRemoteEnv(t)
	t.Setenv(envToken, "")
	crt := filepath.Join(e.pkiDir, "admin.alice.crt")
	code, out, errs := run(t, "-c", e.cfg, "--server", e.url, "--cert", crt, "ls", "pools")
	if code != 0 || !strings.Contains(out, "POOL") {
		t.Fatalf("ls pools with --cert: %d %q %q", code, out, errs)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := pki.InitCA(other, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run(t, "-c", e.cfg, "--server", e.url, "--token", e.token, "--ca", filepath.Join(other, pki.CACertFile), "ls", "pools")
	if code != ExitFailure || !strings.Contains(errs, "not signed by the CA of --ca") {
		t.Errorf("another CA: %d %q", code, errs)
	}
}

// The configuration's server: api: is the default server.
func TestRemoteServerFromConfig(t *testing.T) {
	e := newRemoteEnv(t)
	text, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(e.url, "https://")
	fleet := filepath.Join(e.dir, "fleet.yaml")
	if err := os.WriteFile(fleet, append([]byte("server: {host: backup1, address: 127.0.0.1:1, api: "+addr+"}\n"), text...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envServer, "")
	t.Setenv(envToken, "")
	code, _, errs := run(t, "-c", fleet, "ls", "jobs")
	if code != ExitUsage || !strings.Contains(errs, "server "+e.url+" needs credentials") {
		t.Errorf("ls jobs with server: in the configuration, no token: %d %q", code, errs)
	}
	code, out, errs := run(t, "-c", fleet, "--token", e.token, "ls", "jobs")
	if code != 0 || !strings.HasPrefix(out, "JOB") {
		t.Errorf("ls jobs with server: in the configuration: %d %q %q", code, out, errs)
	}
}

// snapshotLines follow the latest snapshot of a remote backup.
func TestRemoteProgressLines(t *testing.T) {
	first := api.Snapshot{Sources: []api.SourceProgress{{Source: "S", Bytes: 1}}, Devices: []api.DeviceProgress{{MediaAgent: "bma0", Device: "tape0", Copy: 1, Bytes: 2}}}
	latest := first
	lines := snapshotLines(func() api.Snapshot { return latest }, first)
	latest = api.Snapshot{Sources: []api.SourceProgress{{Source: "S", Bytes: 100, Files: 7, Done: true}}, Devices: []api.DeviceProgress{{MediaAgent: "bma0", Device: "tape0", Copy: 1, Bytes: 90}}}
	if len(lines) != 2 || lines[0].label != "read  S" || lines[0].bytes() != 100 || lines[0].files() != 7 || !lines[0].done() ||
		lines[1].label != "write bma0→tape0" || lines[1].bytes() != 90 || lines[1].done() || lines[1].files != nil {
		t.Errorf("lines: %+v", lines)
	}
}

// follow takes the job from the stream's last line, with the progress of
// the lines before; a stream cut before its end is made good by asking
// for the job, and a job still running then is an error saying it runs
// on.
func TestRemoteFollow(t *testing.T) {
	var gets, cut atomic.Int32
	var state atomic.Value
	state.Store("success")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/jobs/7/follow":
			fmt.Fprintln(w, `{"job":7,"state":"running","time":"2026-12-02T07:41:25Z","progress":{"done_bytes":10,"total_bytes":100}}`)
			fmt.Fprintln(w, `{"job":7,"state":"running","time":"2026-12-02T07:41:26Z","progress":{"done_bytes":60,"total_bytes":100}}`)
			if cut.Load() == 0 {
				fmt.Fprintln(w, `{"id":7,"kind":"verify","state":"success","result":{"job":3}}`)
			}
		case "/v1/jobs/7":
			gets.Add(1)
			fmt.Fprintf(w, `{"id":7,"kind":"verify","state":%q,"result":{"job":4}}`, state.Load())
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &remoteClient{g: &globals{}, base: base, http: srv.Client()}
	var seen []int64
	v, err := c.follow(context.Background(), 7, func(s *api.Snapshot) { seen = append(seen, s.Done) })
	if err != nil || v.ID != 7 || v.State != "success" || string(v.Result) != `{"job":3}` || gets.Load() != 0 || fmt.Sprint(seen) != "[10 60]" {
		t.Fatalf("follow: %+v %v, %d GETs, progress %v", v, err, gets.Load(), seen)
	}
	cut.Store(1)
	v, err = c.follow(context.Background(), 7, func(*api.Snapshot) {})
	if err != nil || string(v.Result) != `{"job":4}` || gets.Load() != 1 {
		t.Fatalf("follow of a cut stream: %+v %v, %d GETs", v, err, gets.Load())
	}
	state.Store("running")
	if _, err = c.follow(context.Background(), 7, func(*api.Snapshot) {}); err == nil || !strings.Contains(err.Error(), "runs on") {
		t.Fatalf("follow of a cut stream of a running job: %v", err)
	}
}
