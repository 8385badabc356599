package config

import (
	"errors"
	"strings"
	"testing"
)

// job is a valid copy job for base, lines 11-24: RMA1 on R1 reads D1 into
// B1, BMA1 on R2 (copy stage 1) follows it.
const job = `copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
        device: R1
        buffers:
          - name: B1
            select: {source: D1}
    copy_groups:
      - media_agents:
          - name: BMA1
            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
`

// jobHead is job up to the restore buffers, lines 11-16; cases append the
// buffers from line 17.
const jobHead = `copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
        device: R1
        buffers:
`

// stages is a restore group of two buffers and a copy stage header for
// the chain cases, lines 11-23; cases append stage 1's media agents from
// line 24.
const stages = `copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
        device: R1
        buffers:
          - name: B1
            select: {source: D1}
          - name: B2
            select: {source: D2}
    copy_groups:
      - media_agents:
          - name: BMA1
`

func TestCopyJobRules(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"valid job", base + job, nil},
		{"unknown keys at every level", base + `copy_jobs:
  - name: J
    restore_groups: []
    copy_groups:
      - media_agent: []
      - media_agents:
          - name: BMA1
            device: R2
            pol: copy
            buffers:
              - {name: B1, folows: RMA1.B1}
`, []string{
			`13:5: unknown key "restore_groups" in copy job J; did you mean "restore_group"? valid keys are name, restore_group, copy_groups`,
			`15:9: unknown key "media_agent" in copy stage 1; did you mean "media_agents"? valid keys are media_agents`,
			`19:13: unknown key "pol" in media agent BMA1; did you mean "pool"? valid keys are name, device, pool, buffers`,
			`21:28: unknown key "folows" in buffer BMA1.B1; did you mean "follows"? valid keys are name, follows, size`,
		}},
		{"unknown keys in the restore group", base + `copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
        device: R1
        pools: copy1
        buffers:
          - name: B1
            sise: 8MiB
            select: {sorce: D1, latest: true}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}
`, []string{
			`16:9: unknown key "pools" in restore media agent RMA1; did you mean "pool"? valid keys are name, device, pool, buffers`,
			`19:13: unknown key "sise" in buffer RMA1.B1; did you mean "size"? valid keys are name, size, select`,
			`20:22: unknown key "sorce" in select of buffer RMA1.B1; did you mean "source"? valid keys are source, client, object, level, since, until, latest, not_in_pool, all`,
		}},
		{"copy_jobs is not a list", "copy_jobs: {name: J}\n",
			[]string{`1:12: copy_jobs must be a list, not a mapping; write e.g. copy_jobs: [{name: refresh, restore_group: [{name: rma0, device: tape0, buffers: [{name: B1, select: {all: true}}]}], copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]}]`}},
		{"a copy job that is not a mapping", "copy_jobs:\n  - J\n",
			[]string{`2:5: each entry of copy_jobs must be a mapping, not a string; write e.g. - {name: refresh, restore_group: [{name: rma0, device: tape0, buffers: [{name: B1, select: {all: true}}]}], copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]}`}},
		{"a copy job without name, restore group and copy stages", "copy_jobs:\n  - restore_group:\n  - name: K\n    restore_group: []\n    copy_groups: []\n",
			[]string{
				`2:5: copy job #1 has no name; add "name: NAME"`,
				`2:5: copy job #1 has no restore media agents; add at least one under restore_group, e.g. restore_group: [{name: rma0, device: tape0, buffers: [{name: B1, select: {all: true}}]}]`,
				`2:5: copy job #1 has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
				`4:5: copy job K has no restore media agents; add at least one under restore_group, e.g. restore_group: [{name: rma0, device: tape0, buffers: [{name: B1, select: {all: true}}]}]`,
				`5:5: copy job K has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			}},
		{"restore media agents without device and buffers", base + `copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
      - name: RMA2
        device: R2
        buffers: []
      - name: RMA3
        device: R3
        buffers: {name: B1}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R4, buffers: [{name: B1, follows: RMA9.B1}]}
`, nil},
		{"restore buffers without select", base + jobHead + `          - name: B1
          - name: B2
            select: D1
          - name: B3
            select: {}
          - name: B4
            select: {latest: false}
          - name: B5
            select:
          - B6
`, nil},
		{"criteria beside select and follows in the restore group", base + jobHead + `          - name: B1
            source: D1
            latest: false
          - name: B2
            follows: RMA0.B1
            select: {all: true}
          - name: B3
            select: {level: full}
            client: testhost
`, nil},
		{"source and select in a copy stage", base + stages + `            device: R2
            buffers:
              - name: B1
                source: D1
              - name: B2
                follows: RMA1.B2
                select: {source: D2}
`, nil},
		{"duplicate copy job names", base + job + `  - name: J
    restore_group:
      - {name: RMA1, device: R1, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents: [{name: BMA1, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}]
`, nil},
		{"media agent names within a job and against the backup topology", base + `backup_group:
  - name: BMA124
    device: R1
    buffers: [{name: B1, source: D1}]
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R1, buffers: [{name: B1, select: {source: D1}}]}
      - {name: RMA1, device: R2, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents:
          - {name: BMA124, device: R3, buffers: [{name: B1, follows: RMA1.B1}]}
          - {name: RMA1, device: R4, buffers: [{name: B2, follows: RMA1.B1}]}
`, nil},
		{"duplicate buffer names", base + jobHead + `          - {name: B1, select: {source: D1}}
          - {name: B1, select: {source: D2}}
    copy_groups:
      - media_agents:
          - name: BMA1
            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B1, follows: RMA1.B2}
`, nil},
		{"devices within a job, and shared with the backup topology", base + `backup_group:
  - name: BMA124
    device: R1
    buffers: [{name: B1, source: D1}]
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R1, buffers: [{name: B1, select: {source: D1}}]}
      - {name: RMA2, device: R2, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}
          - {name: BMA2, device: R9, buffers: [{name: B1, follows: RMA2.B1}]}
`, nil},
		{"unknown pools", base + `pools:
  - name: copy1
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R1, pool: copy0, buffers: [{name: B1, select: {source: D1, not_in_pool: offsite}}]}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R2, pool: copy2, buffers: [{name: B1, follows: RMA1.B1}]}
`, nil},
		{"selection references", `clients:
  - name: h1
  - name: h2
sources:
  - {name: D1, client: h1, paths: [d1]}
devices: [{name: R1}, {name: R2}]
copy_jobs:
  - name: J
    restore_group:
      - name: RMA1
        device: R1
        buffers:
          - {name: B1, select: {source: D9}}
          - {name: B2, select: {client: h9}}
          - {name: B3, select: {source: D1, client: h2}}
          - {name: B4, select: {source: D1, client: h1}}
    copy_groups:
      - media_agents:
          - name: BMA1
            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
              - {name: B3, follows: RMA1.B3}
              - {name: B4, follows: RMA1.B4}
`, nil},
		{"client without clients list", base + jobHead + `          - {name: B1, select: {client: web1}}
`, nil},
		{"selection values", base + jobHead + `          - {name: B1, select: {level: Full}}
          - {name: B2, select: {level: weekly}}
          - {name: B3, select: {object: 01a}}
          - {name: B4, select: {object: 0190-zz}}
          - {name: B5, select: {object: ""}}
          - {name: B6, select: {since: 7x}}
          - {name: B7, select: {since: 0d}}
          - {name: B8, select: {since: 2026-13-01}}
          - {name: B9, select: {until: 2026-11-01 10:00}}
          - {name: B10, select: {since: 1d, until: 7d}}
          - {name: B11, select: {since: 2026-11-20, until: 2026-11-01}}
          - {name: B12, select: {latest: "yes", all: 1}}
          - {name: B13, select: {all: true, source: D1, latest: false}}
          - {name: B14, select: {all: false}}
          - {name: B15, select: {source: [D1]}}
          - {name: B16, select: {source: " "}}
`, nil},
		{"the same selection twice", base + jobHead + `          - {name: B1, select: {source: D1}}
          - {name: B2, select: {source: D2}}
          - {name: B3, select: {source: D1}}
          - {name: B4, select: {source: D1, latest: false}}
`, nil},
		{"stage 1 follows the backup group", base + `backup_group:
  - name: BMA124
    device: R1
    buffers: [{name: B1, source: D1}]
` + strings.Replace(stages, "device: R1", "device: R3", 1) + `            device: R2
            buffers:
              - {name: B1, follows: BMA124.B1}
              - {name: B2, follows: RMA1.B2}
`, nil},
		{"stage 2 follows the restore group", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
      - media_agents:
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: RMA1.B1}
`, nil},
		{"stage 1 follows stage 2", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: BMA2.B1}
              - {name: B2, follows: RMA1.B2}
      - media_agents:
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: BMA1.B1}
`, nil},
		{"follows within its own stage, itself, malformed, missing", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: BMA1.B2}
              - {name: B2, follows: BMA1.B2}
              - {name: B3, follows: RMA1}
              - {name: B4, follows: RMA1.B9}
              - {name: B5, follows: RMA9.B1}
              - {name: B6}
              - {name: B7, follows: RMA1.B1}
              - {name: B8, follows: RMA1.B2}
