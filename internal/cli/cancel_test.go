package cli

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
)

// heldLib is a library whose media hold every write until release closes.
type heldLib struct {
	device.Library
	release chan struct{}
}

func (l *heldLib) Unwrap() device.Library { return l.Library }

func (l *heldLib) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	m, ref, err := l.Library.Create(ctx, label, blockSize)
	if err != nil {
		return m, ref, err
	}
	return &heldMedium{Medium: m, release: l.release}, ref, nil
}

type heldMedium struct {
	device.Medium
	release chan struct{}
}

func (m *heldMedium) WriteBlock(b []byte) error {
	<-m.release
	return m.Medium.WriteBlock(b)
}

// daisy cancel JOB stops a backup running on the server: the backup's
// command exits 1 with the job interrupted, cancel prints that state;
// a job that is not running, a word that is no number, and no server are
// refused.
func TestCancelRemoteJob(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(devices.SetTestWrap(func(_ config.Pool, d config.Device, lib device.Library) device.Library {
		if d.Name != "tape0" {
			return lib
		}
		return &heldLib{Library: lib, release: release}
	}))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	e := newRemoteEnv(t)
	type out struct {
		code           int
		stdout, stderr string
	}
	done := make(chan out, 1)
	go func() {
		code, o, errs := e.run(t, "backup")
		done <- out{code, o, errs}
	}()
	// The backup's catalog job, once it runs.
	var id int64
	for deadline := time.Now().Add(time.Minute); id == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no running job after a minute")
		}
		_, o, _ := e.run(t, "--json", "ls", "jobs")
		var js []struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		}
		if json.Unmarshal([]byte(o), &js) == nil {
			for _, j := range js {
				if j.State == "running" {
					id = j.ID
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cdone := make(chan out, 1)
	go func() {
		code, o, errs := e.run(t, "cancel", strconv.FormatInt(id, 10))
		cdone <- out{code, o, errs}
	}()
	// The cancel reaches the job while its writes are held; then they go.
	time.Sleep(300 * time.Millisecond)
	close(release)
	c := <-cdone
	if c.code != 0 || !strings.Contains(c.stdout, "(backup): interrupted") {
		t.Fatalf("cancel: %d %q %q", c.code, c.stdout, c.stderr)
	}
	b := <-done
	if b.code != ExitFailure || !strings.Contains(b.stdout+b.stderr, "interrupted") {
		t.Fatalf("the cancelled backup: %d %q %q", b.code, b.stdout, b.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cancel", strconv.FormatInt(id, 10)}, ExitFailure, "is not running there"},
		{[]string{"cancel", "x"}, ExitUsage, "give the job's number"},
	} {
		code, _, errs := e.run(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: %d %q, want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	if code, _, errs := run(t, "-c", e.cfg, "--server", "local", "cancel", "1"); code != ExitUsage || !strings.Contains(errs, "give --server") {
		t.Errorf("cancel without a server: %d %q", code, errs)
	}
}
