package main

// The kill suite (issue 8, acceptance 1): the real daisy binary, built
// here, runs backups (full and incremental) and the copy job of figure 5
// (examples/figure5.yaml, which holds figure 2) on small data, and is
// stopped at random times across each job's duration: by kill -9, and
// by SIGINT and SIGTERM. After each stop the next command must leave no
// job running, no copy and no object writing; every copy that is good
// must read back with its object's hash and every new backup restore
// identical to its source as it was; the next job must succeed; and at
// the end verify --all must find nothing.
//
//	DAISY_KILL_POINTS   kill -9 points that land while a job runs (default 50)
//	DAISY_KILL_SIGNALS  SIGINT points, and as many SIGTERM points, likewise (default 4)
//	DAISY_KILL_SEED     the seed of the kill times and data changes (default: the clock)
//
// The seed is printed at the start and with every failure, so a failure
// reproduces with DAISY_KILL_SEED=N. go test -short skips the suite.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"daisy/internal/catalog"
	"daisy/internal/jobs"
	"daisy/internal/testtree"
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

// buildDaisy builds the daisy binary into dir.
func buildDaisy(t *testing.T, dir string) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go tool to build daisy with: %v", err)
		}
	}
	bin := filepath.Join(dir, "daisy")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// suite is the state of one kill suite run.
type suite struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	bin, cfg string
	dir      string
	gen      int
	snaps    map[int]map[string]map[string]testtree.Entry // generation → source → tree
	objGen   map[string]int                               // object → generation of its source data
	checked  map[string]bool                              // "object/copy" read back already
	restored map[string]bool                              // objects restored already
	est      map[string]time.Duration                     // how long an uncut job of each kind takes
	// figures
	outcomes               map[string]int
	landed                 map[syscall.Signal]int // stops that came while the job ran
	reapedJobs, reapedCopy int
	copiesRead, restores   int
}

func (s *suite) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("(DAISY_KILL_SEED=%d) "+format, append([]any{s.seed}, args...)...)
}

