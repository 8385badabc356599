package main

// Acceptance 6 of issue 11 against the real processes: the daisy binary,
// built here, runs as daisy server, one daisy agent (client c1) and two
// daisy media-agents (m1 with the backup group's device tape0, m2 with
// the mirror's tape1), with the configuration of docs/API.md (source
// home, pools main, mirror and offsite) put on that fleet, plus a source
// big of half a GiB (a backup of a few seconds).
//
//   - The curl lines of docs/API.md run as written, in order, with sh -c
//     on the freshly started server (their job 1 is the server's first),
//     with DAISY_API, DAISY_CA, DAISY_TOKEN, DAISY_CERT and DAISY_KEY set
//     as the file's top says; internal/api/apidoc says which lines they
//     are, the one change made to them (the restore target under the
//     test's directory) and what a good answer is. Every job they start
//     must succeed, and the restore they order (from copy 2, on m2, back
//     onto c1) must be the tree of home.
//   - A full backup of big runs for a few seconds; meanwhile curl scrapes
//     https://API/metrics with an admin's client certificate (no token)
//     every quarter second. The scrapes taken while the job runs
//     (daisy_job_running{kind="backup"} 1 in the same scrape) must show
//     the bytes and the records of both devices of big's chain (bma0 on
//     tape0 at m1, copy 1; mma0 on tape1 at m2, copy 2) never falling and
//     strictly rising from one scrape to a later one, and the fill of
//     big's buffers (daisy_buffer_used_bytes of bma0.B2 at m1 and
//     mma0.M2 at m2, with their capacity) in every scrape, above 0 in
//     some. After the job the counters stay, the fill is 0 and the job is
//     counted.
//
// curl missing: the test fails when CI is set, else it is skipped; go
// test -short skips it (it builds the binary). DAISY_FLEET_METRICS_MIB
// sets the size of big (default 512).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"daisy/internal/api/apidoc"
	"daisy/internal/testtree"
)

// docFleetYAML is the configuration of docs/API.md on a fleet: home (and
// big) on client c1, the backup group's device on m1, the mirror's on m2.
const docFleetYAML = `server: {host: srv, address: %[1]s, api: %[2]s}
clients:
  - {name: c1, address: %[3]s}
media_hosts:
  - {name: m1, address: %[4]s}
  - {name: m2, address: %[5]s}
catalog: {sqlite: %[6]s/state/catalog.db}
defaults: {buffer_size: 4MiB, block_size: 64KiB}
sources:
  - {name: home, client: c1, paths: [%[6]s/data/home]}
  - {name: big, client: c1, paths: [%[6]s/data/big]}
pools:
  - {name: main, type: vtape, directory: %[6]s/state/volumes/main}
  - {name: mirror, type: vtape, directory: %[6]s/state/volumes/mirror}
  - {name: offsite, type: vtape, directory: %[6]s/state/volumes/offsite}
devices:
  - {name: tape0, type: vtape, host: m1}
  - {name: tape1, type: vtape, host: m2}
backup_group:
  - {name: bma0, device: tape0, pool: main, buffers: [{name: B1, source: home}, {name: B2, source: big}]}
mirror_groups:
  - media_agents:
      - {name: mma0, device: tape1, pool: mirror, buffers: [{name: M1, follows: bma0.B1}, {name: M2, follows: bma0.B2}]}
`

// The metrics of big's chain, as the server's /metrics names them.
const (
	bigBytes1   = `daisy_device_written_bytes_total{copy="1",device="tape0",host="m1",media_agent="bma0"}`
	bigBytes2   = `daisy_device_written_bytes_total{copy="2",device="tape1",host="m2",media_agent="mma0"}`
	bigRecords1 = `daisy_device_records_total{copy="1",device="tape0",host="m1",media_agent="bma0"}`
	bigRecords2 = `daisy_device_records_total{copy="2",device="tape1",host="m2",media_agent="mma0"}`
	bigUsed1    = `daisy_buffer_used_bytes{buffer="bma0.B2",host="m1"}`
	bigUsed2    = `daisy_buffer_used_bytes{buffer="mma0.M2",host="m2"}`
	bigCap1     = `daisy_buffer_capacity_bytes{buffer="bma0.B2",host="m1"}`
	bigCap2     = `daisy_buffer_capacity_bytes{buffer="mma0.M2",host="m2"}`
	backupRuns  = `daisy_job_running{kind="backup"}`
)

