package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The client named after the host must not depend on the machine.
	hostname = func() (string, error) { return "testhost", nil }
	os.Exit(m.Run())
}

const figure2 = "../../examples/figure2.yaml"

func TestFigure2Loads(t *testing.T) {
	c, err := Load(figure2)
	if err != nil {
		t.Fatalf("Load(%s): %v", figure2, err)
	}
	want := map[string][]string{
		"D1": {"BMA126.B3", "BMA140.B1", "BMA146.B1"},
		"D2": {"BMA124.B2", "BMA138.B2", "BMA144.B2"},
		"D3": {"BMA124.B1"},
		"D4": {"BMA124.B3", "BMA138.B3"},
		"D5": {"BMA126.B1"},
	}
	for src, ids := range want {
		chain := c.Chain(src)
		if len(chain) != len(ids) {
			t.Fatalf("Chain(%s) has %d links, want %d: %+v", src, len(chain), len(ids), chain)
		}
		for i, l := range chain {
			if got := l.Buffer.ID(l.Agent.Name); got != ids[i] {
				t.Fatalf("Chain(%s)[%d] = %s, want %s", src, i, got, ids[i])
			}
			if l.Copy != i+1 {
				t.Fatalf("Chain(%s)[%d].Copy = %d, want %d", src, i, l.Copy, i+1)
			}
			if l.Agent.Level != i {
				t.Fatalf("Chain(%s)[%d].Agent.Level = %d, want %d", src, i, l.Agent.Level, i)
			}
			wantRole := RoleMirror
			if i == 0 {
				wantRole = RoleBackup
			}
			if l.Agent.Role != wantRole {
				t.Fatalf("Chain(%s)[%d].Agent.Role = %q, want %q", src, i, l.Agent.Role, wantRole)
			}
			if wantPool := []string{"copy1", "copy2", "copy3"}[i]; l.Agent.Pool != wantPool {
				t.Fatalf("Chain(%s)[%d].Agent.Pool = %q, want %q", src, i, l.Agent.Pool, wantPool)
			}
		}
	}
	if c.Chain("D9") != nil {
		t.Fatalf("Chain of an unknown source is not nil")
	}

	dir, _ := filepath.Abs("../../examples")
	if c.Dir != dir || c.File != filepath.Join(dir, "figure2.yaml") {
		t.Fatalf("File, Dir = %q, %q; want %q in %q", c.File, c.Dir, "figure2.yaml", dir)
	}
	if c.Catalog.SQLite != filepath.Join(dir, "state", "catalog.db") {
		t.Fatalf("catalog %q", c.Catalog.SQLite)
	}
	if c.Defaults != (Defaults{BufferSize: 32 * MiB, BlockSize: 256 * KiB, Pool: "copy1", ExtentSize: 64 * MiB}) {
		t.Fatalf("defaults %+v", c.Defaults)
	}
	if len(c.Clients) != 1 || c.Clients[0].Name != "testhost" {
		t.Fatalf("clients %+v, want the one client testhost", c.Clients)
	}
	for i, s := range c.Sources {
		name := []string{"D1", "D2", "D3", "D4", "D5"}[i]
		if s.Name != name || s.Client != "testhost" || len(s.Paths) != 1 || s.Paths[0] != filepath.Join(dir, "data", name) {
			t.Fatalf("source %d = %+v", i, s)
		}
	}
	if len(c.Pools) != 3 {
		t.Fatalf("pools %+v", c.Pools)
	}
	for i, p := range c.Pools {
		name := []string{"copy1", "copy2", "copy3"}[i]
		if p.Name != name || p.Type != "vtape" || p.Directory != filepath.Join(dir, "state", "volumes", name) || p.VolumeCapacity != 4*GiB {
			t.Fatalf("pool %d = %+v", i, p)
		}
	}
	var devs []string
	for _, d := range c.Devices {
		devs = append(devs, d.Name)
		if d.Type != "vtape" || d.BlockSize != 256*KiB {
			t.Fatalf("device %+v", d)
		}
	}
	if strings.Join(devs, ",") != "R1,R2,R3,R5,R6,R8" {
		t.Fatalf("devices %v", devs)
	}
	agentDevice := map[string]string{"BMA124": "R1", "BMA126": "R2", "BMA138": "R5", "BMA140": "R8", "BMA144": "R3", "BMA146": "R6"}
	all := c.MediaAgents()
	if len(all) != len(agentDevice) || len(c.BackupGroup) != 2 || len(c.MirrorGroups) != 2 {
		t.Fatalf("media agents %+v", all)
	}
	for _, a := range all {
		if agentDevice[a.Name] != a.Device {
			t.Fatalf("media agent %s on %s, want %s", a.Name, a.Device, agentDevice[a.Name])
		}
		for _, b := range a.Buffers {
			if b.Size != 32*MiB {
				t.Fatalf("buffer %s size %d", b.ID(a.Name), b.Size)
			}
		}
	}
	if a, b, ok := c.Buffer("BMA140.B1"); !ok || a.Name != "BMA140" || b.Follows != "BMA126.B3" {
		t.Fatalf("Buffer(BMA140.B1) = %+v %+v %v", a, b, ok)
	}
	if _, _, ok := c.Buffer("BMA140.B9"); ok {
		t.Fatalf("Buffer(BMA140.B9) found")
	}
	if a, ok := c.MediaAgent("BMA144"); !ok || a.Level != 2 {
		t.Fatalf("MediaAgent(BMA144) = %+v %v", a, ok)
	}
	if s, ok := c.Source("D5"); !ok || len(s.Exclude) != 1 || s.Exclude[0] != "*.tmp" {
		t.Fatalf("Source(D5) = %+v %v", s, ok)
	}
	if p, ok := c.Pool("copy3"); !ok || p.Retention != 90*24*time.Hour {
		t.Fatalf("Pool(copy3) = %+v %v", p, ok)
	}
	if d, ok := c.Device("R8"); !ok || d.Name != "R8" {
		t.Fatalf("Device(R8) = %+v %v", d, ok)
	}
	if _, ok := c.Device("R4"); ok {
		t.Fatalf("Device(R4) found")
	}
}

