package main

// The fleet kill test (issue 11, acceptance 2): the real daisy binary,
// built here, runs figure 2 as a fleet of separate processes on
// 127.0.0.1 (daisy server with its HTTP API, three daisy agents, two
// daisy media-agents), with certificates made by daisy cert init and
// daisy cert issue; the backup group's media agents are on media host
// m1, both mirror levels' on m2, so that every chain of more than one
// copy crosses hosts. Mid-backup it kills (SIGKILL) in turn
//
//   - media host m2: the copies on m1 complete and restore identical,
//     the job's result fails the copies on m2 naming m2, and once m2 is
//     back the next backup writes every copy;
//   - the agent of client c1: only its objects (D1, D2) fail, the others'
//     copies are good and restore identical;
//   - the server: started again, it marks the interrupted job so, no copy
//     is good that does not verify (a verify --all job reads every good
//     copy and checks its hash; every good copy of the interrupted job is
//     restored and compared), nothing is left writing, and the next
//     scheduled run (a seconds-level cron line of daisy.yaml) writes
//     every copy.
//
// The other jobs go through the HTTP API (POST /v1/jobs, with a bearer
// token of daisy token create). Each stop comes once the mirror copies on
// m2 hold 16 MiB, a few tenths of a second into a full of a few seconds.
// Only the processes the test started are signalled, by their PIDs. go
// test -short skips it.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// killFigure2 is examples/figure2.yaml on a fleet: the backup group's
// devices on m1, the mirror levels' on m2, the five sources on three
// clients. Small buffers, so that the buffers fill and the flow control
// works; the data is big enough that a full runs for seconds.
const killFigure2 = `server: {host: srv, address: %[1]s, api: %[2]s}
clients:
  - {name: c1, address: %[3]s}
  - {name: c2, address: %[4]s}
  - {name: c3, address: %[5]s}
media_hosts:
  - {name: m1, address: %[6]s}
  - {name: m2, address: %[7]s}
catalog: {sqlite: %[8]s/state/catalog.db}
defaults: {buffer_size: 2MiB, block_size: 256KiB, pool: copy1}
sources:
  - {name: D1, client: c1, paths: [%[8]s/data/D1]}
  - {name: D2, client: c1, paths: [%[8]s/data/D2]}
  - {name: D3, client: c2, paths: [%[8]s/data/D3]}
  - {name: D4, client: c2, paths: [%[8]s/data/D4]}
  - {name: D5, client: c3, paths: [%[8]s/data/D5]}
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

// fleetCopies is how many copies figure 2 writes of each source, and
// on which media host each copy number is.
var (
	fleetCopies = map[string]int{"D1": 3, "D2": 3, "D3": 1, "D4": 2, "D5": 1}
	copyHost    = map[int]string{1: "m1", 2: "m2", 3: "m2"}
	fleetClient = map[string]string{"D1": "c1", "D2": "c1", "D3": "c2", "D4": "c2", "D5": "c3"}
)

// killProc is one process of the fleet.
type killProc struct {
	name   string
	addr   string // where it listens
	args   []string
	log    string // its stderr and stdout
	cmd    *exec.Cmd
	exited chan struct{}
}

// procFleet is the fleet of processes and what the test needs to talk
// to it.
type procFleet struct {
	t     *testing.T
	bin   string
	dir   string
	cfg   string
	pki   string
	api   string
	token string
	http  *http.Client
	procs map[string]*killProc
}

// freeAddrs returns n addresses of 127.0.0.1 with ports free right now,
// each a different one.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

func newProcFleet(t *testing.T) *procFleet {
	t.Helper()
	dir := t.TempDir()
	bin := buildDaisy(t, dir)
	if out, err := exec.Command(bin, "server", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "daisy server") {
		t.Fatalf("this daisy has no server command (daisy server, agent, media-agent): %v %.200s", err, out)
	}
	f := &procFleet{t: t, bin: bin, dir: dir, cfg: filepath.Join(dir, "daisy.yaml"), pki: filepath.Join(dir, "state", "pki"),
		procs: map[string]*killProc{}}
	t.Cleanup(func() {
		for _, d := range f.procs {
			f.kill(d.name)
		}
		if t.Failed() {
			for _, n := range []string{"srv", "m1", "m2", "c1", "c2", "c3"} {
				if d, ok := f.procs[n]; ok {
					b, _ := os.ReadFile(d.log)
					if len(b) > 6000 {
						b = append([]byte("...\n"), b[len(b)-6000:]...)
					}
					t.Logf("log of %s:\n%s", n, b)
				}
			}
		}
	})
	addr := map[string]string{}
	for i, a := range freeAddrs(t, 7) {
		addr[[]string{"srv", "api", "c1", "c2", "c3", "m1", "m2"}[i]] = a
	}
	f.api = addr["api"]
	text := fmt.Sprintf(killFigure2, addr["srv"], addr["api"], addr["c1"], addr["c2"], addr["c3"], addr["m1"], addr["m2"], dir)
	if err := os.WriteFile(f.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The data: the sources with mirrors hold the big files, so that
	// the chains across hosts run for seconds.
	large := map[string]int64{"D1": 120 << 20, "D2": 96 << 20, "D3": 16 << 20, "D4": 64 << 20, "D5": 16 << 20}
	for i, s := range []string{"D1", "D2", "D3", "D4", "D5"} {
		src := filepath.Join(dir, "data", s)
		if err := testtree.Make(src, testtree.Spec{Seed: uint64(i + 1), SmallFiles: 60, LargeFiles: 2, LargeSize: large[s] / 2}); err != nil {
			t.Fatal(err)
		}
	}

	f.run("cert", "init")
	f.run("cert", "issue")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "token", "create", "fleet-kill-test")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %q", err, tok.Token)
	}
	f.token = tok.Token
	ca, err := os.ReadFile(filepath.Join(f.pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s holds no certificate", filepath.Join(f.pki, "ca.crt"))
	}
	f.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}

	f.procs["srv"] = &killProc{name: "srv", addr: addr["srv"], args: []string{"-c", f.cfg, "--log-level", "info", "server"}}
	for _, c := range []string{"c1", "c2", "c3"} {
		f.procs[c] = &killProc{name: c, addr: addr[c], args: []string{"--log-level", "info", "agent", "--name", c, "--listen", addr[c],
			"--server", addr["srv"], "--server-name", "srv", "--pki", f.pki}}
	}
	for _, m := range []string{"m1", "m2"} {
		f.procs[m] = &killProc{name: m, addr: addr[m], args: []string{"--log-level", "info", "media-agent", "--name", m, "--listen", addr[m],
			"--server", addr["srv"], "--server-name", "srv", "--pki", f.pki}}
	}
	for _, n := range []string{"srv", "m1", "m2", "c1", "c2", "c3"} {
		f.start(n)
	}
	f.waitAPI()
	return f
}

// run runs a daisy command to its end; it must succeed.
func (f *procFleet) run(args ...string) string {
	f.t.Helper()
	cmd := exec.Command(f.bin, append([]string{"-c", f.cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		f.t.Fatalf("daisy %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// start starts daemon n and waits until it accepts connections.
func (f *procFleet) start(n string) {
	f.t.Helper()
	d := f.procs[n]
	if d.cmd != nil {
		select {
		case <-d.exited:
		default:
			f.t.Fatalf("%s is running already (pid %d)", n, d.cmd.Process.Pid)
		}
	}
	d.log = filepath.Join(f.dir, n+".log")
	lf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	fmt.Fprintf(lf, "---- %s: daisy %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(d.args, " "))
	d.cmd = exec.Command(f.bin, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		lf.Close()
		f.t.Fatalf("start %s: %v", n, err)
	}
	lf.Close()
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(d.cmd, d.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-d.exited:
			f.t.Fatalf("%s exited at its start: %v", n, d.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s does not listen on %s after 20s: %v", n, d.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL to daemon n, the process this test started, and
// waits for its end.
func (f *procFleet) kill(n string) {
	f.t.Helper()
	d := f.procs[n]
	if d == nil || d.cmd == nil {
		return
	}
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		f.t.Errorf("kill -9 %s (pid %d): %v", n, d.cmd.Process.Pid, err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		f.t.Errorf("%s (pid %d) still runs 10s after kill -9", n, d.cmd.Process.Pid)
	}
}

// alive reports whether daemon n still runs.
func (f *procFleet) alive(n string) bool {
	select {
	case <-f.procs[n].exited:
		return false
	default:
		return true
	}
}

// call makes one API request; it returns the status and the body.
func (f *procFleet) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+f.api+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// get decodes the answer of GET path into v; it must be 200.
func (f *procFleet) get(path string, v any) {
	f.t.Helper()
	code, b, err := f.call("GET", path, nil)
	if err != nil || code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %v\n%s", path, code, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		f.t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
}

// waitAPI waits until the API answers and every host said Hello.
func (f *procFleet) waitAPI() {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		code, b, err := f.call("GET", "/v1/topology", nil)
		if err == nil && code == http.StatusOK {
			var top struct {
				Hosts []struct {
					Name      string `json:"name"`
					Role      string `json:"role"`
					Connected bool   `json:"connected"`
				} `json:"hosts"`
			}
			if json.Unmarshal(b, &top) == nil {
				up := 0
				for _, h := range top.Hosts {
					if h.Connected && h.Role != "server" {
						up++
					}
				}
				if up == 5 {
					return
				}
			}
			last = string(b)
		} else {
			last = fmt.Sprintf("%d %v %s", code, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("the fleet is not up after 30s: %s", last)
}

// killJob is a job as GET /v1/jobs/{id} shows it.
type killJob struct {
	ID         int64           `json:"id"`
	State      string          `json:"state"`
	CatalogJob int64           `json:"catalog_job"`
	Error      string          `json:"error"`
	Result     json.RawMessage `json:"result"`
	Progress   *struct {
		Done    int64 `json:"done_bytes"`
		Sources []struct {
			Source string `json:"source"`
			Bytes  int64  `json:"bytes"`
			Done   bool   `json:"done"`
		} `json:"sources"`
		Devices []struct {
			MediaAgent string `json:"media_agent"`
			Host       string `json:"host"`
			Bytes      int64  `json:"bytes"`
		} `json:"devices"`
	} `json:"progress"`
}

// startJob starts a job through the API and returns the API's job ID.
func (f *procFleet) startJob(req map[string]any) int64 {
	f.t.Helper()
	code, b, err := f.call("POST", "/v1/jobs", req)
	if err != nil || code != http.StatusAccepted {
		f.t.Fatalf("POST /v1/jobs %v: %d %v\n%s", req, code, err, b)
	}
	var st struct {
		Job int64 `json:"job"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		f.t.Fatalf("POST /v1/jobs: %v\n%s", err, b)
	}
	return st.Job
}

