package api

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"daisy/internal/jobs"
	"daisy/internal/pki"
	"daisy/internal/testtree"
)

// Acceptance 3 (the API's part): no token, a wrong one, a revoked one, an
// agent's certificate are refused; a token and an admin's certificate are
// let in, on every endpoint.
func TestAuthRefusals(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 1, SmallFiles: 5})
	revoked, rt, err := e.tokens.Create("to revoke", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens.Revoke(rt.ID); err != nil {
		t.Fatal(err)
	}
	agent := e.httpClient(e.certOf(pki.Peer{Role: pki.RoleClient, Name: "client-a"}))
	admin := e.httpClient(e.certOf(pki.Peer{Role: pki.RoleAdmin, Name: "alice"}))
	wrong := "daisy_" + strings.Repeat("0", 12) + "_" + strings.Repeat("x", 43)
	paths := []string{"/v1/health", "/v1/jobs", "/v1/topology", "/v1/objects", "/v1/volumes", "/v1/pools", "/metrics", "/v1/jobs/1", "/v1/nothing"}
	for _, p := range paths {
		for _, c := range []struct {
			name   string
			client *http.Client
			token  string
			header string
			status int
			msg    string
		}{
			{"no token", nil, "", "", 401, "authentication required"},
			{"wrong token", nil, wrong, "", 401, "invalid or revoked token"},
			{"revoked token", nil, revoked, "", 401, "invalid or revoked token"},
			{"not bearer", nil, "", "Basic YWxpY2U6eA==", 401, "not \"Bearer TOKEN\""},
			{"agent certificate", agent, "", "", 403, "client/client-a may not"},
			{"agent certificate with a token", agent, e.token, "", 403, "client/client-a may not"},
		} {
			req, _ := http.NewRequest(http.MethodGet, e.addr+p, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			cl := c.client
			if cl == nil {
				cl = e.client
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, p, err)
			}
			var body errorBody
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != c.status || err != nil || !strings.Contains(body.Error, c.msg) {
				t.Errorf("%s, GET %s: %d %q (%v), want %d with %q", c.name, p, resp.StatusCode, body.Error, err, c.status, c.msg)
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s, GET %s: 401 without WWW-Authenticate", c.name, p)
			}
		}
		want := http.StatusOK
		if p == "/v1/jobs/1" || p == "/v1/nothing" {
			want = http.StatusNotFound
		}
		if code, body, _ := e.do(nil, http.MethodGet, p, e.token, nil); code != want {
			t.Errorf("token, GET %s: %d, want %d: %s", p, code, want, body)
		}
		if code, body, _ := e.do(admin, http.MethodGet, p, "", nil); code != want {
			t.Errorf("admin certificate, GET %s: %d, want %d: %s", p, code, want, body)
		}
	}
	// Every request was logged, with its status and caller, and no token.
	logs := e.logs.String()
	for _, tok := range []string{e.token, revoked, wrong} {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[len(tok)-20:]) {
			t.Errorf("a token is in the log")
		}
	}
	for _, want := range []string{`"msg":"api request","method":"GET","path":"/v1/jobs","status":401`, `"status":403`, `"caller":"test"`, `"caller":"admin/alice"`, `"duration":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %s", want)
		}
	}
	// A certificate of another CA does not even get a TLS session.
	otherCA, err := pki.InitCA(filepath.Join(t.TempDir(), "other"), 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := pki.AdminHost("mallory")
	if _, err := otherCA.Issue(h, 2, time.Now(), false); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(otherCA.Dir, "admin.mallory")
	mallory, err := tls.LoadX509KeyPair(base+".crt", base+".key")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.addr+"/v1/health", nil)
	// Sent even though the server asks for certificates of its own CA (a
	// Go client would otherwise send none and get 401).
	foreign := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.caPool, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }}}}
	if resp, err := foreign.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("an admin certificate of another CA got %d, want a TLS refusal", resp.StatusCode)
	}
}

// Bad requests are refused with 400 naming the field; nothing runs.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 2, SmallFiles: 5})
	for _, c := range []struct {
		body string
		want string
	}{
		{``, "the body is empty"},
		{`{"kind": "backup"`, "not a job request"},
		{`not json`, "not JSON"},
		{`{"kind": "dance"}`, "field kind: \"dance\""},
		{`{}`, "field kind: missing"},
		{`{"kind": "backup", "sources": ["nope"]}`, "field sources: no source \"nope\""},
		{`{"kind": "backup", "sources": "S"}`, "field sources:"},
		{`{"kind": "backup", "level": "sideways"}`, "field level:"},
		{`{"kind": "backup", "colour": "red"}`, "field colour: unknown field"},
		{`{"kind": "restore", "source": "S"}`, "field target:"},
		{`{"kind": "restore", "source": "S", "target": "rel/dir"}`, "field target:"},
		{`{"kind": "restore", "target": "/tmp/x"}`, "field object:"},
		{`{"kind": "restore", "source": "T", "target": "/tmp/x"}`, "field source: no source \"T\""},
		{`{"kind": "restore", "source": "S", "target": "/tmp/x", "at": "yesterday"}`, "field at:"},
		{`{"kind": "copy"}`, "field copy_job:"},
		{`{"kind": "copy", "copy_job": "nope"}`, "field copy_job: no copy job"},
		{`{"kind": "copy", "pool": "nope", "all": true}`, "field pool: no pool"},
		{`{"kind": "copy", "pool": "c"}`, "field object: select what to copy"},
		{`{"kind": "verify", "pools": ["q"]}`, "field pools: no pool \"q\""},
		{`{"kind": "backup"} {"kind": "prune"}`, "more than one JSON value"},
		{`{"kind": "backup", "wait_seconds": -1}`, "field wait_seconds:"},
	} {
		code, body, _ := e.do(nil, http.MethodPost, "/v1/jobs", e.token, c.body)
		var eb errorBody
		if code != http.StatusBadRequest || json.Unmarshal(body, &eb) != nil || !strings.Contains(eb.Error, c.want) {
			t.Errorf("POST %s: %d %s, want 400 with %q", c.body, code, body, c.want)
		}
	}
	// A restore of an object the catalog lacks is refused by the job
	// (jobs.ErrUsage) before POST answers: 400, the request is wrong.
	code, body, _ := e.do(nil, http.MethodPost, "/v1/jobs", e.token, JobRequest{Kind: KindRestore, Object: "0123456789abcdef", Target: filepath.Join(t.TempDir(), "r")})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "refused: usage: no object") {
		t.Errorf("restore of an unknown object: %d %s, want 400", code, body)
	}
	for _, p := range []string{"/v1/jobs/99", "/v1/jobs/99/follow", "/v1/objects/0123456789abcdef", "/v1/objects/0123456789abcdef/files"} {
		e.get(p, http.StatusNotFound, nil)
	}
	e.get("/v1/jobs/abc", http.StatusBadRequest, nil)
	e.get("/v1/volumes?pool=nope", http.StatusBadRequest, nil)
	e.get("/v1/jobs?limit=0", http.StatusBadRequest, nil)
	var list JobList
	e.get("/v1/jobs", http.StatusOK, &list)
	for _, j := range list.Jobs {
		if j.State == StateRunning {
			t.Errorf("a job still runs after bad requests only: %+v", j)
		}
	}
}

// A backup started over the API, followed to its end; its objects,
// copies, files and volumes then listed; a restore of it matches the
// tree.
func TestBackupFollowRestore(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 3, SmallFiles: 40, LargeFiles: 1, LargeSize: 3 << 20})
	id := e.startJob(JobRequest{Kind: KindBackup})
	req, _ := http.NewRequest(http.MethodGet, e.addr+jobURL(id)+"/follow", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var lines [][]byte
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	resp.Body.Close()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) < 1 {
		t.Fatal("follow: no lines")
	}
	for _, l := range lines[:len(lines)-1] {
		var fl FollowLine
		if err := json.Unmarshal(l, &fl); err != nil || fl.Job != id || fl.State != StateRunning {
			t.Errorf("follow line %s: %v", l, err)
		}
	}
	var last struct {
		JobView
		Result jobs.BackupResult `json:"result"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
		t.Fatalf("last line %s: %v", lines[len(lines)-1], err)
	}
	if last.State != jobs.JobSuccess || last.Result.State != jobs.JobSuccess || last.CatalogJob == 0 || last.CatalogJob != last.Result.Job {
		t.Fatalf("backup ended %s (catalog job %d): %s", last.State, last.CatalogJob, lines[len(lines)-1])
	}
	if last.Progress == nil || len(last.Progress.Devices) != 2 || last.Progress.Devices[0].Bytes == 0 {
		t.Errorf("the final progress has no device bytes: %+v", last.Progress)
	}
	obj := last.Result.Objects[0].Object

	var objs struct{ Objects []jobs.Object }
	e.get("/v1/objects?source=S", http.StatusOK, &objs)
	if len(objs.Objects) != 1 || objs.Objects[0].ID != obj {
		t.Fatalf("objects: %+v, want %s", objs, obj)
	}
	e.get("/v1/objects?source=nope", http.StatusOK, &objs)
	if len(objs.Objects) != 0 {
		t.Errorf("objects of source nope: %+v", objs)
	}
	var o jobs.Object
	e.get("/v1/objects/"+obj[:8], http.StatusOK, &o)
	if o.ID != obj || o.State != jobs.ObjectComplete {
		t.Errorf("object by prefix: %+v", o)
	}
	var cs struct{ Copies []jobs.CopyInfo }
	e.get("/v1/objects/"+obj+"/copies", http.StatusOK, &cs)
	if len(cs.Copies) != 2 || cs.Copies[0].State != jobs.CopyGood || cs.Copies[1].Pool != "m" {
		t.Errorf("copies: %+v", cs)
	}
	// Every file, page by page.
	var all []jobs.File
	after := int64(-1)
	for pages := 0; ; pages++ {
		var p FilePage
		e.get("/v1/objects/"+obj+"/files?limit=7&after="+itoa(after), http.StatusOK, &p)
		if len(p.Files) > 7 || pages > 100 {
			t.Fatalf("page of %d files (page %d)", len(p.Files), pages)
		}
		all = append(all, p.Files...)
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if int64(len(all)) != o.Files {
		t.Errorf("%d files over the pages, the object has %d", len(all), o.Files)
	}
	seen := map[string]bool{}
	for _, f := range all {
		if seen[f.Path] {
			t.Errorf("%s twice over the pages", f.Path)
		}
		seen[f.Path] = true
	}
	prefix := all[len(all)-1].Path
	var pp FilePage
	e.get("/v1/objects/"+obj+"/files?path="+prefix, http.StatusOK, &pp)
	if len(pp.Files) == 0 || len(pp.Files) >= len(all) {
		t.Errorf("files under %s: %d of %d", prefix, len(pp.Files), len(all))
	}
	for _, f := range pp.Files {
		if !strings.HasPrefix(f.Path, prefix) {
			t.Errorf("files?path=%s lists %s", prefix, f.Path)
		}
	}
	var vols struct{ Volumes []jobs.Volume }
	e.get("/v1/volumes?pool=p", http.StatusOK, &vols)
	if len(vols.Volumes) != 1 || vols.Volumes[0].Pool != "p" {
		t.Errorf("volumes of p: %+v", vols)
	}
	var pools struct{ Pools []PoolView }
	e.get("/v1/pools", http.StatusOK, &pools)
	if len(pools.Pools) != 3 || pools.Pools[0].Totals == nil || pools.Pools[0].Totals.Volumes != 1 {
		t.Errorf("pools: %+v", pools)
	}
	var list JobList
	e.get("/v1/jobs", http.StatusOK, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != id || list.Jobs[0].State != jobs.JobSuccess {
		t.Errorf("jobs: %+v", list.Jobs)
	}
	hist, _ := json.Marshal(list.History)
	if !strings.Contains(string(hist), `"kind":"backup"`) {
		t.Errorf("history has no backup: %s", hist)
	}

	// Restore copy 2 and compare.
	target := filepath.Join(t.TempDir(), "r")
	rid := e.startJob(JobRequest{Kind: KindRestore, Source: "S", Copy: 2, Target: target})
	v := e.wait(rid)
	if v.State != jobs.JobSuccess || v.Progress == nil || v.Progress.Total == 0 || v.Progress.Done < v.Progress.Total {
		t.Fatalf("restore: %+v", v)
	}
	diffs, err := testtree.Compare(filepath.Join(e.dir, "data", "S"), filepath.Join(target, e.dir, "data", "S"))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("restore differs:\n%s", strings.Join(diffs, "\n"))
	}
	// Verify and a copy into pool c; prune (no retention: nothing to do).
	for _, r := range []JobRequest{{Kind: KindVerify, All: true}, {Kind: KindCopy, Pool: "c", All: true}, {Kind: KindPrune, DryRun: true}} {
		v := e.wait(e.startJob(r))
		if v.State != jobs.JobSuccess {
			t.Errorf("%s: %+v", r.Kind, v)
		}
	}
	e.get("/v1/objects/"+obj+"/copies", http.StatusOK, &cs)
	if len(cs.Copies) != 3 || cs.Copies[2].Pool != "c" {
		t.Errorf("copies after the copy job: %+v", cs)
	}

	var topo Topology
	e.get("/v1/topology", http.StatusOK, &topo)
	if len(topo.MediaAgents) != 2 || len(topo.Chains) != 1 || len(topo.Chains[0].Links) != 2 || topo.Chains[0].Links[1].Pool != "m" || len(topo.Hosts) != 1 {
		t.Errorf("topology: %+v", topo)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