// base declares sources D1, D2 and devices R1..R4 in lines 1-10; cases
// append from line 11.
const base = `sources:
  - name: D1
    paths: [d1]
  - name: D2
    paths: [d2]
devices:
  - name: R1
  - name: R2
  - name: R3
  - name: R4
`

// The backup group used by the mirror cases, lines 11-20.
const backup = `backup_group:
  - name: BMA124
    device: R1
    buffers:
      - name: B1
        source: D1
      - name: B2
        source: D2
mirror_groups:
  - media_agents:
`

func TestRules(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", base + "mirror_group: []\n",
			[]string{`11:1: unknown top-level key "mirror_group"; did you mean "mirror_groups"? valid keys are catalog, defaults, server, clients, media_hosts, sources, pools, devices, backup_group, mirror_groups, copy_jobs, schedules`}},
		{"unknown key in a media agent", base + `backup_group:
  - name: BMA1
    device: R1
    buffer:
      - name: B1
        source: D1
`, []string{`14:5: unknown key "buffer" in media agent BMA1; did you mean "buffers"? valid keys are name, device, pool, buffers, extent_size`}},
		{"misspelled follows", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            folows: BMA124.B1
`, []string{`25:13: unknown key "folows" in buffer BMA138.B1; did you mean "follows"? valid keys are name, source, follows, size`}},
		{"unknown key in a buffer", base + `backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
        Size: 8MiB
`, []string{`17:9: unknown key "Size" in buffer BMA1.B1; did you mean "size"? valid keys are name, source, follows, size`}},
		{"unknown key in a source, flow style", "sources: [{name: D1, paths: [d1], excludes: [x]}]\n",
			[]string{`1:35: unknown key "excludes" in source D1; did you mean "exclude"? valid keys are name, client, paths, exclude, compression, may_be_absent`}},
		{"sources is not a list", "sources:\n  name: D1\n",
			[]string{`2:3: sources must be a list, not a mapping; write e.g. sources: [{name: home, paths: [/home]}]`}},
		{"an entry that is not a mapping", "sources:\n  - D1\n",
			[]string{`2:5: each entry of sources must be a mapping, not a string; write e.g. - {name: home, paths: [/home]}`}},
		{"name of the wrong kind", "sources:\n  - name: [D1]\n    paths: [d1]\n",
			[]string{`2:11: name of source #1 must be a string, not a list`}},
		{"source without name", "sources:\n  - paths: [d1]\n",
			[]string{`2:5: source #1 has no name; add "name: NAME"`}},
		{"source without paths", "sources:\n  - name: D1\n",
			[]string{`2:11: source D1 has no paths; add e.g. "paths: [/home]" (relative paths start at the directory of this file)`}},
		{"source with an empty list of paths", "sources:\n  - name: D1\n    paths: []\n",
			[]string{`3:12: source D1 has no paths; list at least one, e.g. "paths: [/home]"`}},
		{"media agent without device", base + `backup_group:
  - name: BMA1
    buffers:
      - name: B1
        source: D1
`, []string{`12:11: media agent BMA1 has no device; add "device: NAME" naming one of the devices`}},
		{"media agent with a null device", base + `backup_group:
  - name: BMA1
    device:
    buffers:
      - name: B1
        source: D1
`, []string{`13:5: media agent BMA1 has no device; add "device: NAME" naming one of the devices`}},
		{"duplicate names of sources, pools and devices", `sources:
  - name: D1
    paths: [a]
  - name: D1
    paths: [b]
pools:
  - name: p
  - name: p
devices:
  - name: R1
  - name: R1
`, []string{
			`4:11: duplicate source name D1 (first at line 2); rename one of them`,
			`8:11: duplicate pool name p (first at line 7); rename one of them`,
			`11:11: duplicate device name R1 (first at line 10); rename one of them`,
		}},
		{"duplicate media agent across groups", base + backup + `      - name: BMA124
        device: R2
        buffers:
          - name: B9
            follows: BMA124.B1
`, []string{`21:15: duplicate media agent name BMA124 (first at line 12, in the backup group); media agent names must be unique across all groups: rename one of them`}},
		{"duplicate buffer in a media agent", base + `backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
      - name: B1
        source: D2
`, []string{`17:15: duplicate buffer name B1 in media agent BMA1 (first at line 15); rename one of them`}},
		{"bad sizes and durations", `defaults:
  buffer_size: 12XB
  block_size: -1MiB
pools:
  - name: p
    volume_capacity: 99999999999TiB
    retention: 30x
`, []string{
			`2:16: buffer_size of defaults: size "12XB" has unknown unit "XB"; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 64MiB`,
			`3:15: block_size of defaults: size "-1MiB" is negative; sizes are 0 or more bytes, e.g. 64MiB`,
			`6:22: volume_capacity of pool p: size "99999999999TiB" is too large; the largest size is 9223372036854775807 bytes`,
			`7:16: retention of pool p: duration "30x" has unknown unit "x"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`,
		}},
		{"retention without unit and zero", `pools:
  - name: p
    retention: 30
  - name: q
    retention: 0d
`, []string{
			`3:16: retention of pool p: duration "30" has a number without a unit; use s, m (minutes), h, d, w or y (365 days), e.g. 30d`,
			`5:16: retention of pool q must be longer than 0; write e.g. 30d, or remove the key`,
		}},
		{"block sizes", `defaults:
  block_size: 100KiB
devices:
  - name: R1
    block_size: 32MiB
  - name: R2
    block_size: 32KiB
  - name: R3
    block_size: 1MiB
`, []string{
			`2:15: block_size of defaults 100KiB is not a multiple of 64KiB; use e.g. 128KiB`,
			`5:17: block_size of device R1 32MiB is out of range; use a multiple of 64KiB from 64KiB to 16MiB, e.g. 256KiB`,
			`7:17: block_size of device R2 32KiB is out of range; use a multiple of 64KiB from 64KiB to 16MiB, e.g. 256KiB`,
		}},
		{"buffer sizes", `defaults:
  buffer_size: 512KiB
` + strings.TrimPrefix(base, "") + `backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
        size: 1000KB
      - name: B2
        source: D2
        size: 1MiB
`, []string{
			`2:16: buffer_size of defaults 512KiB is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB`,
			`19:15: size of buffer BMA1.B1 1000000 is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB`,
		}},
		{"volume capacity below four blocks", base + `pools:
  - name: small
    volume_capacity: 1MiB
  - name: tiny
    volume_capacity: 1000
backup_group:
  - name: BMA1
    device: R1
    pool: small
    buffers:
      - name: B1
        source: D1
`, []string{
			`15:22: volume_capacity 1000 of pool tiny holds fewer than 4 blocks of 256KiB (the default block size); use at least 1MiB`,
		}},
		{"volume capacity below four blocks of the device", `sources:
  - name: D1
    paths: [d1]
devices:
  - name: R1
    block_size: 1MiB
pools:
  - name: p
    volume_capacity: 2MiB
backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
`, []string{`9:22: volume_capacity 2MiB of pool p holds fewer than 4 blocks of 1MiB (the block size of device R1); use at least 4MiB`}},
		{"fail_after", `devices:
  - name: R1
    fail_after: 0
  - name: R2
    fail_after: 100MiB
`, []string{
			`3:5: fail_after of device R1 was removed: daisy.yaml no longer injects device faults (that is for tests, which wrap the device); remove the key`,
			`5:5: fail_after of device R2 was removed: daisy.yaml no longer injects device faults (that is for tests, which wrap the device); remove the key`,
		}},
		{"device types", `devices:
  - name: R1
    type: tape
  - name: R2
    type: disk
pools:
  - name: p
    type: tape
`, []string{
			`3:11: device R1 of type tape needs the path of its device, e.g. path: /dev/nst0`,
			`5:11: unknown type "disk" of device R2; use type: vtape, tape, changer or s3`,
		}},
		{"unknown source, device and pool", base + `backup_group:
  - name: BMA1
    device: R9
    pool: offsite
    buffers:
      - name: B1
        source: D3
`, []string{
			`13:13: media agent BMA1 uses device R9, which does not exist; add it under devices or use one of: R1, R2, R3, R4`,
			`14:11: media agent BMA1 writes to pool offsite, which does not exist; add it under pools or use one of: default`,
			`17:17: buffer BMA1.B1 reads source D3, which does not exist; add it under sources or use one of: D1, D2`,
		}},
		{"unknown default pool", `defaults:
  pool: offsite
pools:
  - name: p
`, []string{`2:9: pool of defaults names pool offsite, which does not exist; add it under pools or use one of: p`}},
		{"no pool and no default pool", `sources:
  - name: D1
    paths: [d1]
devices:
  - name: R1
pools:
  - name: p
  - name: q
backup_group:
  - name: BMA1
    device: R1
    buffers:
      - name: B1
        source: D1
`, []string{`10:11: media agent BMA1 names no pool and the default pool default does not exist; add "pool: NAME" naming one of: p, q, or set pool under defaults`}},
		{"unknown client", `clients:
  - name: h1
  - name: h2
sources:
  - name: D1
    client: h3
    paths: [d1]
  - name: D2
    paths: [d2]
`, []string{
			`6:13: source D1 names client h3, which does not exist; add it under clients or use one of: h1, h2`,
			`8:11: source D2 names no client and there are 2 clients; add "client: NAME" naming one of: h1, h2`,
		}},
		{"client other than this host without clients list", `sources:
  - name: D1
    client: web1
    paths: [d1]
`, []string{`3:13: source D1 names client web1, which does not exist: with no clients list the only client is this machine, testhost; add a clients list naming web1, or remove "client"`}},
		{"device used twice", base + backup + `      - name: BMA138
        device: R1
        buffers:
          - name: B1
            follows: BMA124.B1
`, []string{`22:17: device R1 is already used by media agent BMA124 (line 13); every media agent needs a device of its own: add another device under devices and name it here`}},
		{"source in two backup buffers", base + `backup_group:
  - name: BMA124
    device: R1
    buffers:
      - name: B1
        source: D1
  - name: BMA126
    device: R2
    buffers:
      - name: B1
        source: D1
`, []string{`21:17: source D1 is already read by buffer BMA124.B1 (line 16); a source goes into one backup-group buffer: for another copy add a buffer under mirror_groups that follows BMA124.B1`}},
		{"backup buffer that follows", base + `backup_group:
  - name: BMA124
    device: R1
    buffers:
      - name: B1
        source: D1
      - name: B2
        follows: BMA124.B1
`, []string{`18:18: buffer BMA124.B2 is in the backup group and cannot follow another buffer; give it "source: NAME" instead, and put buffers that follow it under mirror_groups`}},
		{"backup buffer without source", base + `backup_group:
  - name: BMA124
    device: R1
    buffers:
      - name: B1
`, []string{`15:15: buffer BMA124.B1 has no source; add "source: NAME" naming one of the sources: D1, D2`}},
		{"mirror buffer with source", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            source: D1
`, []string{`25:21: buffer BMA138.B1 is in mirror level 1 and cannot read a source; replace source with "follows: MEDIA_AGENT.BUFFER" naming a buffer of the backup group`}},
		{"mirror buffer without follows", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
`, []string{`24:19: buffer BMA138.B1 has no follows; add "follows: MEDIA_AGENT.BUFFER" naming a buffer of the backup group`}},
		{"follows a buffer that does not exist", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B2
            follows: BMA999.B2
          - name: B3
            follows: BMA124.B3
`, []string{
			`25:22: buffer BMA138.B2 follows BMA999.B2, which does not exist; name a buffer of the backup group as MEDIA_AGENT.BUFFER`,
			`27:22: buffer BMA138.B3 follows BMA124.B3, which does not exist (media agent BMA124 has B1, B2); name a buffer of the backup group as MEDIA_AGENT.BUFFER`,
		}},
		{"follows malformed", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B2
            follows: BMA124
`, []string{`25:22: buffer BMA138.B2 follows "BMA124", which is not of the form MEDIA_AGENT.BUFFER; name a buffer of the backup group, e.g. follows: BMA124.B1`}},
		{"mirror level 2 follows the backup group", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA124.B1
  - media_agents:
      - name: BMA144
        device: R3
        buffers:
          - name: B2
            follows: BMA124.B2
`, []string{`31:22: buffer BMA144.B2 is in mirror level 2 but follows BMA124.B2, which is in the backup group; a buffer of mirror level 2 follows a buffer of mirror level 1`}},
		{"mirror level 1 follows mirror level 2", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA144.B1
  - media_agents:
      - name: BMA144
        device: R3
        buffers:
          - name: B1
            follows: BMA138.B1
`, []string{
			`25:22: buffer BMA138.B1 is in mirror level 1 but follows BMA144.B1, which is in mirror level 2; a buffer of mirror level 1 follows a buffer of the backup group`,
			`25:22: buffer BMA138.B1 is in a loop: BMA138.B1 follows BMA144.B1 follows BMA138.B1; a chain must start at a buffer of the backup group, so break the loop`,
		}},
		{"loop within a level", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA138.B2
          - name: B2
            follows: BMA138.B1
`, []string{
			`25:22: buffer BMA138.B1 is in mirror level 1 but follows BMA138.B2, which is in mirror level 1, its own level; a buffer of mirror level 1 follows a buffer of the backup group`,
			`25:22: buffer BMA138.B1 is in a loop: BMA138.B1 follows BMA138.B2 follows BMA138.B1; a chain must start at a buffer of the backup group, so break the loop`,
			`27:22: buffer BMA138.B2 is in mirror level 1 but follows BMA138.B1, which is in mirror level 1, its own level; a buffer of mirror level 1 follows a buffer of the backup group`,
		}},
		{"follows itself", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA138.B1
`, []string{`25:22: buffer BMA138.B1 follows itself; name a buffer of the backup group as MEDIA_AGENT.BUFFER`}},
		{"two buffers follow one", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA124.B1
      - name: BMA140
        device: R3
        buffers:
          - name: B1
            follows: BMA124.B1
`, []string{`30:22: buffer BMA140.B1 follows BMA124.B1, which buffer BMA138.B1 already follows (line 25); a buffer feeds at most one other buffer: to make another copy, move this buffer to the next mirror level and let it follow BMA138.B1`}},
		{"media agent without buffers", base + `backup_group:
  - name: BMA1
    device: R1
  - name: BMA2
    device: R2
    buffers: []
`, []string{
			`12:11: media agent BMA1 has no buffers; add at least one under "buffers:", or remove the media agent`,
			`16:5: media agent BMA2 has no buffers; add at least one under "buffers:", or remove the media agent`,
		}},
		{"mirror levels without media agents", base + backup + `      - name: BMA138
        device: R2
        buffers:
          - name: B1
            follows: BMA124.B1
  -
  - media_agents: []
  - media_agents:
  - {}
  - [x]
`, []string{
			`26:3: mirror level 2 has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)`,
			`27:5: mirror level 3 has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)`,
			`28:5: mirror level 4 has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)`,
			`29:5: mirror level 5 has no media agents; add at least one under media_agents, or remove the level (the levels after it move up)`,
			`30:5: mirror level 6 must be a mapping with the key media_agents, not a list; write e.g. - media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: bma0.B1}]}]`,
		}},
		{"invalid names", base + `backup_group:
  - name: BMA.1
    device: R1
    buffers:
      - name: B 1
        source: D1
