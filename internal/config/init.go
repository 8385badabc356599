package config

import (
	"fmt"
	"strconv"
	"strings"
)

// InitOptions describes the installation that InitTemplate writes.
type InitOptions struct {
	Host           string       // the client; this machine's hostname when empty
	Sources        []InitSource // what to back up
	VolumeCapacity int64        // bytes per volume; 0 = DefaultVolumeCapacity
}

// InitSource is one source for InitTemplate.
type InitSource struct {
	Name string // source name; made valid and unique if it is not
	Path string // absolute path
}

// InitTemplate returns a commented, working daisy.yaml: the given sources on
// the client Host, one vtape pool "default" under state/volumes/default,
// one vtape device "tape0", a backup group with one media agent "bma0" on
// tape0 holding one buffer per source, the SQLite catalog state/catalog.db,
// and a commented-out example of a mirror level on a second device.
// Invalid or repeated source names are replaced by valid, unique ones.
func InitTemplate(o InitOptions) []byte {
	return initTemplate(o, false)
}

// initTemplate writes the template; with mirror the example mirror level is
// written out rather than commented out (for tests).
func initTemplate(o InitOptions, mirror bool) []byte {
	host := o.Host
	if host == "" {
		host, _ = hostname()
	}
	host = initName(host, "localhost", nameWithDots)
	capacity := o.VolumeCapacity
	if capacity <= 0 {
		capacity = DefaultVolumeCapacity
	}
	// A volume holds at least four blocks.
	capacity = max(capacity, 4*DefaultBlockSize)

	type src struct{ name, path, buffer string }
	var sources []src
	used := map[string]bool{}
	for i, s := range o.Sources {
		name := initName(s.Name, fmt.Sprintf("source%d", i+1), nameWithDots)
		base := name
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		used[name] = true
		sources = append(sources, src{name: name, path: s.Path, buffer: fmt.Sprintf("B%d", i+1)})
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	q := yamlQuote
	// ex writes a line of the example mirror level, commented out unless
	// mirror is set.
	ex := func(format string, args ...any) {
		if !mirror {
			b.WriteString("# ")
		}
		w(format, args...)
	}

	w(`# daisy.yaml: what daisy backs up, where to, and how many copies.
#
#   daisy check    validates this file (every problem with line:column)
#   daisy graph    draws it: sources -> buffers -> media agents -> devices
#
# Relative paths are relative to the directory of this file. Sizes are
# written like 64MiB, 256KiB, 10GiB (KB/MB/GB are powers of 1000); durations
# like 30d, 12h, 1w, 1y.

# The catalog records every object, copy and volume.
catalog:
  sqlite: state/catalog.db

# Values used wherever an entry below leaves them out.
defaults:
  buffer_size: 64MiB        # memory of one buffer
  block_size: 256KiB        # block size of the devices
  pool: default             # pool of a media agent that names none

# The machines with data to protect.
clients:
  - name: %s

# A fleet: daisy server runs the jobs, daisy agent on each client reads
# its sources, daisy media-agent on each media host drives its devices.
# Each names where it listens (HOST:PORT; its certificate, from "daisy
# cert issue", names the host). A client without an address, and a device
# without a host, are the local host: without a server (the all-in-one
# mode) every command runs its job in its own process.
# server: {host: backup1, address: backup1.example.com:7450, api: 127.0.0.1:7451}
# clients: [{name: client-a, address: client-a.example.com:7452}]
# media_hosts: [{name: mh1, address: mh1.example.com:7453}]
# and under devices: - {name: tape0, type: vtape, host: mh1}
#
# Schedules: the jobs daisy server starts by itself. cron is a cron line
# (minute hour day-of-month month day-of-week; or 6 fields, seconds first;
# or @hourly, @daily, @weekly, @monthly; "CRON_TZ=Europe/Paris " before it
# for a time zone). job is backup (level: full, incremental or
# differential; sources: default all), copy (copy_job: NAME of copy_jobs),
# verify (sources) or prune (reclaim: true). A run still going at its next
# time is not started twice; times missed while the server was down are
# not caught up.
# schedules:
#   - {name: nightly, cron: "0 1 * * 1-6", job: backup, level: incremental}
#   - {name: weekly-full, cron: "0 1 * * 0", job: backup, level: full}
#   - {name: expire, cron: "@daily", job: prune}

# Sources: named sets of paths on a client. Add "exclude" patterns to skip
# files, e.g. exclude: ["*.tmp", "cache/"], and "compression: zstd" to
# compress what the source writes to the volumes. A path that does not
# exist fails the backup of its source (an unmounted disk is not an empty
# one); add "may_be_absent: true" to a source whose paths may be missing.
`, q(host))
	if len(sources) == 0 {
		w("sources: []\n")
		w("# - name: home\n#   client: %s\n#   paths: [/home]\n", q(host))
	} else {
		w("sources:\n")
		for _, s := range sources {
			w("  - name: %s\n    client: %s\n    paths: [%s]\n", q(s.name), q(host), q(s.path))
		}
	}
	w(`
# Pools: sets of volumes. A vtape pool keeps its volumes as files in a
# directory.
pools:
  - name: default
    type: vtape
    directory: state/volumes/default
    volume_capacity: %s
    # free_space: 1GiB      # left free on the filesystem (default: 1/8 of it, at most 64MiB)
    # retention: 30d        # expire copies older than 30 days; or instead:
    # retention: 12 copies  # keep the newest 12 backups of each source

# Devices: the drives that write volumes; "vtape" is a virtual tape. A
# Linux tape drive writes into a pool of type tape:
#   - {name: lto1, type: tape, path: /dev/nst0, changer: robot}
#   - {name: robot, type: changer, path: /dev/sg1}   # its library, via mtx
devices:
  - name: tape0
    type: vtape
`, FormatSize(capacity))
	ex("  - name: tape1            # a second drive, for the mirror level below\n")
	ex("    type: vtape\n")
	w(`
# Backup group: media agents that receive the data of the sources. A media
# agent owns one device and one buffer per source it reads, and writes them
# all, interleaved, onto that device.
`)
	if len(sources) == 0 {
		w("backup_group: []\n")
		w("# - name: bma0\n#   device: tape0\n#   pool: default\n#   buffers:\n#     - name: B1\n#       source: home\n")
	} else {
		w("backup_group:\n  - name: bma0\n    device: tape0\n    pool: default\n    buffers:\n")
		for _, s := range sources {
			w("      - name: %s\n        source: %s\n", s.buffer, q(s.name))
		}
	}
	w(`
# Mirror groups: more copies in the same pass. Each item is a mirror level;
# a buffer of level 1 follows ("MEDIA_AGENT.BUFFER") a buffer of the backup
# group, a buffer of level 2 one of level 1, and so on. Every record that
# passes the buffer it follows is written again, by another media agent on
# another device. To make a second copy, uncomment tape1 above and this:
`)
	if len(sources) == 0 {
		w("#\n# mirror_groups:\n#   - media_agents:\n#       - name: bma1\n#         device: tape1\n#         buffers:\n#           - name: B1\n#             follows: bma0.B1\n")
		return []byte(b.String())
	}
	ex("mirror_groups:\n")
	ex("  - media_agents:\n")
	ex("      - name: bma1\n")
	ex("        device: tape1\n")
	ex("        pool: default      # or a pool of its own, to keep the copies apart\n")
	ex("        buffers:\n")
	for _, s := range sources {
		ex("          - name: %s\n", s.buffer)
		ex("            follows: bma0.%s\n", s.buffer)
	}
	return []byte(b.String())
}

// CheckSourceName returns an error saying which characters a source name
// may have when name is not a valid one, nil when it is.
func CheckSourceName(name string) error {
	if validName(name, nameWithDots) {
		return nil
	}
	return fmt.Errorf("invalid source name %q; use letters, digits, \"_\", \"-\" and \".\", starting with a letter or digit, at most 128 characters", name)
}

// initName makes s a valid name: a valid one stays as it is, invalid
// characters become "-"; orElse when nothing is left.
func initName(s, orElse string, dots bool) string {
	if validName(s, dots) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '_' || r == '-' || r == '.' && dots:
			if b.Len() > 0 {
				b.WriteRune(r)
			}
		default:
			if b.Len() > 0 {
				b.WriteByte('-')
			}
		}
	}
	out := strings.TrimRight(b.String(), "-_.")
	if len(out) > 64 {
		out = strings.TrimRight(out[:64], "-_.")
	}
	if !validName(out, dots) {
		return orElse
	}
	return out
}

// yamlQuote writes s as a YAML scalar: plain when that is safe, in double
// quotes otherwise.
func yamlQuote(s string) string {
	plain := s != ""
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '/' || r == '_' || r == '-' && i > 0 || r == '.' && i > 0
		if !ok {
			plain = false
			break
		}
	}
	if plain && !looksLikeNonString(s) {
		return s
	}
	return strconv.Quote(s)
}

// looksLikeNonString reports whether YAML would read s as something other
// than a string (a number, boolean or null).
func looksLikeNonString(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return true
	}
	_, errI := strconv.ParseInt(s, 0, 64)
	_, errF := strconv.ParseFloat(s, 64)
	return errI == nil || errF == nil || s[0] >= '0' && s[0] <= '9'
}
