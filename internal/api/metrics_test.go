package api

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

// gate holds the writes of a device: each block written takes a token;
// open lets every write through.
type gate struct {
	tokens chan struct{}
	once   sync.Once
	open   chan struct{}
}

func newGate() *gate { return &gate{tokens: make(chan struct{}, 1<<16), open: make(chan struct{})} }

func (g *gate) let(n int) {
	for range n {
		g.tokens <- struct{}{}
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) wait() {
	select {
	case <-g.tokens:
	case <-g.open:
	}
}

// gatedLib is a library whose media write through a gate.
type gatedLib struct {
	device.Library
	g *gate
}

func (l *gatedLib) Unwrap() device.Library { return l.Library }

func (l *gatedLib) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	m, ref, err := l.Library.Create(ctx, label, blockSize)
	if err != nil {
		return nil, ref, err
	}
	return &gatedMedium{Medium: m, g: l.g}, ref, nil
}

type gatedMedium struct {
	device.Medium
	g *gate
}

func (m *gatedMedium) WriteBlock(b []byte) error {
	m.g.wait()
	return m.Medium.WriteBlock(b)
}

// gateDevice holds the writes of the device named name until the gate
// lets them through.
func gateDevice(t *testing.T, name string) *gate {
	g := newGate()
	undo := devices.SetTestWrap(func(_ config.Pool, d config.Device, lib device.Library) device.Library {
		if d.Name != name {
			return lib
		}
		return &gatedLib{Library: lib, g: g}
	})
	t.Cleanup(func() { g.release(); undo() })
	return g
}

// scrape reads /metrics into name{labels} → value.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	body := e.get("/metrics", http.StatusOK, nil)
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

const (
	bma0Bytes   = `daisy_device_written_bytes_total{copy="1",device="tape0",host="%s",media_agent="bma0"}`
	bma0Records = `daisy_device_records_total{copy="1",device="tape0",host="%s",media_agent="bma0"}`
	mma0Records = `daisy_device_records_total{copy="2",device="tape1",host="%s",media_agent="mma0"}`
)

