package main

// Acceptance 1 of issue 11: the real daisy binary, built here, runs as
// daisy server, three daisy agents and two daisy media-agents, each a
// process of its own on a port of 127.0.0.1, with certificates made by
// daisy cert init and daisy cert issue. Figure 2 (examples/figure2.yaml)
// runs with the backup group's media agents on media host m1 and both
// mirror levels' on m2, so that every chain of more than one copy
// crosses hosts; the backup is started through the server's HTTP API
// (POST /v1/jobs with a token of daisy token create), and every source is
// restored from every copy back onto its own client and compared with
// its tree. go test -short skips it (it builds the binary).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"daisy/internal/testtree"
)

const fleetFigure2 = `# figure 2 on a fleet: the backup group on m1, the mirror levels on m2
server: {host: srv, address: %[1]s, api: %[2]s}
clients:
  - {name: c1, address: %[3]s}
  - {name: c2, address: %[4]s}
  - {name: c3, address: %[5]s}
media_hosts:
  - {name: m1, address: %[6]s}
  - {name: m2, address: %[7]s}
catalog: {sqlite: %[8]s/state/catalog.db}
defaults: {buffer_size: 2MiB, block_size: 64KiB, pool: copy1}
sources:
  - {name: D1, client: c1, paths: [%[8]s/data/D1]}
  - {name: D2, client: c1, paths: [%[8]s/data/D2]}
  - {name: D3, client: c2, paths: [%[8]s/data/D3]}
  - {name: D4, client: c2, paths: [%[8]s/data/D4]}
  - {name: D5, client: c3, paths: [%[8]s/data/D5], exclude: ["*.tmp"]}
pools:
  - {name: copy1, type: vtape, directory: %[8]s/state/volumes/copy1}
  - {name: copy2, type: vtape, directory: %[8]s/state/volumes/copy2}
  - {name: copy3, type: vtape, directory: %[8]s/state/volumes/copy3}
devices:
  - {name: R1, type: vtape, host: m1}
  - {name: R2, type: vtape, host: m1}
  - {name: R3, type: vtape, host: m2}
  - {name: R5, type: vtape, host: m2}
  - {name: R6, type: vtape, host: m2}
  - {name: R8, type: vtape, host: m2}
backup_group:
  - name: BMA124
    device: R1
    pool: copy1
    buffers: [{name: B1, source: D3}, {name: B2, source: D2}, {name: B3, source: D4}]
  - name: BMA126
    device: R2
    pool: copy1
    buffers: [{name: B1, source: D5}, {name: B3, source: D1}]
mirror_groups:
  - media_agents:
      - name: BMA138
        device: R5
        pool: copy2
        buffers: [{name: B2, follows: BMA124.B2}, {name: B3, follows: BMA124.B3}]
      - name: BMA140
        device: R8
        pool: copy2
        buffers: [{name: B1, follows: BMA126.B3}]
  - media_agents:
      - name: BMA144
        device: R3
        pool: copy3
        buffers: [{name: B2, follows: BMA138.B2}]
      - name: BMA146
        device: R6
        pool: copy3
        buffers: [{name: B1, follows: BMA140.B1}]
`