// docEnv is the environment docs/API.md's examples expect.
type docEnv struct {
	api, ca, token, cert, key string
}

func (e docEnv) environ() []string {
	return append(os.Environ(), "DAISY_API=https://"+e.api, "DAISY_CA="+e.ca, "DAISY_TOKEN="+e.token,
		"DAISY_CERT="+e.cert, "DAISY_KEY="+e.key)
}

func TestFleetMetricsAndAPIDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daisy binary and runs four daemons")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing: acceptance 6 scrapes /metrics and runs docs/API.md with it (.ci/run installs it)")
		}
		t.Skip("curl is missing")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := apidoc.DocExamples(doc)
	if len(examples) < 10 || !strings.Contains(apidoc.Config(doc), "{name: home, paths: [data/home]}") {
		t.Fatalf("docs/API.md: %d curl lines, configuration %q: not the file this test puts on a fleet", len(examples), apidoc.Config(doc))
	}

	dir := t.TempDir()
	f := &fleetRun{t: t, dir: dir, addr: map[string]string{}}
	f.bin = buildDaisy(t, dir)
	names := []string{"srv", "api", "c1", "m1", "m2"}
	for i, a := range freePorts(t, len(names)) {
		f.addr[names[i]] = a
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.cfg = filepath.Join(dir, "daisy.yaml")
	yaml := fmt.Sprintf(docFleetYAML, f.addr["srv"], f.addr["api"], f.addr["c1"], f.addr["m1"], f.addr["m2"], dir)
	if err := os.WriteFile(f.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	f.pki = filepath.Join(dir, "state", "pki")
	f.run("cert", "init")
	f.run("cert", "issue")
	f.run("cert", "issue", "--admin", "alice")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "token", "create", "acceptance-6")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v %q", err, tok.Token)
	}
	f.token = tok.Token
	env := docEnv{api: f.addr["api"], ca: filepath.Join(f.pki, "ca.crt"), token: f.token,
		cert: filepath.Join(f.pki, "admin.alice.crt"), key: filepath.Join(f.pki, "admin.alice.key")}
	caPEM, err := os.ReadFile(env.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", env.ca)
	}
	f.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}

	f.start("server", "-c", f.cfg, "server")
	f.start("agent-c1", "agent", "--name", "c1", "--listen", f.addr["c1"], "--server", f.addr["srv"], "--server-name", "srv", "--pki", f.pki)
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
	// The data while the daemons start.
	if err := testtree.Make(filepath.Join(dir, "data", "home"), testtree.Spec{Seed: 7, SmallFiles: 30, LargeFiles: 1, LargeSize: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	bigMiB := int64(envInt(t, "DAISY_FLEET_METRICS_MIB", 512))
	if err := testtree.Make(filepath.Join(dir, "data", "big"), testtree.Spec{Seed: 8, SmallFiles: 20, LargeFiles: 4, LargeSize: bigMiB << 20 / 4}); err != nil {
		t.Fatal(err)
	}
	waitFleet(t, f, 3)

	t.Run("APIDoc", func(t *testing.T) { runAPIDoc(t, f, env, examples) })
	if t.Failed() {
		return
	}
	t.Run("MetricsDuringBackup", func(t *testing.T) { metricsDuringBackup(t, f, env) })

	f.stopAll()
}

// waitFleet waits until the server's topology shows n hosts connected.
func waitFleet(t *testing.T, f *fleetRun, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var topo struct {
			Hosts []struct {
				Role      string `json:"role"`
				Connected bool   `json:"connected"`
			} `json:"hosts"`
		}
		code := f.api("GET", "/v1/topology", nil, &topo)
		up := 0
		for _, h := range topo.Hosts {
			if h.Connected && h.Role != "server" {
				up++
			}
		}
		if code == http.StatusOK && up == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet did not come up within 60s: topology %d %+v", code, topo)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runAPIDoc runs docs/API.md's examples against the server, then waits
// for the jobs they started and checks them and the restore.
func runAPIDoc(t *testing.T, f *fleetRun, env docEnv, examples []apidoc.Example) {
	tmp := t.TempDir()
	t.Logf("%d examples of docs/API.md", len(examples))
	for _, ex := range examples {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		c := exec.CommandContext(ctx, "sh", "-c", ex.Command(tmp))
		c.Env = env.environ()
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		cancel()
		if err != nil {
			t.Errorf("docs/API.md:%d: %s\n%v: %s%s", ex.Line, ex.Cmd, err, out, stderr.Bytes())
			continue
		}
		if err := ex.Check(out); err != nil {
			t.Errorf("docs/API.md:%d: %s\n%v\n%s", ex.Line, ex.Cmd, err, out)
		}
	}

	var list struct {
		Jobs []struct {
			ID    int64  `json:"id"`
			Kind  string `json:"kind"`
			State string `json:"state"`
			Error string `json:"error"`
		} `json:"jobs"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code := f.api("GET", "/v1/jobs", nil, &list); code != http.StatusOK {
			t.Fatalf("GET /v1/jobs: %d", code)
		}
		running := 0
		for _, j := range list.Jobs {
			if j.State == "running" {
				running++
			}
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the examples' jobs still run after 2 minutes: %+v", list.Jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	kinds := map[string]bool{}
	for _, j := range list.Jobs {
		kinds[j.Kind] = true
		if j.State != "success" {
			t.Errorf("job %d (%s) of the examples: %s %s", j.ID, j.Kind, j.State, j.Error)
		}
	}
	for _, k := range []string{"backup", "restore", "verify", "copy", "prune"} {
		if !kinds[k] {
			t.Errorf("the examples started no %s job: %+v", k, list.Jobs)
		}
	}
	home := filepath.Join(f.dir, "data", "home")
	diffs, err := testtree.Compare(home, filepath.Join(tmp, "daisy-api-restore", home))
	if err != nil || len(diffs) > 0 {
		t.Errorf("the example's restore of home from copy 2 onto c1: %v %s", err, strings.Join(diffs, "\n"))
	}
}

// scrape is one curl of /metrics: name{labels} → value.
type scrape struct {
	at time.Duration // since the job was started
	m  map[string]float64
}

// curlMetrics scrapes the server's /metrics with curl and the admin's
// certificate.
func curlMetrics(t *testing.T, env docEnv) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "curl", "-sS", "--fail-with-body", "--cacert", env.ca, "--cert", env.cert, "--key", env.key, "https://"+env.api+"/metrics")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("curl https://%s/metrics: %v: %s%s", env.api, err, out, stderr.Bytes())
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", l, err)
		}
		m[l[:i]] = v
	}
	return m
}

// metricsDuringBackup backs up big and scrapes /metrics while it runs.
func metricsDuringBackup(t *testing.T, f *fleetRun, env docEnv) {
	before := curlMetrics(t, env)
	for _, k := range []string{bigBytes1, bigBytes2, bigRecords1, bigRecords2, bigCap1, bigCap2, bigUsed1, bigUsed2, backupRuns} {
		if _, ok := before[k]; !ok {
			t.Fatalf("no %s before the backup of big (after the examples' backup of home)", k)
		}
	}
	if before[bigCap1] != 4<<20 || before[bigCap2] != 4<<20 || before[backupRuns] != 0 {
		t.Fatalf("before the backup of big: %s %v, %s %v, %s %v", bigCap1, before[bigCap1], bigCap2, before[bigCap2], backupRuns, before[backupRuns])
	}

	var started struct {
		Job int64 `json:"job"`
	}
	t0 := time.Now()
	if code := f.api("POST", "/v1/jobs", map[string]any{"kind": "backup", "sources": []string{"big"}, "level": "full"}, &started); code != http.StatusAccepted {
		t.Fatalf("POST /v1/jobs backup of big: %d", code)
	}
	var during []scrape
	var last map[string]float64
	for {
		m := curlMetrics(t, env)
		if m[backupRuns] != 1 {
			last = m
			break
		}
		during = append(during, scrape{time.Since(t0), m})
		if time.Since(t0) > 2*time.Minute {
			t.Fatal("the backup of big still runs after 2 minutes")
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(t0)
	var j apiJob
	if code := f.api("GET", fmt.Sprintf("/v1/jobs/%d", started.Job), nil, &j); code != http.StatusOK || j.State != "success" {
		t.Fatalf("backup of big: %d %s %s", code, j.State, j.Error)
	}
	for _, s := range during {
		t.Logf("%5.2fs: %s %.0f %s %.0f, records %.0f %.0f, fill %.0f %.0f", s.at.Seconds(), "bma0", s.m[bigBytes1], "mma0", s.m[bigBytes2],
			s.m[bigRecords1], s.m[bigRecords2], s.m[bigUsed1], s.m[bigUsed2])
	}
	t.Logf("the backup of big ran about %.1fs; %d scrapes while it ran", took.Seconds(), len(during))

	// Each device's bytes and records: never falling, and strictly rising
	// from the first scrape that shows the job's writes to a later one.
	for _, k := range []string{bigBytes1, bigBytes2, bigRecords1, bigRecords2} {
		prev, first := before[k], -1
		for i, s := range during {
			if s.m[k] < prev {
				t.Errorf("%s fell from %v to %v at %.2fs", k, prev, s.m[k], s.at.Seconds())
			}
			prev = s.m[k]
			if first < 0 && s.m[k] > before[k] {
				first = i
			}
		}
		switch {
		case first < 0:
			t.Errorf("%s stayed at %v in the %d scrapes while the job ran (%.1fs)", k, before[k], len(during), took.Seconds())
		case during[len(during)-1].m[k] <= during[first].m[k]:
			t.Errorf("%s rose to %v once, then not again in the %d scrapes while the job ran (%.1fs): make big larger (DAISY_FLEET_METRICS_MIB)",
				k, during[first].m[k], len(during), took.Seconds())
		}
		if last[k] < prev {
			t.Errorf("%s after the job: %v, below %v during it", k, last[k], prev)
		}
	}
	// The fill of big's buffers, in every scrape, and above 0 in some.
	filled := false
	for _, s := range during {
		for _, k := range []string{bigUsed1, bigUsed2, bigCap1, bigCap2} {
			if _, ok := s.m[k]; !ok {
				t.Errorf("no %s in the scrape at %.2fs", k, s.at.Seconds())
			}
		}
		filled = filled || s.m[bigUsed1] > 0 || s.m[bigUsed2] > 0
	}
	if !filled {
		t.Errorf("%s and %s were 0 in every scrape while the job ran", bigUsed1, bigUsed2)
	}
	// After the job.
	if last[bigUsed1] != 0 || last[bigUsed2] != 0 {
		t.Errorf("the fill after the job: %v %v", last[bigUsed1], last[bigUsed2])
	}
	if last[`daisy_jobs_total{kind="backup",state="success"}`] != before[`daisy_jobs_total{kind="backup",state="success"}`]+1 {
		t.Errorf("daisy_jobs_total of successful backups: %v, before %v", last[`daisy_jobs_total{kind="backup",state="success"}`], before[`daisy_jobs_total{kind="backup",state="success"}`])
	}
	if c1 := last[`daisy_copy_written_bytes_total{copy="1"}`]; c1 != last[bigBytes1] {
		t.Errorf("daisy_copy_written_bytes_total of copy 1 %v, bma0's %v (its only device)", c1, last[bigBytes1])
	}
	if r2 := last[`daisy_copy_records_total{copy="2"}`]; r2 != last[bigRecords2] || r2 == 0 {
		t.Errorf("daisy_copy_records_total of copy 2 %v, mma0's %v (its only device)", r2, last[bigRecords2])
	}
	if last[`daisy_agent_connections{host="c1",role="client"}`] != 1 || last[`daisy_agent_connections{host="m2",role="media-host"}`] != 1 {
		t.Errorf("agent connections: c1 %v, m2 %v", last[`daisy_agent_connections{host="c1",role="client"}`], last[`daisy_agent_connections{host="m2",role="media-host"}`])
	}
}