`, []string{
			`12:11: invalid media agent name "BMA.1"; use letters, digits, "_" and "-", starting with a letter or digit (a dot would break MEDIA_AGENT.BUFFER)`,
			`15:15: invalid buffer name "B 1"; use letters, digits, "_" and "-", starting with a letter or digit (a dot would break MEDIA_AGENT.BUFFER)`,
		}},
		{"bad exclude pattern", "sources:\n  - name: D1\n    paths: [d1]\n    exclude: [\"[a\", \"\"]\n",
			[]string{
				`4:15: exclude pattern "[a" of source D1 is malformed (syntax error in pattern); check its brackets and backslashes`,
				`4:21: source D1 has an empty exclude pattern; remove it`,
			}},
		{"YAML syntax error", "sources: [\n",
			[]string{`1:10: YAML syntax error: sequence end token ']' not found; check indentation, colons, quotes and brackets here or just before`}},
		{"bad indentation", "sources:\n  - name: D1\n   paths: [d1]\n",
			[]string{`3:4: YAML syntax error: value is not allowed in this context; check indentation, colons, quotes and brackets here or just before`}},
		{"duplicate YAML key", "sources: []\nsources: []\n",
			[]string{`2:1: key "sources" appears twice (first at line 1); remove one of them`}},
		{"tab", "sources:\n\t- name: D1\n",
			[]string{`2:1: YAML syntax error: a tab character; YAML indents with spaces only, replace the tabs with spaces`}},
		{"empty file", "# nothing\n",
			[]string{`1:1: the file is empty; declare at least sources, devices and a backup_group ("daisy init" writes a working example)`}},
		{"two documents", "sources: []\n---\ndevices: []\n",
			[]string{`2:1: the file holds 2 YAML documents; daisy.yaml is one document: remove the "---" separators and merge them`}},
		{"not a mapping", "- a\n",
			[]string{`1:1: the file must be a mapping with the keys catalog, defaults, server, clients, media_hosts, sources, pools, devices, backup_group, mirror_groups, copy_jobs, schedules, not a list`}},
		{"alias without anchor", "sources:\n  - name: D1\n    paths: *p\n",
			[]string{
				`3:5: source D1 has no paths; add e.g. "paths: [/home]" (relative paths start at the directory of this file)`,
				`3:12: alias *p refers to no anchor &p defined before it; define the anchor first or write the value out`,
			}},
		{"every problem at once", base + `backup_grup: []
mirror_groups:
  - media_agents:
      - name: BMA138
        device: R2
        buffers:
          - name: B2
            follows: BMA124.B2
            size: 1KiB
`, []string{
			`11:1: unknown top-level key "backup_grup"; did you mean "backup_group"? valid keys are catalog, defaults, server, clients, media_hosts, sources, pools, devices, backup_group, mirror_groups, copy_jobs, schedules`,
			`18:22: buffer BMA138.B2 follows BMA124.B2, which does not exist; name a buffer of the backup group as MEDIA_AGENT.BUFFER`,
			`19:19: size of buffer BMA138.B2 1KiB is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("daisy.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded; want errors:\n%s", strings.Join(tc.want, "\n"))
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not *Errors: %v", err, err)
			}
			var got []string
			for _, e := range *errs {
				if e.File != "daisy.yaml" {
					t.Fatalf("error names file %q", e.File)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "daisy.yaml:"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
