package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"daisy/internal/api"
	"daisy/internal/catalog"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// A server whose hosts are all its own: jobs in process (api.Local).
const localServer = `server: {host: srv, address: %[1]s, api: %[2]s}
catalog: {sqlite: %[3]s/state/catalog.db}
defaults: {buffer_size: 1MiB, block_size: 64KiB}
sources:
  - {name: S, paths: [%[3]s/data/S]}
pools:
  - {name: p, type: vtape, directory: %[3]s/state/p}
devices:
  - {name: d, type: vtape}
backup_group:
  - {name: bma, device: d, pool: p, buffers: [{name: B, source: S}]}
%[4]s`

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// runEnv is Run of a localServer configuration in a goroutine, its API
// on a port of its own.
type runEnv struct {
	t      *testing.T
	dir    string
	file   string
	addrs  []string // the server's, the API's
	logs   *syncBuf
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
}

// startRun writes daisy.yaml with schedules (YAML, or "") and the
// server's certificate, starts Run and waits until it listens.
func startRun(t *testing.T, schedules string) *runEnv {
	t.Helper()
	e := &runEnv{t: t, dir: t.TempDir(), addrs: freeAddrs(t, 2), logs: &syncBuf{}, reload: make(chan struct{}), done: make(chan error, 1)}
	if err := testtree.Make(filepath.Join(e.dir, "data", "S"), testtree.Spec{Seed: 3, SmallFiles: 10}); err != nil {
		t.Fatal(err)
	}
	e.file = filepath.Join(e.dir, "daisy.yaml")
	e.write(schedules)
	ca, err := pki.InitCA(e.pkiDir(), 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(pki.Host{Peer: pki.Peer{Role: pki.RoleServer, Name: "srv"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 2, time.Now(), false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	t.Cleanup(cancel)
	listening := make(chan string, 1)
	go func() {
		e.done <- Run(ctx, Options{ConfigPath: e.file, Logger: testLogger(e.logs), Reload: e.reload, Listening: func(r, a net.Addr) { listening <- a.String() }})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs)
		}
	})
	select {
	case a := <-listening:
		if a != e.addrs[1] {
			t.Errorf("API on %s, want %s", a, e.addrs[1])
		}
	case err := <-e.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not listen within 30s")
	}
	return e
}

func (e *runEnv) pkiDir() string { return filepath.Join(e.dir, "state", "pki") }

// write writes daisy.yaml with schedules.
func (e *runEnv) write(schedules string) {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(fmt.Sprintf(localServer, e.addrs[0], e.addrs[1], e.dir, schedules)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// backups counts the catalog's backup jobs that succeeded.
func (e *runEnv) backups() int {
	e.t.Helper()
	cat, err := catalog.Open(context.Background(), filepath.Join(e.dir, "state", "catalog.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cat.Close()
	js, err := cat.Jobs(context.Background(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, j := range js {
		if j.Kind == "backup" && j.State == catalog.JobSuccess {
			n++
		}
	}
	return n
}

func (e *runEnv) waitFor(what string, ok func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends Run's context and waits for it to return nil.
func (e *runEnv) stop() {
	e.t.Helper()
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run after its context ended: %v", err)
		}
	case <-time.After(60 * time.Second):
		e.t.Fatal("Run did not return within 60s of its context's end")
	}
}

// Run serves until its context ends; its schedules fire their jobs (a
// seconds-level cron line); a reload with a file that does not check
// keeps the configuration and schedules in force, one that checks puts
// its schedules in force (here: none, so no more jobs start); the stop
// returns nil.
func TestRunSchedulesAndReload(t *testing.T) {
	e := startRun(t, `schedules:
  - {name: often, cron: "* * * * * *", job: backup, level: full}
`)
	e.waitFor("a scheduled backup", func() bool { return e.backups() >= 1 })

	e.write("schedules: [{name: bad, cron: \"not a cron line\", job: backup}]\n")
	e.reload <- struct{}{}
	e.waitFor("the bad file's refusal logged", func() bool { return strings.Contains(e.logs.String(), "the one in force is kept") })
	n := e.backups()
	e.waitFor("another scheduled backup after the bad reload", func() bool { return e.backups() > n })

	e.write("")
	e.reload <- struct{}{}
	e.waitFor("the new file in force", func() bool { return strings.Contains(e.logs.String(), "reload: configuration in force") })
	// A run started before the reload may still end: one more at most.
	settled := e.backups()
	time.Sleep(2500 * time.Millisecond)
	if got := e.backups(); got > settled+1 {
		t.Errorf("%d backups ran after the schedule was removed", got-settled)
	}
	e.stop()
}

// The jobs of the schedules run through the API's table of jobs: GET
// /v1/jobs lists them with the name of their schedule and their catalog
// job, GET /v1/jobs/{id} shows it too, and the job metrics count them.
func TestRunScheduledJobsInTheAPI(t *testing.T) {
	e := startRun(t, `schedules:
  - {name: often, cron: "* * * * * *", job: backup, level: full}
`)
	token, _, err := (&pki.Tokens{Path: filepath.Join(e.pkiDir(), pki.TokensFile)}).Create("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := pki.LoadCredentials(e.pkiDir(), pki.Peer{Role: pki.RoleServer, Name: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: creds.CAs, MinVersion: tls.VersionTLS13}}}
	get := func(path string) []byte {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+e.addrs[1]+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, body, err)
		}
		return body
	}
	e.waitFor("a scheduled backup", func() bool { return e.backups() >= 1 })
	e.write("") // no more runs: what is listed settles
	e.reload <- struct{}{}
	e.waitFor("the new file in force", func() bool { return strings.Contains(e.logs.String(), "reload: configuration in force") })

	// The runs listed, once none runs (one that started before the
	// reload took may still end later: the counts allow for it).
	list := func() (scheduled []api.JobView, running bool) {
		var l api.JobList
		if err := json.Unmarshal(get("/v1/jobs"), &l); err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			running = running || j.State == api.StateRunning
			if j.Schedule != "" {
				scheduled = append(scheduled, j)
			}
		}
		return scheduled, running
	}
	e.waitFor("the scheduled runs listed in GET /v1/jobs, ended", func() bool {
		s, running := list()
		return len(s) > 0 && !running
	})
	counted := metric(t, string(get("/metrics")), `daisy_jobs_total{kind="backup",state="success"}`)
	scheduled, _ := list()
	success := 0
	for _, j := range scheduled {
		if j.Schedule != "often" || j.Kind != api.KindBackup || j.Request.Level != "full" || j.CatalogJob == 0 {
			t.Errorf("a scheduled job in GET /v1/jobs: %+v", j)
		}
		if j.State == catalog.JobSuccess {
			success++
		}
	}
	if cat := e.backups(); success == 0 || success < cat-1 {
		t.Errorf("GET /v1/jobs lists %d scheduled backups that succeeded, the catalog %d", success, cat)
	}
	if counted < 1 || counted > success {
		t.Errorf("daisy_jobs_total of successful backups is %d; GET /v1/jobs lists %d", counted, success)
	}
	var one api.JobView
	if err := json.Unmarshal(get(fmt.Sprintf("/v1/jobs/%d", scheduled[0].ID)), &one); err != nil {
		t.Fatal(err)
	}
	if one.Schedule != "often" || one.Result == nil {
		t.Errorf("GET /v1/jobs/%d: schedule %q, result %v", one.ID, one.Schedule, one.Result)
	}
	e.stop()
}

// metric returns the value of the sample name (with its labels) in the
// text exposition m; 0 when m has none.
func metric(t *testing.T, m, name string) int {
	t.Helper()
	for _, l := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("metric %s: %q: %v", name, v, err)
			}
			return n
		}
	}
	return 0
}
