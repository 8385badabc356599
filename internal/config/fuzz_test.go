package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	fig, err := os.ReadFile(figure2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fig)
	fig5, err := os.ReadFile(figure5)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fig5)
	f.Add(InitTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "a", Path: "/a"}}}))
	f.Add(initTemplate(InitOptions{Host: "h", Sources: []InitSource{{Name: "a", Path: "/a"}}}, true))
	for _, s := range []string{
		"",
		"sources: [\n",
		"- 1\n",
		"a: &a [*a]\nsources: *a\n",
		"sources:\n  - <<: *nothing\n",
		"sources:\n  - &s {name: a, paths: [x]}\n  - <<: *s\n",
		"mirror_groups:\n  -\n  - media_agents: []\n  - {}\n",
		"backup_group:\n  - name: A\n    buffers:\n      - {name: B, follows: A.B}\n",
		"mirror_groups:\n  - media_agents:\n      - {name: M, device: R, buffers: [{name: B, follows: M.B}]}\n",
		"devices:\n  - {name: R, block_size: 99999999999TiB, fail_after: -1}\n",
		"pools:\n  - {name: p, retention: 293y, volume_capacity: 0.5B}\n",
		"sources:\n\t- name: x\n",
		"? [a, b]\n: c\n",
		"sources: !!map {}\n",
		"--- \n...\n--- \n",
		strings.Replace(string(fig), "BMA124.B2", "BMA999.B2", 1),
		strings.Replace(string(fig), "follows: BMA138.B2", "follows: BMA124.B2", 1),
		strings.Replace(string(fig5), "follows: BMA158.B1", "follows: RMA150.B1", 1),
		strings.Replace(string(fig5), "follows: RMA150.B2", "follows: BMA164.B2", 1),
		strings.Replace(string(fig5), "source: D5", "{all: true, since: 7d, until: 2026-11-01}", 1),
		strings.Replace(string(fig5), "source: D2", "since: 2026-11-01T00:00:00+01:00", 1),
		"copy_jobs:\n  - name: j\n    restore_group: [{name: R, device: T, buffers: [{name: B, select: {object: 01a2-}}]}]\n    copy_groups: [{media_agents: [{name: M, device: T, buffers: [{name: B, follows: R.B}]}]}]\n",
		"copy_jobs:\n  -\n  - {}\n  - name: j\n    copy_groups: [[], {media_agents: [{}]}, ~]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		var c *Config
		var err error
		go func() { c, err = Parse("fuzz.yaml", data); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("HANG on %q", data)
		}
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(*errs) == 0 {
				t.Fatalf("error is not a non-empty *Errors: %T %v", err, err)
			}
			for _, e := range *errs {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Column < 1 || e.Msg == "" {
					t.Fatalf("malformed error %+v", e)
				}
			}
			if c != nil {
				t.Fatalf("a config came back with errors")
			}
			return
		}
		// A valid config draws and its chains are well formed.
		_ = Graph(c)
		_ = Dot(c)
		for _, s := range c.Sources {
			for i, l := range c.Chain(s.Name) {
				if l.Copy != i+1 || l.Agent.Level != i {
					t.Fatalf("chain of %s: link %d is %+v", s.Name, i, l)
				}
			}
		}
		for i := range c.CopyJobs {
			j := &c.CopyJobs[i]
			_ = GraphCopyJob(c, j)
			_ = DotCopyJob(c, j)
			if len(j.RestoreGroup) == 0 || len(j.CopyGroups) == 0 {
				t.Fatalf("copy job %s without restore group or copy stages", j.Name)
			}
			used := map[string]bool{}
			for _, a := range j.RestoreGroup {
				if used[a.Device] {
					t.Fatalf("copy job %s: device %s used twice", j.Name, a.Device)
				}
				used[a.Device] = true
				for _, b := range a.Buffers {
					s := b.Select
					if !hasCriterion(s) || s.All && s != (Selection{All: true}) {
						t.Fatalf("copy job %s: selection of %s %#v", j.Name, b.ID(a.Name), s)
					}
					if !s.Since.IsZero() && !s.Until.IsZero() && !s.Since.Before(s.Until) {
						t.Fatalf("copy job %s: %s selects since %v until %v", j.Name, b.ID(a.Name), s.Since, s.Until)
					}
					chain := j.Chain(b.ID(a.Name))
					if len(chain) == 0 {
						t.Fatalf("copy job %s: restore buffer %s feeds nothing", j.Name, b.ID(a.Name))
					}
					for k, l := range chain {
						if l.Copy != k+1 || l.Agent.Level != k+1 || l.Agent.Role != RoleCopy {
							t.Fatalf("copy job %s: chain of %s: link %d is %+v", j.Name, b.ID(a.Name), k, l)
						}
					}
				}
			}
			for _, a := range j.MediaAgents() {
				if used[a.Device] {
					t.Fatalf("copy job %s: device %s used twice", j.Name, a.Device)
				}
				used[a.Device] = true
				if _, ok := c.Pool(a.Pool); !ok {
					t.Fatalf("copy job %s: media agent %s writes to a pool that does not exist: %q", j.Name, a.Name, a.Pool)
				}
			}
		}
		devices := map[string]bool{}
		for _, a := range c.MediaAgents() {
			if devices[a.Device] {
				t.Fatalf("device %s used twice in a valid config", a.Device)
			}
			devices[a.Device] = true
			if _, ok := c.Pool(a.Pool); !ok {
				t.Fatalf("media agent %s writes to a pool that does not exist: %q", a.Name, a.Pool)
			}
		}
	})
}

// FuzzUnits parses a string as a size, a duration and a retention, as the
// values of daisy.yaml are: each gives an error or a value that is not
// negative and that its Format function writes back to what parses as the
// same value (a duration to the second).
func FuzzUnits(f *testing.F) {
	for _, s := range []string{
		"64MiB", "1.5GiB", "256 KiB", "1048576", "0", "9223372036854775807", "8EiB", "1e3", "-1",
		"30d", "1d12h", "1.5h", "292y", "0.5s", "1y 2w 3d", "2m30s", "12 copies", "1 Copy", "0 copies",
		"5 cats", "-3 copies", "1.5 copies", " 7d ", "", ".", "1..2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseSize(s); err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseSize(%q): empty error", s)
			}
		} else if back, err := ParseSize(FormatSize(n)); n < 0 || err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, written %q, read back %d, %v", s, n, FormatSize(n), back, err)
		}
		d, derr := ParseDuration(s)
		if derr != nil {
			if derr.Error() == "" {
				t.Fatalf("ParseDuration(%q): empty error", s)
			}
		} else if back, err := ParseDuration(FormatDuration(d)); d < 0 || err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("ParseDuration(%q) = %v, written %q, read back %v, %v", s, d, FormatDuration(d), back, err)
		}
		age, copies, err := parseRetention(s)
		switch {
		case err != nil:
			if err.Error() == "" {
				t.Fatalf("parseRetention(%q): empty error", s)
			}
		case copies < 0 || age < 0 || copies > 0 && age != 0:
			t.Fatalf("parseRetention(%q) = %v, %d copies", s, age, copies)
		case copies == 0 && (derr != nil || age != d):
			t.Fatalf("parseRetention(%q) = age %v, ParseDuration %v, %v", s, age, d, derr)
		}
	})
}