`, nil},
		{"two buffers follow one", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: RMA1.B1}
`, nil},
		{"follows a buffer of another copy job", base + job + `  - name: K
    restore_group:
      - {name: RMA2, device: R1, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents: [{name: BMA2, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}]
`, nil},
		{"a restore buffer that feeds no copy stage", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
`, nil},
		{"copy stages without media agents or buffers", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
      -
      - media_agents: []
      - [x]
      - media_agents:
          - name: BMA2
            device: R3
          - BMA3
`, nil},
		{"invalid names and sizes", base + `copy_jobs:
  - name: J
    restore_group:
      - name: RMA.1
        device: R1
        buffers:
          - {name: B1, size: 1KiB, select: {source: D1}}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R2, buffers: [{name: "B 1", follows: RMA.1.B1, size: 2MiB}]}
`, nil},
		{"volume capacity of a pool written by a copy stage", `sources: [{name: D1, paths: [d1]}]
devices: [{name: R1}, {name: R2, block_size: 1MiB}]
pools:
  - {name: p, volume_capacity: 3MiB}
  - {name: q, volume_capacity: 3MiB}
defaults:
  pool: q
backup_group:
  - {name: BMA0, device: R1, buffers: [{name: B1, source: D1}]}
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R1, buffers: [{name: B1, select: {all: true}}]}
    copy_groups:
      - media_agents: [{name: BMA1, device: R2, pool: p, buffers: [{name: B1, follows: RMA1.B1}]}]
`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("daisy.yaml", []byte(tc.yaml))
			var got []string
			if err != nil {
				var errs *Errors
				if !errors.As(err, &errs) {
					t.Fatalf("error is %T, not *Errors: %v", err, err)
				}
				for _, e := range *errs {
					if e.File != "daisy.yaml" {
						t.Fatalf("error names file %q", e.File)
					}
					got = append(got, strings.TrimPrefix(e.Error(), "daisy.yaml:"))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
