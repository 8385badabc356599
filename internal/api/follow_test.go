package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// A running backup followed to its end: lines of the running job with its
// progress rising, then the ended job with its result.
func TestFollowRunningJob(t *testing.T) {
	g := gateDevice(t, "tape0")
	e := newEnv(t, testtree.Spec{Seed: 8, SmallFiles: 10, LargeFiles: 1, LargeSize: 6 << 20})
	defer g.release() // before the env's cleanup waits for the job
	id := e.startJob(JobRequest{Kind: KindBackup, Sources: []string{"S"}})
	req, _ := http.NewRequest(http.MethodGet, e.addr+jobURL(id)+"/follow", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	next := func() []byte {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("follow ended early: %v", sc.Err())
		}
		return sc.Bytes()
	}
	var running []FollowLine
	var prev int64 = -1
	for len(running) < 3 {
		var fl FollowLine
		if err := json.Unmarshal(next(), &fl); err != nil || fl.Job != id || fl.State != StateRunning {
			t.Fatalf("line %d: %+v %v", len(running), fl, err)
		}
		if fl.Progress != nil && len(fl.Progress.Devices) > 0 {
			b := fl.Progress.Devices[0].Bytes
			if b < prev {
				t.Errorf("device bytes went down: %d after %d", b, prev)
			}
			prev = b
		}
		running = append(running, fl)
		g.let(10) // the device writes a little between the lines
	}
	if prev <= 0 {
		t.Errorf("no device bytes in the running lines: %+v", running)
	}
	// The catalog's ID of a running backup is known before it ends.
	var view JobView
	e.get(jobURL(id), http.StatusOK, &view)
	if view.State != StateRunning || view.CatalogJob == 0 {
		t.Errorf("running job: state %s, catalog job %d", view.State, view.CatalogJob)
	}
	g.release()
	var last struct {
		JobView
		Result *jobs.BackupResult `json:"result"`
	}
	for {
		line := next()
		var probe struct{ ID int64 }
		if json.Unmarshal(line, &probe) == nil && probe.ID == id {
			if err := json.Unmarshal(line, &last); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if last.State != jobs.JobSuccess || last.Result == nil || last.Result.State != jobs.JobSuccess || last.Progress.Devices[0].Bytes < prev {
		t.Fatalf("last line: %+v", last)
	}
	if sc.Scan() {
		t.Errorf("a line after the ended job: %s", sc.Bytes())
	}
}

// Cancelling the API's job context (the server's SIGTERM) stops a
// running job: it ends interrupted, in the API and in the catalog.
func TestJobsContextCancelled(t *testing.T) {
	g := gateDevice(t, "tape0")
	e := newEnv(t, testtree.Spec{Seed: 9, SmallFiles: 10, LargeFiles: 1, LargeSize: 6 << 20})
	defer g.release() // before the env's cleanup waits for the job
	id := e.startJob(JobRequest{Kind: KindBackup})
	g.let(5)
	e.cancel()
	g.release()
	v := e.wait(id)
	if v.State != jobs.JobInterrupted {
		t.Fatalf("after the cancel: %s %s", v.State, v.Error)
	}
	onlyCatalogJobInterrupted(t, e, v)
}

// POST /v1/jobs/{id}/cancel stops a running job: it ends interrupted, in
// the API and in the catalog, and the other jobs go on; a job that ended
// is 409, an unknown one 404, and the call needs credentials.
func TestCancelJob(t *testing.T) {
	g := gateDevice(t, "tape0")
	e := newEnv(t, testtree.Spec{Seed: 10, SmallFiles: 10, LargeFiles: 1, LargeSize: 6 << 20})
	defer g.release()
	id := e.startJob(JobRequest{Kind: KindBackup})
	g.let(3)
	if code, body, _ := e.do(nil, http.MethodPost, jobURL(id)+"/cancel", "", nil); code != http.StatusUnauthorized {
		t.Errorf("cancel without a token: %d %s", code, body)
	}
	code, body, _ := e.do(nil, http.MethodPost, jobURL(id)+"/cancel", e.token, nil)
	if code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	g.release()
	v := e.wait(id)
	if v.State != jobs.JobInterrupted || !strings.Contains(v.Error+fmt.Sprint(v.Result), "cancel") {
		t.Fatalf("after the cancel: %s, error %q, result %v", v.State, v.Error, v.Result)
	}
	onlyCatalogJobInterrupted(t, e, v)
	if code, body, _ := e.do(nil, http.MethodPost, jobURL(id)+"/cancel", e.token, nil); code != http.StatusConflict || !strings.Contains(string(body), "has ended") {
		t.Errorf("cancel of an ended job: %d %s", code, body)
	}
	if code, body, _ := e.do(nil, http.MethodPost, jobURL(9999)+"/cancel", e.token, nil); code != http.StatusNotFound {
		t.Errorf("cancel of an unknown job: %d %s", code, body)
	}
	// The next job runs.
	if v := e.wait(e.startJob(JobRequest{Kind: KindBackup})); v.State != jobs.JobSuccess {
		t.Errorf("the job after the cancelled one: %s %s", v.State, v.Error)
	}
}

// onlyCatalogJobInterrupted checks that the catalog's history holds one
// job, v's, and that it is interrupted.
func onlyCatalogJobInterrupted(t *testing.T, e *env, v JobView) {
	t.Helper()
	var hist JobList
	e.get("/v1/jobs", http.StatusOK, &hist)
	data, _ := json.Marshal(hist.History)
	var cj []struct {
		ID    int64
		State string
	}
	_ = json.Unmarshal(data, &cj)
	if len(cj) != 1 || cj[0].State != jobs.JobInterrupted || cj[0].ID != v.CatalogJob {
		t.Errorf("the catalog's job: %s (the API's: catalog job %d)", data, v.CatalogJob)
	}
}
