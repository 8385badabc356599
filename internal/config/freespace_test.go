package config

import (
	"strings"
	"testing"
)

// free_space of a pool: derived unless set, 0 allowed, a bad size named
// with its line and column.
func TestPoolFreeSpace(t *testing.T) {
	c, err := Parse("daisy.yaml", []byte(`pools:
  - name: auto
  - name: none
    free_space: 0
  - name: set
    free_space: 2GiB
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"auto": FreeSpaceAuto, "none": 0, "set": 2 << 30}
	for _, p := range c.Pools {
		if p.FreeSpace != want[p.Name] {
			t.Errorf("pool %s: FreeSpace %d, want %d", p.Name, p.FreeSpace, want[p.Name])
		}
	}
	if c, err := Parse("daisy.yaml", []byte("sources: []\n")); err != nil || len(c.Pools) != 1 || c.Pools[0].FreeSpace != FreeSpaceAuto {
		t.Errorf("default pool: %+v, %v", c, err)
	}
	_, err = Parse("daisy.yaml", []byte(`pools:
  - name: p
    free_space: -5MiB
`))
	if err == nil || !strings.Contains(err.Error(), `3:17: free_space of pool p: size "-5MiB" is negative`) {
		t.Fatalf("negative free_space: %v", err)
	}
}
