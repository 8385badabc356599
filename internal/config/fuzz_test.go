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
