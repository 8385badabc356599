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
		{"two copy jobs may reuse names and devices", base + `backup_group:
  - {name: BMA0, device: R1, buffers: [{name: B1, source: D1}]}
` + job + `  - name: K
    restore_group:
      - {name: RMA1, device: R2, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents: [{name: BMA1, device: R1, buffers: [{name: B1, follows: RMA1.B1}]}]
      - media_agents: [{name: BMA2, device: R3, buffers: [{name: B1, follows: BMA1.B1}]}]
`, nil},
		{"unknown device of a restore media agent, no default pool", base + `pools: [{name: p}, {name: q}]
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R9, buffers: [{name: B1, select: {source: D1}}]}
    copy_groups:
      - media_agents: [{name: BMA1, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}]
`, []string{
			`15:30: restore media agent RMA1 uses device R9, which does not exist; add it under devices or use one of: R1, R2, R3, R4`,
			`17:31: media agent BMA1 names no pool and the default pool default does not exist; add "pool: NAME" naming one of: p, q, or set pool under defaults`,
		}},
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
			`19:13: unknown key "pol" in media agent BMA1; did you mean "pool"? valid keys are name, device, pool, buffers, extent_size`,
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
`, []string{
			`14:15: restore media agent RMA1 has no device; add "device: NAME" naming the device that reads the volumes`,
			`14:15: restore media agent RMA1 has no buffers; add at least one under "buffers:" saying which objects go into it, e.g. buffers: [{name: B1, select: {source: D1}}], or remove the media agent`,
			`17:9: restore media agent RMA2 has no buffers; add at least one under "buffers:" saying which objects go into it, e.g. buffers: [{name: B1, select: {source: D1}}], or remove the media agent`,
			`20:18: buffers of restore media agent RMA3 must be a list, not a mapping; write e.g. buffers: [{name: B1, select: {source: D1}}]`,
		}},
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
`, []string{
			`12:11: copy job J has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			`17:19: buffer RMA1.B1 has no select; add e.g. "select: {source: D1}" saying which objects go into it`,
			`19:21: select of buffer RMA1.B2 must be a mapping, not a string; write e.g. select: {source: D1}`,
			`21:13: select of buffer RMA1.B3 has no criterion, so it selects nothing; add at least one of source, client, object, level, since, until, not_in_pool, or "all: true" for every object`,
			`23:13: select of buffer RMA1.B4 has no criterion, so it selects nothing; add at least one of source, client, object, level, since, until, not_in_pool, or "all: true" for every object (latest only narrows what the criteria select)`,
			`25:13: buffer RMA1.B5 has no select; add e.g. "select: {source: D1}" saying which objects go into it`,
			`26:13: each entry of buffers of restore media agent RMA1 must be a mapping, not a string; write e.g. - {name: B1, select: {source: D1}}`,
		}},
		{"criteria beside select and follows in the restore group", base + jobHead + `          - name: B1
            source: D1
            latest: false
          - name: B2
            follows: RMA0.B1
            select: {all: true}
          - name: B3
            select: {level: full}
            client: testhost
`, []string{
			`12:11: copy job J has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			`18:13: source of buffer RMA1.B1 must go under select; write select: {source: D1}`,
			`19:13: latest of buffer RMA1.B1 must go under select; write select: {latest: false}`,
			`21:13: buffer RMA1.B2 is in the restore group and cannot follow another buffer: its media agent fills it from the volumes it reads; say which objects go into it under select, e.g. select: {all: true}`,
			`25:13: client of buffer RMA1.B3 must go under select; write select: {client: testhost}`,
		}},
		{"source and select in a copy stage", base + stages + `            device: R2
            buffers:
              - name: B1
                source: D1
              - name: B2
                follows: RMA1.B2
                select: {source: D2}
`, []string{
			`27:17: buffer BMA1.B1 is in copy stage 1 and cannot read a source; replace source with "follows: MEDIA_AGENT.BUFFER" naming a buffer of the restore group (only buffers of the restore group have select)`,
			`30:17: buffer BMA1.B2 is in copy stage 1 and cannot select objects: only buffers of the restore group have select; give this buffer "follows: MEDIA_AGENT.BUFFER" naming a buffer of the restore group`,
		}},
		{"duplicate copy job names", base + job + `  - name: J
    restore_group:
      - {name: RMA1, device: R1, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents: [{name: BMA1, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}]
`, []string{
			`25:11: duplicate copy job name J (first at line 12); rename one of them`,
		}},
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
`, []string{
			`19:16: duplicate media agent name RMA1 in copy job J (first at line 18, in the restore group); media agent names must be unique within a copy job: rename one of them`,
			`22:20: media agent name BMA124 is already used in the backup group (line 12); the media agents of a copy job need names of their own, so that graphs and logs tell them apart: rename this one`,
			`23:20: duplicate media agent name RMA1 in copy job J (first at line 18, in the restore group); media agent names must be unique within a copy job: rename one of them`,
			`23:68: buffer RMA1.B2 follows RMA1.B1, which buffer BMA124.B1 already follows (line 22); a buffer feeds at most one other buffer: to make another copy, move this buffer to the next copy stage and let it follow BMA124.B1`,
		}},
		{"duplicate buffer names", base + jobHead + `          - {name: B1, select: {source: D1}}
          - {name: B1, select: {source: D2}}
    copy_groups:
      - media_agents:
          - name: BMA1
            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B1, follows: RMA1.B2}
