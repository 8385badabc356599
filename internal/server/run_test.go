package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Run serves until its context ends; its schedules fire their jobs (a
// seconds-level cron line); a reload with a file that does not check
// keeps the configuration and schedules in force, one that checks puts
// its schedules in force (here: none, so no more jobs start); the stop
// returns nil.
func TestRunSchedulesAndReload(t *testing.T) {
	dir := t.TempDir()
	addrs := freeAddrs(t, 2)
	if err := testtree.Make(filepath.Join(dir, "data", "S"), testtree.Spec{Seed: 3, SmallFiles: 10}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "daisy.yaml")
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(fmt.Sprintf(localServer, addrs[0], addrs[1], dir, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`schedules:
  - {name: often, cron: "* * * * * *", job: backup, level: full}
`)
	ca, err := pki.InitCA(filepath.Join(dir, "state", "pki"), 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(pki.Host{Peer: pki.Peer{Role: pki.RoleServer, Name: "srv"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, 2, time.Now(), false); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	listening := make(chan string, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: file, Logger: testLogger(logs), Reload: reload, Listening: func(r, a net.Addr) { listening <- a.String() }})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})
	select {
	case a := <-listening:
		if a != addrs[1] {
			t.Errorf("API on %s, want %s", a, addrs[1])
		}
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not listen within 30s")
	}
	backups := func() int {
		t.Helper()
		cat, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		js, err := cat.Jobs(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, j := range js {
			if j.Kind == "backup" && j.State == catalog.JobSuccess {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("a scheduled backup", func() bool { return backups() >= 1 })

	write("schedules: [{name: bad, cron: \"not a cron line\", job: backup}]\n")
	reload <- struct{}{}
	waitFor("the bad file's refusal logged", func() bool { return strings.Contains(logs.String(), "the one in force is kept") })
	n := backups()
	waitFor("another scheduled backup after the bad reload", func() bool { return backups() > n })

	write("")
	reload <- struct{}{}
	waitFor("the new file in force", func() bool { return strings.Contains(logs.String(), "reload: configuration in force") })
	// A run started before the reload may still end: one more at most.
	settled := backups()
	time.Sleep(2500 * time.Millisecond)
	if got := backups(); got > settled+1 {
		t.Errorf("%d backups ran after the schedule was removed", got-settled)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after its context ended: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of its context's end")
	}
}