// freePorts returns n addresses of 127.0.0.1 nobody listens on now.
func freePorts(t *testing.T, n int) []string {
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

// daemon is one daisy process of the fleet.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

type fleetRun struct {
	t     *testing.T
	bin   string
	dir   string
	cfg   string
	pki   string
	addr  map[string]string
	token string
	http  *http.Client
	procs []*daemon
}

func (f *fleetRun) run(args ...string) string {
	f.t.Helper()
	cmd := exec.Command(f.bin, append([]string{"-c", f.cfg}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("daisy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (f *fleetRun) start(name string, args ...string) {
	f.t.Helper()
	logPath := filepath.Join(f.dir, "logs", name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(f.bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() {
		d.done <- cmd.Wait()
		lf.Close()
	}()
	f.procs = append(f.procs, d)
}

// stopAll sends SIGTERM to every daemon and checks that each exits 0.
func (f *fleetRun) stopAll() {
	f.t.Helper()
	for _, d := range f.procs {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, d := range f.procs {
		select {
		case err := <-d.done:
			if err != nil {
				f.t.Errorf("%s exited: %v", d.name, err)
			}
		case <-time.After(90 * time.Second):
			_ = d.cmd.Process.Kill()
			f.t.Errorf("%s did not stop after SIGTERM", d.name)
			<-d.done
		}
	}
	f.procs = nil
}

func (f *fleetRun) dumpLogs() {
	for _, d := range f.procs {
		f.logOf(d)
	}
}

func (f *fleetRun) logOf(d *daemon) {
	b, _ := os.ReadFile(d.log)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	f.t.Logf("log of %s:\n%s", d.name, b)
}

// api calls the server's HTTP API with the token and decodes the answer
// into v; it returns the status.
func (f *fleetRun) api(method, path string, body, v any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+f.addr["api"]+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if v != nil && len(data) > 0 {
		if err := json.Unmarshal(data, v); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

type apiJob struct {
	ID     int64           `json:"id"`
	State  string          `json:"state"`
	Error  string          `json:"error"`
	Result json.RawMessage `json:"result"`
}

// job starts a job through the API and waits for its end.
func (f *fleetRun) job(req map[string]any) apiJob {
	f.t.Helper()
	var started struct {
		Job   int64  `json:"job"`
		State string `json:"state"`
		Error string `json:"error"`
	}
	if code := f.api("POST", "/v1/jobs", req, &started); code != http.StatusAccepted {
		f.t.Fatalf("POST /v1/jobs %v: %d %+v", req, code, started)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var j apiJob
		if code := f.api("GET", fmt.Sprintf("/v1/jobs/%d", started.Job), nil, &j); code != http.StatusOK {
			f.t.Fatalf("GET job %d: %d", started.Job, code)
		}
		if j.State != "running" {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %d %v still running after 3 minutes", started.Job, req)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFleetFigure2Processes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daisy binary and runs six daemons")
	}
	dir := t.TempDir()
	f := &fleetRun{t: t, dir: dir, addr: map[string]string{}}
	f.bin = buildDaisy(t, dir)
	names := []string{"srv", "api", "c1", "c2", "c3", "m1", "m2"}
	for i, a := range freePorts(t, len(names)) {
		f.addr[names[i]] = a
	}
	for i, s := range []string{"D1", "D2", "D3", "D4", "D5"} {
		if err := testtree.Make(filepath.Join(dir, "data", s), testtree.Spec{Seed: uint64(10 + i), SmallFiles: 60, LargeFiles: 1, LargeSize: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.cfg = filepath.Join(dir, "daisy.yaml")
	yaml := fmt.Sprintf(fleetFigure2, f.addr["srv"], f.addr["api"], f.addr["c1"], f.addr["c2"], f.addr["c3"], f.addr["m1"], f.addr["m2"], dir)
	if err := os.WriteFile(f.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	f.pki = filepath.Join(dir, "state", "pki")
	f.run("cert", "init")
	f.run("cert", "issue")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "token", "create", "acceptance")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %q", err, tok.Token)
	}
	f.token = tok.Token
	caPEM, err := os.ReadFile(filepath.Join(f.pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	f.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}

	f.start("server", "-c", f.cfg, "server")
	for _, h := range []string{"c1", "c2", "c3"} {
		f.start("agent-"+h, "agent", "--name", h, "--listen", f.addr[h], "--server", f.addr["srv"], "--server-name", "srv", "--pki", f.pki)
	}
	for _, h := range []string{"m1", "m2"} {
		f.start("media-agent-"+h, "media-agent", "--name", h, "--listen", f.addr[h], "--server", f.addr["srv"], "--server-name", "srv", "--pki", f.pki)
	}
	defer func() {
		if t.Failed() {
			f.dumpLogs()
		}
		for _, d := range f.procs {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}()
	// Every host says Hello: the topology shows them connected.
	waitFleet(t, f, 5)

	j := f.job(map[string]any{"kind": "backup"})
	var res struct {
		State   string `json:"state"`
		Objects []struct {
			Source string `json:"source"`
			Object string `json:"object"`
			State  string `json:"state"`
			Copies []struct {
				Copy       int    `json:"copy"`
				MediaAgent string `json:"media_agent"`
				State      string `json:"state"`
			} `json:"copies"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatalf("backup job %+v: %v", j, err)
	}
	if j.State != "success" || res.State != "success" || len(res.Objects) != 5 {
		t.Fatalf("backup: %s %s: %s", j.State, j.Error, j.Result)
	}
	want := map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}
	clientOf := map[string]string{"D1": "c1", "D2": "c1", "D3": "c2", "D4": "c2", "D5": "c3"}
	restores := 0
	for _, o := range res.Objects {
		if len(o.Copies) != want[o.Source] {
			t.Errorf("%s: %d copies, want %d", o.Source, len(o.Copies), want[o.Source])
		}
		for _, c := range o.Copies {
			if c.State != "good" {
				t.Errorf("%s copy %d: %s", o.Source, c.Copy, c.State)
				continue
			}
			target := filepath.Join(dir, "restore", o.Source, fmt.Sprint(c.Copy))
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			rj := f.job(map[string]any{"kind": "restore", "object": o.Object, "copy": c.Copy, "target": target})
			var rr struct {
				State  string `json:"state"`
				Client string `json:"client"`
				Parts  []struct {
					MediaHost string `json:"media_host"`
					Copy      int    `json:"copy"`
				} `json:"parts"`
			}
			if err := json.Unmarshal(rj.Result, &rr); err != nil {
				t.Fatalf("restore %s copy %d: %+v: %v", o.Source, c.Copy, rj, err)
			}
			wantHost := "m2"
			if c.Copy == 1 {
				wantHost = "m1"
			}
			if rj.State != "success" || rr.Client != clientOf[o.Source] || len(rr.Parts) != 1 || rr.Parts[0].MediaHost != wantHost || rr.Parts[0].Copy != c.Copy {
				t.Errorf("restore %s copy %d: %s %s: %s", o.Source, c.Copy, rj.State, rj.Error, rj.Result)
				continue
			}
			orig := filepath.Join(dir, "data", o.Source)
			diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Errorf("%s restored from copy %d differs: %s", o.Source, c.Copy, strings.Join(diffs, "; "))
			}
			restores++
		}
	}
	if restores != 10 {
		t.Errorf("%d restores, want 10 (every copy of figure 2)", restores)
	}

	// The command line runs its jobs on the server the configuration's
	// api: names: an incremental of D1 and D5 (after a change), then the
	// restore of D1's chain, full and incremental, onto client c1.
	cli := func(token string, args ...string) (int, string, string) {
		cmd := exec.Command(f.bin, append([]string{"-c", f.cfg}, args...)...)
		cmd.Env = append(os.Environ(), "DAISY_TOKEN="+token)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	d1 := filepath.Join(dir, "data", "D1")
	if err := os.WriteFile(filepath.Join(d1, "after-the-full.txt"), []byte("written after the full backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d1, "large-0.bin")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(f.token, "--json", "backup", "--level", "incremental", "--source", "D1", "--source", "D5")
	var inc struct {
		State   string `json:"state"`
		Objects []struct {
			Source string `json:"source"`
			Level  string `json:"level"`
			State  string `json:"state"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &inc); err != nil || code != 0 || inc.State != "success" || len(inc.Objects) != 2 {
		t.Fatalf("daisy backup on the server: exit %d, %v: %s %s", code, err, out, errs)
	}
	for _, o := range inc.Objects {
		if o.Level != "incremental" || o.State != "complete" {
			t.Errorf("daisy backup on the server: %+v", o)
		}
	}
	target := filepath.Join(dir, "restore", "D1-chain")
	if code, out, errs := cli(f.token, "restore", "--source", "D1", "--to", target); code != 0 {
		t.Fatalf("daisy restore of D1's chain on the server: exit %d: %s %s", code, out, errs)
	}
	diffs, err := testtree.Compare(d1, filepath.Join(target, d1))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("D1 restored as full + incremental differs: %s", strings.Join(diffs, "; "))
	}
	if code, _, errs := cli("daisy_wrong", "backup"); code == 0 || !strings.Contains(errs, "401") {
		t.Errorf("daisy backup on the server with a wrong token: exit %d: %s", code, errs)
	}

	// Each daemon stops cleanly on SIGTERM.
	f.stopAll()
}