`, []string{
			`18:20: duplicate buffer name B1 in media agent RMA1 (first at line 17); rename one of them`,
			`25:24: duplicate buffer name B1 in media agent BMA1 (first at line 24); rename one of them`,
			`25:37: buffer BMA1.B1 follows RMA1.B2, which does not exist (media agent RMA1 has B1); name a buffer of the restore group as MEDIA_AGENT.BUFFER`,
		}},
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
`, []string{
			`22:34: device R2 is already used by media agent RMA2 (line 19) of this copy job; every media agent of a copy job needs a device of its own: add another device under devices and name it here`,
			`23:34: media agent BMA2 uses device R9, which does not exist; add it under devices or use one of: R1, R2, R3, R4`,
		}},
		{"unknown pools", base + `pools:
  - name: copy1
copy_jobs:
  - name: J
    restore_group:
      - {name: RMA1, device: R1, pool: copy0, buffers: [{name: B1, select: {source: D1, not_in_pool: offsite}}]}
    copy_groups:
      - media_agents:
          - {name: BMA1, device: R2, pool: copy2, buffers: [{name: B1, follows: RMA1.B1}]}
`, []string{
			`16:40: restore media agent RMA1 reads pool copy0, which does not exist; add it under pools or use one of: copy1, or remove pool to read the lowest-numbered good copy`,
			`16:102: select of buffer RMA1.B1 names pool offsite under not_in_pool, which does not exist; add it under pools or use one of: copy1`,
			`19:44: media agent BMA1 writes to pool copy2, which does not exist; add it under pools or use one of: copy1`,
		}},
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
`, []string{
			`13:41: select of buffer RMA1.B1 names source D9, which does not exist; add it under sources or use one of: D1`,
			`14:41: select of buffer RMA1.B2 names client h9, which does not exist; add it under clients or use one of: h1, h2`,
			`15:53: select of buffer RMA1.B3 names source D1, which belongs to client h1, and client h2, so nothing matches; remove client, or name h1`,
		}},
		{"client without clients list", base + jobHead + `          - {name: B1, select: {client: web1}}
`, []string{
			`12:11: copy job J has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			`17:41: select of buffer RMA1.B1 names client web1, which does not exist: with no clients list the only client is this machine, testhost; add a clients list naming web1, or remove client`,
		}},
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
          - {name: B17, select: {object: 0190a3c27b0c7000800000000000000000}}