// Acceptance 6 (the metrics' part): during a backup, two scrapes of
// /metrics show the device's bytes rising and the buffer's fill; a job
// that conflicts on the pools is refused with 409 meanwhile; the counters
// stay once the job ended, and the job is counted.
func TestMetricsDuringBackup(t *testing.T) {
	g := gateDevice(t, "tape0")
	e := newEnv(t, testtree.Spec{Seed: 5, SmallFiles: 20, LargeFiles: 2, LargeSize: 6 << 20})
	defer g.release() // before the env's cleanup waits for the job
	key := strings.Replace(bma0Bytes, "%s", localHost(e.cfg), 1)
	recs := strings.Replace(bma0Records, "%s", localHost(e.cfg), 1)
	before := e.scrape()
	if before[`daisy_buffer_capacity_bytes{buffer="bma0.B1",host="`+localHost(e.cfg)+`"}`] != 4<<20 {
		t.Fatalf("no buffer capacity before the job: %v", before)
	}
	if _, ok := before["go_goroutines"]; !ok {
		t.Error("no go collector metrics")
	}
	id := e.startJob(JobRequest{Kind: KindBackup})
	g.let(20) // the label and some blocks
	poll := func(what string, ok func(m map[string]float64) bool) map[string]float64 {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			m := e.scrape()
			if ok(m) {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen in a minute; last scrape: %v", what, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	used := `daisy_buffer_used_bytes{buffer="bma0.B1",host="` + localHost(e.cfg) + `"}`
	first := poll("bytes written and the buffer filling", func(m map[string]float64) bool { return m[key] > 0 && m[used] > 0 })
	if first[recs] <= 0 {
		t.Errorf("%s = %v once bma0 wrote %v bytes", recs, first[recs], first[key])
	}
	if first[`daisy_job_running{kind="backup"}`] != 1 {
		t.Errorf("daisy_job_running{kind=backup} = %v during the backup", first[`daisy_job_running{kind="backup"}`])
	}
	// The pools are the running job's: another backup is refused.
	code, body, _ := e.do(nil, http.MethodPost, "/v1/jobs", e.token, JobRequest{Kind: KindBackup})
	if code != http.StatusConflict || !strings.Contains(string(body), "in use") {
		t.Errorf("a second backup meanwhile: %d %s, want 409", code, body)
	}
	g.let(20)
	second := poll("the device's bytes rising", func(m map[string]float64) bool { return m[key] > first[key] })
	var v JobView
	e.get(jobURL(id), http.StatusOK, &v)
	if v.State != StateRunning {
		t.Fatalf("the backup ended before the gate opened: %+v", v)
	}
	if second[recs] < first[recs] {
		t.Errorf("bma0's records fell during the backup: %v then %v", first[recs], second[recs])
	}
	t.Logf("bma0 wrote %.0f then %.0f bytes, %.0f then %.0f records; buffer fill %.0f", first[key], second[key], first[recs], second[recs], first[used])
	g.release()
	v = e.wait(id)
	if v.State != jobs.JobSuccess {
		t.Fatalf("backup: %+v", v)
	}
	after := e.scrape()
	if after[key] < second[key] || after[`daisy_copy_written_bytes_total{copy="1"}`] != after[key] {
		t.Errorf("after the job: %v (copy 1 %v), during it %v", after[key], after[`daisy_copy_written_bytes_total{copy="1"}`], second[key])
	}
	if after[`daisy_jobs_total{kind="backup",state="success"}`] != 1 || after[`daisy_job_duration_seconds_count{kind="backup"}`] != 1 {
		t.Errorf("jobs counted: %v", after)
	}
	if after[`daisy_job_running{kind="backup"}`] != 0 || after[used] != 0 {
		t.Errorf("after the job: running %v, buffer %v", after[`daisy_job_running{kind="backup"}`], after[used])
	}
	// The refused backup is counted as refused.
	if after[`daisy_jobs_total{kind="backup",state="refused"}`] != 1 {
		t.Errorf("refused jobs: %v", after[`daisy_jobs_total{kind="backup",state="refused"}`])
	}
}

// The records each media agent wrote, and each copy: after two backups,
// daisy_device_records_total of bma0 (copy 1) and mma0 (copy 2) are the
// records of the extents the catalog holds of each copy of both objects,
// and daisy_copy_records_total of each copy the same; the records of the
// ended jobs add up.
func TestMetricsRecordsPerDeviceAndCopy(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 8, SmallFiles: 40, LargeFiles: 2, LargeSize: 1 << 20})
	host := localHost(e.cfg)
	for range 2 {
		if v := e.wait(e.startJob(JobRequest{Kind: KindBackup})); v.State != jobs.JobSuccess {
			t.Fatalf("backup: %+v", v)
		}
	}
	ctx := context.Background()
	objs, err := e.cat.Objects(ctx, catalog.ObjectFilter{Source: "S"})
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects of S: %v %+v", err, objs)
	}
	var want [3]float64 // by copy number
	for _, o := range objs {
		for c := 1; c <= 2; c++ {
			xs, err := e.cat.Extents(ctx, o.ID, c)
			if err != nil || len(xs) == 0 {
				t.Fatalf("extents of copy %d of %s: %v %+v", c, o.ID, err, xs)
			}
			for _, x := range xs {
				want[c] += float64(x.Records)
			}
		}
	}
	m := e.scrape()
	for c, k := range map[int]string{1: bma0Records, 2: mma0Records} {
		k = strings.Replace(k, "%s", host, 1)
		if m[k] != want[c] || want[c] == 0 {
			t.Errorf("%s = %v, want %v (the records of copy %d's extents)", k, m[k], want[c], c)
		}
		if ck := `daisy_copy_records_total{copy="` + strconv.Itoa(c) + `"}`; m[ck] != want[c] {
			t.Errorf("%s = %v, want %v", ck, m[ck], want[c])
		}
	}
}

// The agents' connections come from the Fleet.
func TestMetricsFleet(t *testing.T) {
	e := newEnv(t, testtree.Spec{Seed: 6, SmallFiles: 2})
	e.api.opts.Fleet = fleetOf{{Name: "client-a", Role: "client", Connected: true}, {Name: "mh1", Role: "media-host"}}
	m := e.scrape()
	if m[`daisy_agent_connections{host="client-a",role="client"}`] != 1 || m[`daisy_agent_connections{host="mh1",role="media-host"}`] != 0 {
		t.Errorf("agent connections: %v", m)
	}
	if _, ok := m[`daisy_agent_connections{host="mh1",role="media-host"}`]; !ok {
		t.Error("no daisy_agent_connections of mh1")
	}
}

type fleetOf []HostState

func (f fleetOf) Hosts() []HostState { return f }