// daisy runs the binary to its end.
func (s *suite) daisy(args ...string) (int, string, string) {
	s.t.Helper()
	cmd := exec.Command(s.bin, append([]string{"-c", s.cfg, "--no-progress"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	s.fatalf("run daisy %v: %v", args, err)
	return 0, "", ""
}

func (s *suite) daisyJSON(v any, args ...string) {
	s.t.Helper()
	code, out, errs := s.daisy(append([]string{"--json"}, args...)...)
	if code != 0 {
		s.fatalf("daisy %v: exit %d\n%s%s", args, code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.fatalf("daisy %v: %v\n%s", args, err, out)
	}
}

var sigName = map[syscall.Signal]string{syscall.SIGKILL: "kill -9", syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}

var jobArgs = map[string][]string{
	"full":        {"backup", "--level", "full"},
	"incremental": {"backup", "--level", "incremental"},
	"copy":        {"copy", "--job", "figure5"},
}

// mutate changes every source a little for a new generation and takes
// the snapshots a restore of it is compared with.
func (s *suite) mutate() {
	s.t.Helper()
	s.gen++
	s.snaps[s.gen] = map[string]map[string]testtree.Entry{}
	for i := 1; i <= 5; i++ {
		src := filepath.Join(s.dir, "data", fmt.Sprintf("D%d", i))
		live := filepath.Join(src, "live")
		if err := os.MkdirAll(live, 0o755); err != nil {
			s.fatalf("%v", err)
		}
		if s.gen > 1 {
			p := filepath.Join(live, fmt.Sprintf("g%d", s.gen))
			b := make([]byte, s.rng.IntN(200<<10))
			for j := range b {
				b[j] = byte(s.rng.Uint32())
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				s.fatalf("%v", err)
			}
			os.Remove(filepath.Join(live, fmt.Sprintf("g%d", s.gen-3)))
			if err := os.WriteFile(filepath.Join(live, "gen"), []byte(strconv.Itoa(s.gen)), 0o644); err != nil {
				s.fatalf("%v", err)
			}
		}
		snap, err := testtree.Snapshot(src)
		if err != nil {
			s.fatalf("%v", err)
		}
		s.snaps[s.gen][fmt.Sprintf("D%d", i)] = snap
	}
}

// catalogState is what the next command lists.
type catalogState struct {
	jobs    []catalog.Job
	copies  []catalog.Copy
	objects []catalog.Object
}

// next runs the commands that follow a stop and checks that nothing is
// left running or writing. ls jobs is the first command after the stop:
// it is the one that finds the interrupted jobs.
func (s *suite) next(what string) catalogState {
	s.t.Helper()
	var st catalogState
	s.daisyJSON(&st.jobs, "ls", "jobs", "--limit", "0")
	s.daisyJSON(&st.copies, "ls", "copies")
	s.daisyJSON(&st.objects, "ls", "objects")
	for _, j := range st.jobs {
		if j.State == catalog.JobRunning {
			s.fatalf("%s: job %d (%s) still running: %+v", what, j.ID, j.Kind, j)
		}
	}
	for _, c := range st.copies {
		if c.State == catalog.CopyWriting {
			s.fatalf("%s: copy %s/%d still writing", what, c.ObjectID, c.Number)
		}
	}
	for _, o := range st.objects {
		if o.State == catalog.ObjectWriting {
			s.fatalf("%s: object %s (%s) still writing", what, o.ID, o.Source)
		}
		if _, ok := s.objGen[o.ID]; !ok {
			s.objGen[o.ID] = s.gen
		}
	}
	return st
}

// checkGood reads back every good copy not read yet and checks its hash,
// and restores every complete object with a good copy not restored yet
// (its whole chain) and compares it with its source as it was.
func (s *suite) checkGood(what string, st catalogState, restoreAll bool) {
	s.t.Helper()
	objs := map[string]catalog.Object{}
	for _, o := range st.objects {
		objs[o.ID] = o
	}
	hasGood := map[string]bool{}
	for _, c := range st.copies {
		if c.State != catalog.CopyGood {
			continue
		}
		hasGood[c.ObjectID] = true
		k := fmt.Sprintf("%s/%d", c.ObjectID, c.Number)
		if s.checked[k] {
			continue
		}
		s.checked[k] = true
		o := objs[c.ObjectID]
		if o.State != catalog.ObjectComplete {
			s.fatalf("%s: copy %s is good, its object is %s", what, k, o.State)
		}
		cmd := exec.Command(s.bin, "-c", s.cfg, "cat", c.ObjectID, "--copy", strconv.Itoa(c.Number))
		h := sha256.New()
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = h, &errb
		if err := cmd.Run(); err != nil {
			s.fatalf("%s: cat %s: %v\n%s", what, k, err, errb.String())
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != o.Hash {
			s.fatalf("%s: copy %s reads back as %s, the object's hash is %s", what, k, got, o.Hash)
		}
		s.copiesRead++
	}
	var todo []catalog.Object
	for _, o := range st.objects {
		if o.State == catalog.ObjectComplete && hasGood[o.ID] && !s.restored[o.ID] {
			todo = append(todo, o)
		}
		if o.State == catalog.ObjectComplete && !hasGood[o.ID] {
			s.fatalf("%s: object %s (%s) is complete without a good copy", what, o.ID, o.Source)
		}
	}
	if !restoreAll && len(todo) > 1 {
		// Of the objects of an uncut job, one at random: the others are
		// read back above.
		for _, o := range todo {
			s.restored[o.ID] = true
		}
		todo = []catalog.Object{todo[s.rng.IntN(len(todo))]}
	}
	for _, o := range todo {
		s.restored[o.ID] = true
		target := filepath.Join(s.dir, "restore")
		os.RemoveAll(target)
		code, out, errs := s.daisy("restore", "--object", o.ID, "--to", target)
		if code != 0 {
			s.fatalf("%s: restore of %s (%s %s): exit %d\n%s%s", what, o.ID, o.Source, o.Level, code, out, errs)
		}
		src := filepath.Join(s.dir, "data", o.Source)
		diffs, err := testtree.CompareSnapshot(s.snaps[s.objGen[o.ID]][o.Source], filepath.Join(target, src))
		if err != nil {
			s.fatalf("%v", err)
		}
		if len(diffs) > 0 {
			if len(diffs) > 10 {
				diffs = diffs[:10]
			}
			s.fatalf("%s: restore of %s (%s %s, generation %d) differs:\n%s", what, o.ID, o.Source, o.Level, s.objGen[o.ID], strings.Join(diffs, "\n"))
		}
		s.restores++
		os.RemoveAll(target)
	}
}

// uncut runs a job of kind to its end; it must succeed.
func (s *suite) uncut(kind, what string) {
	s.t.Helper()
	start := time.Now()
	code, out, errs := s.daisy(jobArgs[kind]...)
	if code != 0 {
		s.fatalf("%s: the next %s job: exit %d\n%s%s", what, kind, code, out, errs)
	}
	d := time.Since(start)
	if old, ok := s.est[kind]; ok {
		d = (old + d) / 2
	}
	s.est[kind] = d
}

// point runs one job of kind and stops it with sig after a random time
// across its expected duration, then checks what the next commands find.
func (s *suite) point(n int, kind string, sig syscall.Signal) {
	s.t.Helper()
	what := fmt.Sprintf("point %d (%s, %s)", n, kind, sigName[sig])
	if kind != "copy" {
		s.mutate()
	}
	var before []catalog.Job
	s.daisyJSON(&before, "ls", "jobs", "--limit", "1")
	var lastJob int64
	if len(before) > 0 {
		lastJob = before[0].ID
	}
	est := s.est[kind]
	if est == 0 {
		est = s.est["full"]
	}
	// kill -9 anywhere in the job and a little after it; SIGINT and
	// SIGTERM while it runs, where they have something to stop.
	span := 1.0
	if sig != syscall.SIGKILL {
		span = 0.9
	}
	delay := time.Duration(s.rng.Float64() * span * float64(est))
	cmd := exec.Command(s.bin, append([]string{"-c", s.cfg, "--no-progress"}, jobArgs[kind]...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		s.fatalf("%s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	signalled := false
	select {
	case <-exited:
	case <-time.After(delay):
		signalled = cmd.Process.Signal(sig) == nil
	}
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-exited
		s.fatalf("%s: the job did not end within 2 minutes of %v", what, sig)
	}
	ps := cmd.ProcessState
	ws := ps.Sys().(syscall.WaitStatus)
	outcome := "ended before the signal"
	switch {
	case !signalled:
	case ws.Signaled():
		outcome = "killed by " + sigName[ws.Signal()]
		s.landed[sig]++
	case ps.ExitCode() == 0:
		outcome = "exit 0: the signal came after the work"
	default:
		outcome = fmt.Sprintf("stopped, exit %d", ps.ExitCode())
		s.landed[sig]++
	}
	s.outcomes[fmt.Sprintf("%-11s %-7s %s", kind, sigName[sig], outcome)]++

	st := s.next(what)
	for _, j := range st.jobs {
		if j.ID <= lastJob {
			continue
		}
		reaped := strings.Contains(j.Error, "ended before it finished")
		if reaped {
			s.reapedJobs++
		}
		switch {
		case signalled && sig != syscall.SIGKILL && !ws.Signaled() && reaped:
			// The process handled the signal: it must have recorded
			// the job's end itself.
			s.fatalf("%s: the process exited (%d) on %v but left job %d running: %s", what, ps.ExitCode(), sig, j.ID, j.Error)
		case signalled && ps.ExitCode() == 0 && j.State != catalog.JobSuccess:
			s.fatalf("%s: exit 0 after %v, but job %d is %s", what, sig, j.ID, j.State)
		case !signalled && j.State != catalog.JobSuccess:
			s.fatalf("%s: the job ended before the signal, job %d is %s: %s", what, j.ID, j.State, j.Error)
		}
		for _, c := range st.copies {
			if c.JobID == j.ID && reaped && strings.Contains(c.Error, "ended before it finished") {
				s.reapedCopy++
			}
		}
	}
	s.checkGood(what, st, true)
	s.uncut(kind, what)
	st = s.next(what + ", after the next job")
	s.checkGood(what+", after the next job", st, false)
}

func TestKillSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill suite runs without -short (DAISY_KILL_POINTS, DAISY_KILL_SIGNALS set its size)")
	}
	kills := envInt(t, "DAISY_KILL_POINTS", 50)
	sigs := envInt(t, "DAISY_KILL_SIGNALS", 4)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("DAISY_KILL_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("DAISY_KILL_SEED=%q: %v", v, err)
		}
	}
	t.Logf("kill suite: %d kill -9 points, %d SIGINT and %d SIGTERM points, DAISY_KILL_SEED=%d", kills, sigs, sigs, seed)
	began := time.Now()
	dir := t.TempDir()
	s := &suite{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5deece66d)), dir: dir,
		bin:   buildDaisy(t, dir),
		snaps: map[int]map[string]map[string]testtree.Entry{}, objGen: map[string]int{},
		checked: map[string]bool{}, restored: map[string]bool{}, est: map[string]time.Duration{},
		outcomes: map[string]int{}, landed: map[syscall.Signal]int{},
	}
	text, err := os.ReadFile(filepath.Join("..", "..", "examples", "figure5.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Small buffers, so that the media agents interleave the sources.
	cfgText := strings.Replace(string(text), "buffer_size: 32MiB", "buffer_size: 1MiB", 1)
	s.cfg = filepath.Join(dir, "daisy.yaml")
	if err := os.WriteFile(s.cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		spec := testtree.Spec{Seed: uint64(i), SmallFiles: 40, LargeFiles: 1, LargeSize: 1 << 20}
		if err := testtree.Make(filepath.Join(dir, "data", fmt.Sprintf("D%d", i)), spec); err != nil {
			t.Fatal(err)
		}
	}
	s.mutate()

	// The first full runs uncut, while another daisy lists the jobs: a
	// job whose process still runs is never taken for interrupted.
	start := time.Now()
	cmd := exec.Command(s.bin, "-c", s.cfg, "--no-progress", "backup")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	sawRunning := 0
	for done := false; !done; {
		var js []catalog.Job
		code, o, _ := s.daisy("--json", "ls", "jobs")
		if code == 0 && json.Unmarshal([]byte(o), &js) == nil {
			for _, j := range js {
				if j.State == catalog.JobInterrupted {
					s.fatalf("job %d marked interrupted while its process runs: %s", j.ID, j.Error)
				}
				if j.State == catalog.JobRunning {
					sawRunning++
				}
			}
		}
		select {
		case err := <-exited:
			if err != nil {
				s.fatalf("first backup: %v\n%s", err, out.String())
			}
			done = true
		default:
		}
	}
	s.est["full"] = time.Since(start)
	t.Logf("the first full took %v; ls jobs saw it running %d times meanwhile", s.est["full"].Round(time.Millisecond), sawRunning)
	st := s.next("after the first full")
	s.checkGood("after the first full", st, true)
	s.uncut("copy", "the first copy job")
	s.uncut("incremental", "the first incremental")
	st = s.next("after the first copy job and incremental")
	s.checkGood("after the first copy job and incremental", st, true)

	// Points until the count of each signal landed while its job ran:
	// a stop drawn after the job's end is checked as well, but does not
	// count.
	kinds := []string{"full", "incremental", "incremental", "copy"}
	want := map[syscall.Signal]int{syscall.SIGKILL: kills, syscall.SIGINT: sigs, syscall.SIGTERM: sigs}
	tried := map[syscall.Signal]int{}
	n := 0
	for {
		var left []syscall.Signal
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT, syscall.SIGTERM} {
			if s.landed[sig] < want[sig] {
				if tried[sig] >= 2*want[sig]+5 {
					s.fatalf("%s landed %d times in %d tries, want %d", sigName[sig], s.landed[sig], tried[sig], want[sig])
				}
				for range want[sig] - s.landed[sig] {
					left = append(left, sig)
				}
			}
		}
		if len(left) == 0 {
			break
		}
		sig := left[s.rng.IntN(len(left))]
		n++
		s.point(n, kinds[tried[sig]%len(kinds)], sig)
		tried[sig]++
	}

	// At the end every good copy verifies.
	var vr jobs.VerifyResult
	code, vout, verrs := s.daisy("--json", "verify", "--all")
	if err := json.Unmarshal([]byte(vout), &vr); err != nil || code != 0 || vr.Damaged != 0 {
		s.fatalf("verify --all: exit %d, %d damaged, %v\n%s%s", code, vr.Damaged, err, vout, verrs)
	}
	var keys []string
	for k := range s.outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %3d  %s", s.outcomes[k], k)
	}
	t.Logf("kill suite, DAISY_KILL_SEED=%d: %d points in %v, %d kill -9, %d SIGINT, %d SIGTERM while the job ran; outcomes:%s\n"+
		"  %d jobs found interrupted by the next command, %d of their copies failed by it; %d good copies read back, %d restores compared, verify --all: %d copies ok, 0 damaged",
		seed, n, time.Since(began).Round(time.Second), s.landed[syscall.SIGKILL], s.landed[syscall.SIGINT], s.landed[syscall.SIGTERM], b.String(), s.reapedJobs, s.reapedCopy, s.copiesRead, s.restores, vr.OK)
}