`, []string{
			`12:11: copy job J has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			`17:40: level of select of buffer RMA1.B1 "Full" is not a backup level; did you mean "full"? use full, incremental or differential`,
			`18:40: level of select of buffer RMA1.B2 "weekly" is not a backup level; use full, incremental or differential`,
			`19:41: object of select of buffer RMA1.B3 "01a" is not an object ID or a prefix of one; write at least 4 hex digits of the ID as "daisy ls objects" shows it, e.g. 0190a3c2`,
			`20:41: object of select of buffer RMA1.B4 "0190-zz" is not an object ID or a prefix of one; write at least 4 hex digits of the ID as "daisy ls objects" shows it, e.g. 0190a3c2`,
			`21:41: object of select of buffer RMA1.B5 "" is not an object ID or a prefix of one; write at least 4 hex digits of the ID as "daisy ls objects" shows it, e.g. 0190a3c2`,
			`22:40: since of select of buffer RMA1.B6: duration "7x" has unknown unit "x"; use s, m (minutes), h, d, w or y (365 days), e.g. 30d, or write a date (2026-11-01) or an RFC 3339 time (2026-11-01T22:00:00Z)`,
			`23:40: since of select of buffer RMA1.B7 must be longer than 0; write e.g. 7d for the backups of the last 7 days, or remove the key`,
			`24:40: since of select of buffer RMA1.B8 "2026-13-01" is not a valid date; write YYYY-MM-DD, e.g. 2026-11-01`,
			`25:40: until of select of buffer RMA1.B9 "2026-11-01 10:00" is not an RFC 3339 time; write e.g. 2026-11-01T22:00:00Z or 2026-11-01T23:00:00+01:00, or a date, 2026-11-01`,
			`26:52: select of buffer RMA1.B10: since 1d is not before until 7d, so nothing matches; since is the older bound, e.g. since: 7d, until: 1d selects the backups from 7 to 1 days ago`,
			`27:60: select of buffer RMA1.B11: since 2026-11-20 is not before until 2026-11-01, so nothing matches; since is the older bound, e.g. since: 7d, until: 1d selects the backups from 7 to 1 days ago`,
			`28:42: latest of select of buffer RMA1.B12 must be true or false, not a string`,
			`28:54: all of select of buffer RMA1.B12 must be true or false, not a number`,
			`29:39: all: true in select of buffer RMA1.B13 selects every object and cannot be combined with source, latest; remove all, or remove source, latest`,
			`30:25: select of buffer RMA1.B14 has no criterion, so it selects nothing; add at least one of source, client, object, level, since, until, not_in_pool, or "all: true" for every object`,
			`31:42: source of select of buffer RMA1.B15 must be a string, not a list`,
			`32:42: source of select of buffer RMA1.B16 is empty; name a source, or remove the key`,
			`33:42: object of select of buffer RMA1.B17 "0190a3c27b0c7000800000000000000000" is not an object ID or a prefix of one; write at least 4 hex digits of the ID as "daisy ls objects" shows it, e.g. 0190a3c2`,
		}},
		{"the same selection twice", base + jobHead + `          - {name: B1, select: {source: D1}}
          - {name: B2, select: {source: D2}}
          - {name: B3, select: {source: D1}}
          - {name: B4, select: {source: D1, latest: false}}
`, []string{
			`12:11: copy job J has no copy stages; add at least one under copy_groups, e.g. copy_groups: [{media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}]`,
			`19:24: buffer RMA1.B3 selects the same objects as buffer RMA1.B1 (line 17); an object goes into one buffer of its media agent: remove one of them (for more copies of these objects, add copy stages behind RMA1.B1)`,
		}},
		{"stage 1 follows the backup group", base + `backup_group:
  - name: BMA124
    device: R1
    buffers: [{name: B1, source: D1}]
` + strings.Replace(stages, "device: R1", "device: R3", 1) + `            device: R2
            buffers:
              - {name: B1, follows: BMA124.B1}
              - {name: B2, follows: RMA1.B2}
`, []string{
			`30:37: buffer BMA1.B1 is in copy stage 1 but follows BMA124.B1, which is in the backup group, not in this copy job; a buffer of copy stage 1 follows a buffer of the restore group of copy job J`,
		}},
		{"stage 2 follows the restore group", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
      - media_agents:
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: RMA1.B1}
`, []string{
			`32:37: buffer BMA2.B1 is in copy stage 2 but follows RMA1.B1, which is in the restore group; a buffer of copy stage 2 follows a buffer of copy stage 1`,
		}},
		{"stage 1 follows stage 2", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: BMA2.B1}
              - {name: B2, follows: RMA1.B2}
      - media_agents:
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: BMA1.B1}
`, []string{
			`26:37: buffer BMA1.B1 is in copy stage 1 but follows BMA2.B1, which is in copy stage 2; a buffer of copy stage 1 follows a buffer of the restore group`,
			`26:37: buffer BMA1.B1 is in a loop: BMA1.B1 follows BMA2.B1 follows BMA1.B1; a chain must start at a buffer of the restore group, so break the loop`,
		}},
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
`, []string{
			`26:37: buffer BMA1.B1 is in copy stage 1 but follows BMA1.B2, which is in copy stage 1, its own stage; a buffer of copy stage 1 follows a buffer of the restore group`,
			`27:37: buffer BMA1.B2 follows itself; name a buffer of the restore group as MEDIA_AGENT.BUFFER`,
			`28:37: buffer BMA1.B3 follows "RMA1", which is not of the form MEDIA_AGENT.BUFFER; name a buffer of the restore group, e.g. follows: RMA1.B1`,
			`29:37: buffer BMA1.B4 follows RMA1.B9, which does not exist (media agent RMA1 has B1, B2); name a buffer of the restore group as MEDIA_AGENT.BUFFER`,
			`30:37: buffer BMA1.B5 follows RMA9.B1, which does not exist; name a buffer of the restore group as MEDIA_AGENT.BUFFER`,
			`31:24: buffer BMA1.B6 has no follows; add "follows: MEDIA_AGENT.BUFFER" naming a buffer of the restore group`,
		}},
		{"two buffers follow one", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
              - {name: B2, follows: RMA1.B2}
          - name: BMA2
            device: R3
            buffers:
              - {name: B1, follows: RMA1.B1}
`, []string{
			`31:37: buffer BMA2.B1 follows RMA1.B1, which buffer BMA1.B1 already follows (line 26); a buffer feeds at most one other buffer: to make another copy, move this buffer to the next copy stage and let it follow BMA1.B1`,
		}},
		{"follows a buffer of another copy job", base + job + `  - name: K
    restore_group:
      - {name: RMA2, device: R1, buffers: [{name: B1, select: {source: D2}}]}
    copy_groups:
      - media_agents: [{name: BMA2, device: R2, buffers: [{name: B1, follows: RMA1.B1}]}]
`, []string{
			`29:79: buffer BMA2.B1 follows RMA1.B1, which is in copy job J, not in this one; name a buffer of the restore group of copy job K as MEDIA_AGENT.BUFFER`,
		}},
		{"a restore buffer that feeds no copy stage", base + stages + `            device: R2
            buffers:
              - {name: B1, follows: RMA1.B1}
`, []string{
			`19:19: buffer RMA1.B2 feeds no copy stage, so the objects it selects would be read for nothing; add a buffer under copy stage 1 that follows RMA1.B2, or remove it`,
		}},
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
`, []string{
			`28:7: copy stage 2 has no media agents; add at least one under media_agents, or remove the stage (the stages after it move up)`,
			`29:9: copy stage 3 has no media agents; add at least one under media_agents, or remove the stage (the stages after it move up)`,
			`30:9: copy stage 4 must be a mapping with the key media_agents, not a list; write e.g. - {media_agents: [{name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}]}`,
			`32:19: media agent BMA2 has no buffers; add at least one under "buffers:", or remove the media agent`,
			`34:13: each entry of media_agents of copy stage 5 must be a mapping, not a string; write e.g. - {name: bma1, device: tape1, buffers: [{name: B1, follows: rma0.B1}]}`,
		}},
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
`, []string{
			`14:15: invalid restore media agent name "RMA.1"; use letters, digits, "_" and "-", starting with a letter or digit (a dot would break MEDIA_AGENT.BUFFER)`,
			`17:30: size of buffer RMA.1.B1 1KiB is below the minimum of 1MiB; use at least 1MiB, e.g. 64MiB`,
			`20:55: invalid buffer name "B 1"; use letters, digits, "_" and "-", starting with a letter or digit (a dot would break MEDIA_AGENT.BUFFER)`,
			`20:71: buffer BMA1.B 1 follows "RMA.1.B1", which is not of the form MEDIA_AGENT.BUFFER; name a buffer of the restore group, e.g. follows: RMA1.B1`,
		}},
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
`, []string{
			`4:32: volume_capacity 3MiB of pool p holds fewer than 4 blocks of 1MiB (the block size of device R2); use at least 4MiB`,
		}},
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