func (f *procFleet) job(id int64) killJob {
	f.t.Helper()
	var j killJob
	f.get(fmt.Sprintf("/v1/jobs/%d", id), &j)
	return j
}

// wait waits for the end of API job id.
func (f *procFleet) wait(id int64, within time.Duration) killJob {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := f.job(id)
		if j.State != "running" {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %d still running after %v", id, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backupResult decodes the result of an ended backup.
func (f *procFleet) backupResult(j killJob) *jobs.BackupResult {
	f.t.Helper()
	var r jobs.BackupResult
	if len(j.Result) == 0 || json.Unmarshal(j.Result, &r) != nil || len(r.Objects) == 0 {
		f.t.Fatalf("job %d (%s, %s) has no backup result: %s", j.ID, j.State, j.Error, j.Result)
	}
	return &r
}

// backup runs a full backup through the API to its end.
func (f *procFleet) backup() *jobs.BackupResult {
	f.t.Helper()
	return f.backupResult(f.wait(f.startJob(map[string]any{"kind": "backup", "level": "full"}), 2*time.Minute))
}

// until starts a full backup and calls stop once the mirror copies on
// m2 (pool copy2's volumes) hold at least landed bytes, while the job
// still runs; it returns the API's job ID. The volumes are watched
// rather than the job's progress, which comes once a second.
func (f *procFleet) until(landed int64, stop func(id int64)) int64 {
	f.t.Helper()
	id := f.startJob(map[string]any{"kind": "backup", "level": "full"})
	began := time.Now()
	copy2 := filepath.Join(f.dir, "state", "volumes", "copy2")
	base := dirBytes(copy2)
	for {
		n := dirBytes(copy2) - base
		if n >= landed {
			if j := f.job(id); j.State != "running" {
				f.t.Fatalf("job %d ended (%s) before it could be stopped: make the data bigger", id, j.State)
			}
			f.t.Logf("stop %v into the job, %d bytes on copy2's volumes", time.Since(began).Round(time.Millisecond), n)
			stop(id)
			return id
		}
		if time.Since(began) > time.Minute {
			f.t.Fatalf("job %d: %d bytes on copy2's volumes after a minute: %+v", id, n, f.job(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dirBytes is the size of the regular files under dir (0 if none).
func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// restore restores copy c of object obj (of source src) through the
// API onto its client and compares it with the source.
func (f *procFleet) restore(src, obj string, c int, tag string) {
	f.t.Helper()
	target := filepath.Join(f.dir, "restore", tag, src, fmt.Sprint(c))
	if err := os.MkdirAll(target, 0o755); err != nil {
		f.t.Fatal(err)
	}
	j := f.wait(f.startJob(map[string]any{"kind": "restore", "object": obj, "copy": c, "target": target}), time.Minute)
	var r struct {
		State  string `json:"state"`
		Client string `json:"client"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(j.Result, &r); err != nil || j.State != "success" || r.State != catalog.JobSuccess {
		f.t.Errorf("%s: restore of %s copy %d: job %s %s, result %s", tag, src, c, j.State, j.Error, j.Result)
		return
	}
	if r.Client != fleetClient[src] {
		f.t.Errorf("%s: restore of %s copy %d ran on client %q, want %s", tag, src, c, r.Client, fleetClient[src])
	}
	orig := filepath.Join(f.dir, "data", src)
	diffs, err := testtree.Compare(orig, filepath.Join(target, orig))
	if err != nil {
		f.t.Fatal(err)
	}
	if len(diffs) > 0 {
		if len(diffs) > 5 {
			diffs = diffs[:5]
		}
		f.t.Errorf("%s: restore of %s copy %d differs: %s", tag, src, c, strings.Join(diffs, "; "))
	}
	os.RemoveAll(target)
}

// allGood checks that every object of r is complete with every copy
// figure 2 writes of it good.
func allGood(t *testing.T, what string, r *jobs.BackupResult) {
	t.Helper()
	if r.State != catalog.JobSuccess {
		t.Errorf("%s: job %d is %s", what, r.Job, r.State)
	}
	if len(r.Objects) != 5 {
		t.Errorf("%s: %d objects, want 5", what, len(r.Objects))
	}
	for _, o := range r.Objects {
		if o.State != catalog.ObjectComplete || len(o.Copies) != fleetCopies[o.Source] {
			t.Errorf("%s: %s is %s with %d copies (want complete, %d): %s", what, o.Source, o.State, len(o.Copies), fleetCopies[o.Source], o.Error)
		}
		for _, c := range o.Copies {
			if c.State != catalog.CopyGood {
				t.Errorf("%s: %s copy %d is %s: %s", what, o.Source, c.Number, c.State, c.Error)
			}
		}
	}
}

// catalogState checks, through the API, that nothing is left writing
// and returns the objects and their copies.
func (f *procFleet) catalogState(what string) ([]catalog.Object, map[string][]catalog.Copy) {
	f.t.Helper()
	var objs struct {
		Objects []catalog.Object `json:"objects"`
	}
	f.get("/v1/objects", &objs)
	out := map[string][]catalog.Copy{}
	for _, o := range objs.Objects {
		if o.State == catalog.ObjectWriting {
			f.t.Errorf("%s: object %s of %s left writing", what, o.ID, o.Source)
		}
		var cs struct {
			Copies []catalog.Copy `json:"copies"`
		}
		f.get("/v1/objects/"+o.ID+"/copies", &cs)
		for _, c := range cs.Copies {
			if c.State == catalog.CopyWriting {
				f.t.Errorf("%s: copy %s/%d (%s) left writing", what, o.ID, c.Number, o.Source)
			}
			if c.State == catalog.CopyGood && o.State != catalog.ObjectComplete {
				f.t.Errorf("%s: copy %s/%d (%s) is good, its object is %s", what, o.ID, c.Number, o.Source, o.State)
			}
		}
		out[o.ID] = cs.Copies
	}
	return objs.Objects, out
}

// verifyAll runs verify --all through the API: every good copy is read
// back and its hash checked; none may be damaged.
func (f *procFleet) verifyAll(what string) *jobs.VerifyResult {
	f.t.Helper()
	j := f.wait(f.startJob(map[string]any{"kind": "verify", "all": true}), 2*time.Minute)
	var vr jobs.VerifyResult
	if err := json.Unmarshal(j.Result, &vr); err != nil {
		f.t.Fatalf("%s: verify --all: %s %s %v\n%s", what, j.State, j.Error, err, j.Result)
	}
	if vr.Damaged != 0 || vr.Unavailable != 0 || vr.OK == 0 {
		f.t.Errorf("%s: verify --all: %d ok, %d damaged, %d unavailable (%s): %+v", what, vr.OK, vr.Damaged, vr.Unavailable, j.State, vr.Copies)
	}
	return &vr
}

func TestFleetKill(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet kill test runs without -short")
	}
	began := time.Now()
	f := newProcFleet(t)
	top := t
	t.Logf("fleet up in %v", time.Since(began).Round(time.Millisecond))

	t.Run("MediaHost", func(t *testing.T) {
		f.t = t
		defer func() { f.t = top }()
		start := time.Now()
		id := f.until(16<<20, func(int64) { f.kill("m2") })
		j := f.wait(id, 2*time.Minute)
		r := f.backupResult(j)
		t.Logf("m2 killed: job %d %s in %v", r.Job, r.State, time.Since(start).Round(time.Millisecond))
		if r.State != catalog.JobPartial {
			t.Errorf("job %d is %s with m2 killed mid-job, want partial (its copies on m1 good, on m2 failed)", r.Job, r.State)
		}
		failed := 0
		for _, o := range r.Objects {
			if o.State != catalog.ObjectComplete {
				t.Errorf("%s: %s (%s): the copy on m1 must complete", o.Source, o.State, o.Error)
			}
			if len(o.Copies) != fleetCopies[o.Source] {
				t.Errorf("%s: %d copies, want %d", o.Source, len(o.Copies), fleetCopies[o.Source])
			}
			for _, c := range o.Copies {
				switch copyHost[c.Number] {
				case "m1":
					if c.State != catalog.CopyGood {
						t.Errorf("%s copy %d on m1: %s (%s)", o.Source, c.Number, c.State, c.Error)
						continue
					}
					f.restore(o.Source, o.Object, c.Number, "m2-killed")
				case "m2":
					failed++
					if failed == 1 {
						t.Logf("%s copy %d: %s: %s", o.Source, c.Number, c.State, c.Error)
					}
					if c.State != catalog.CopyFailed || !strings.Contains(c.Error, "media host m2") {
						t.Errorf("%s copy %d on m2 (killed): %s, error %q: want failed, naming m2", o.Source, c.Number, c.State, c.Error)
					}
				}
			}
		}
		if failed != 5 {
			t.Errorf("%d copies on m2 in the result, want 5", failed)
		}
		f.start("m2")
		f.waitAPI()
		start = time.Now()
		allGood(t, "the next backup with m2 back", f.backup())
		t.Logf("m2 back: the next full, uncut, took %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("Agent", func(t *testing.T) {
		f.t = t
		defer func() { f.t = top }()
		start := time.Now()
		id := f.until(16<<20, func(int64) { f.kill("c1") })
		j := f.wait(id, 2*time.Minute)
		r := f.backupResult(j)
		t.Logf("c1 killed: job %d %s in %v", r.Job, r.State, time.Since(start).Round(time.Millisecond))
		if r.State == catalog.JobSuccess {
			t.Errorf("job %d succeeded with c1's agent killed mid-job", r.Job)
		}
		for _, o := range r.Objects {
			if fleetClient[o.Source] == "c1" {
				if o.State != catalog.ObjectFailed || !strings.Contains(o.Error, "c1") {
					t.Errorf("%s of c1 (killed): %s, error %q: want failed, naming c1", o.Source, o.State, o.Error)
				}
				for _, c := range o.Copies {
					if c.State == catalog.CopyGood {
						t.Errorf("%s copy %d of c1 (killed) is good", o.Source, c.Number)
					}
				}
				continue
			}
			if o.State != catalog.ObjectComplete || len(o.Copies) != fleetCopies[o.Source] {
				t.Errorf("%s of %s: %s with %d copies (%s): only c1's objects may fail", o.Source, fleetClient[o.Source], o.State, len(o.Copies), o.Error)
			}
			for _, c := range o.Copies {
				if c.State != catalog.CopyGood {
					t.Errorf("%s copy %d: %s (%s): only c1's objects may fail", o.Source, c.Number, c.State, c.Error)
					continue
				}
				f.restore(o.Source, o.Object, c.Number, "c1-killed")
			}
		}
		f.start("c1")
		f.waitAPI()
	})

	t.Run("Server", func(t *testing.T) {
		f.t = t
		defer func() { f.t = top }()
		var catJob int64
		f.until(16<<20, func(id int64) {
			// The catalog's job, then the server goes.
			catJob = f.job(id).CatalogJob
			f.kill("srv")
		})
		if catJob == 0 {
			t.Fatal("the running job has no catalog job")
		}
		// Agents and media hosts outlive the server.
		for _, n := range []string{"m1", "m2", "c1", "c2", "c3"} {
			if !f.alive(n) {
				t.Errorf("%s exited when the server was killed", n)
			}
		}
		// Started again with a schedule: a full a few seconds on (a
		// seconds-level cron line, once a day).
		at := time.Now().UTC().Add(6 * time.Second)
		sched := fmt.Sprintf("schedules:\n  - {name: after-restart, cron: \"CRON_TZ=UTC %d %d %d * * *\", job: backup, level: full}\n", at.Second(), at.Minute(), at.Hour())
		cfgText, err := os.ReadFile(f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.cfg, append(cfgText, sched...), 0o644); err != nil {
			t.Fatal(err)
		}
		f.start("srv")
		f.waitAPI()
		hist := func() []catalog.Job {
			var list struct {
				History []catalog.Job `json:"history"`
			}
			f.get("/v1/jobs?limit=50", &list)
			return list.History
		}
		h := hist()
		i := slices.IndexFunc(h, func(j catalog.Job) bool { return j.ID == catJob })
		if i < 0 {
			t.Fatalf("job %d is not in the catalog's history: %+v", catJob, h)
		}
		if j := h[i]; j.State != catalog.JobInterrupted && j.State != catalog.JobFailed {
			t.Errorf("the job the killed server ran (%d) is %s (%s), want interrupted or failed", catJob, j.State, j.Error)
		} else {
			t.Logf("the job the killed server ran (%d) is %s: %s", catJob, j.State, j.Error)
		}
		objs, copies := f.catalogState("after the server was killed and started again")

		// The next scheduled run goes ahead and writes every copy.
		var next catalog.Job
		for deadline := at.Add(time.Minute); next.ID == 0 || next.State == catalog.JobRunning; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled backup after job %d ended by %v (cron %s): %+v", catJob, deadline.Format(time.TimeOnly), strings.TrimSpace(sched), hist())
			}
			for _, j := range hist() {
				if j.ID > catJob && j.Kind == "backup" {
					next = j
				}
			}
		}
		t.Logf("the scheduled backup (job %d, due %s) is %s, %v after its time", next.ID, at.Format(time.TimeOnly), next.State, next.Finished.Sub(at).Round(time.Millisecond))
		if next.State != catalog.JobSuccess {
			t.Errorf("the scheduled backup after the server's restart (job %d) is %s: %s", next.ID, next.State, next.Error)
		}
		after, afterCopies := f.catalogState("after the scheduled backup")
		got := 0
		for _, o := range after {
			if o.JobID != next.ID {
				continue
			}
			got++
			good := 0
			for _, c := range afterCopies[o.ID] {
				if c.State == catalog.CopyGood {
					good++
				}
			}
			if o.State != catalog.ObjectComplete || good != fleetCopies[o.Source] {
				t.Errorf("scheduled backup: %s is %s with %d good copies, want complete with %d", o.Source, o.State, good, fleetCopies[o.Source])
			}
		}
		if got != 5 {
			t.Errorf("the scheduled backup wrote %d objects, want 5", got)
		}

		// Every good copy of the interrupted job restores identical (a
		// source that ended before the kill may have committed its own),
		// and every good copy verifies.
		cut := 0
		for _, o := range objs {
			if o.JobID != catJob {
				continue
			}
			cut++
			for _, c := range copies[o.ID] {
				if c.State == catalog.CopyGood {
					t.Logf("%s copy %d of the interrupted job is good: restored", o.Source, c.Number)
					f.restore(o.Source, o.ID, c.Number, "server-killed")
				}
			}
		}
		if cut == 0 {
			t.Errorf("the interrupted job %d recorded no object", catJob)
		}
		vr := f.verifyAll("after the server was killed and started again")
		t.Logf("verify --all: %d good copies read back, none damaged", vr.OK)
	})
	t.Logf("fleet kill test: %v", time.Since(began).Round(time.Millisecond))
}
