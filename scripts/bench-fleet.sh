#!/usr/bin/env bash
# Fleet benchmark (issue 11, acceptance 5): the figure 2 backup of the
# standard data set (../shared/tools/gendata, 2 GiB, seed 1) run by a
# fleet of processes over loopback with mutual TLS 1.3 (daisy server, three
# daisy agents, two daisy media-agents, each its own process on 127.0.0.1),
# against the in-process backup (daisy backup) of the same configuration
# without hosts, in one run. Each run is prepared the same way
# (bench-lib.sh's settle: the previous output of both deleted, the data set
# read once, sync, 8 s idle; for the fleet, its six processes are started
# fresh and up before the settle); the two alternate run by run (in
# process first in odd pairs, the fleet first in even ones).
#
#   scripts/bench-fleet.sh [RUNS]       (default 5)
#
# Figure 2 on the standard data set, which has four sources, not five: D5
# and its buffer (BMA126.B1, one copy) are dropped; D1..D4 keep their
# chains of figure 2 (D1 and D2 three copies, D4 two, D3 one: 9 copies of 4
# sources in one pass). The backup group's media agents (BMA124, BMA126)
# run on media host m1, both mirror levels' (BMA138, BMA140, BMA144,
# BMA146) on m2, so every chain crosses hosts. Clients: c1 holds D1 and D2,
# c2 D3, c3 D4 (figure 2's D5 client is idle without D5, so D4 moved to it).
#
# Prints, for the fleet and in process: min/median/max of wall time and
# input MB/s, the fleet / in-process throughput ratio pair by pair (= in
# process seconds / fleet seconds; the goal is at least 0.85), the CPU
# seconds per GiB of input of each process (fleet: utime+stime deltas of
# /proc/PID/stat around each job, for srv, c1..c3, m1, m2; in process:
# user+sys of daisy backup), and the peak RSS of each process (VmHWM of
# /proc/PID/status after the job; in process: peak_rss_bytes of its result)
# against its configured buffers (the sum of buffer_size of the buffers it
# holds: m1 4, m2 5, in process 9, the server and agents none) plus
# RSS_CONST MiB (default 128: a media host sets Go's soft memory limit at
# its running jobs' buffers + 96 MiB (mediahost.MemoryHeadroom), so its
# garbage collector lets the heap grow to that; the rest is Go's runtime,
# gRPC's fixed windows and 768 KiB of I/O buffers per connection, block
# buffers, the catalog's cache).
#
# Input MB/s = data set bytes / wall time; the wall time includes the sync
# after the job. The fleet's wall time runs from the POST of the job to the
# API to the end of its follow stream (the job's end), then sync.
#
#   SRC=DIR        a data set with D1..D4 instead of .bench/src (nothing is
#                  generated; for trying the script on small data)
#   BUFFER=SIZE    buffer_size of every buffer (default 64MiB, as bench.sh)
#   PORT=N         first of 7 free TCP ports on 127.0.0.1 (default 17450)
#   SETTLE=SECONDS idle time before each run (default 8)
#   KEEP=1         keep .bench/fleet (configurations, logs, state) at the end
#   PROFILE=DIR    write a CPU profile of each fleet process per run to
#                  DIR/NAME-RUN.pprof and of the in-process backup to
#                  DIR/daisy-RUN.pprof (go tool pprof reads them)
set -euo pipefail
if [ -n "${SRC:-}" ]; then
	SRC=$(cd "$SRC" && pwd)
	export NO_DATASET=1
fi
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
src=${SRC:-$src}
runs=${1:-5}
buffer=${BUFFER:-64MiB}
rss_const=${RSS_CONST:-128}
port=${PORT:-17450}
for t in jq curl; do
	command -v "$t" >/dev/null || { echo "bench-fleet.sh needs $t" >&2; exit 2; }
done
for s in D1 D2 D3 D4; do
	[ -d "$src/$s" ] || { echo "no data set: $src/$s is missing" >&2; exit 2; }
done
bytes=$(du -sb --apparent-size "$src/" | cut -f1)
work=$root/fleet
res=$work/times
procs=(srv c1 c2 c3 m1 m2)
rm -rf "$work" && mkdir -p "$res"
hz=$(getconf CLK_TCK)

# Ports: server, API, c1..c3, m1, m2.
declare -A addr
i=0
for n in srv api c1 c2 c3 m1 m2; do
	p=$((port + i))
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "port $p on 127.0.0.1 is in use: give PORT=N (7 free ports from N)" >&2
		exit 2
	fi
	addr[$n]=127.0.0.1:$p
	i=$((i + 1))
done

# config DIR FLEET: figure 2 without D5; FLEET=1 adds the server, the
# clients and media hosts with their addresses and the devices' hosts.
config() {
	local d=$1 fleet=$2 h1="" h2=""
	if [ "$fleet" = 1 ]; then h1=", host: m1" h2=", host: m2"; fi
	{
		if [ "$fleet" = 1 ]; then
			echo "server: {host: srv, address: ${addr[srv]}, api: ${addr[api]}}"
			echo "clients:"
			for c in c1 c2 c3; do echo "  - {name: $c, address: ${addr[$c]}}"; done
			echo "media_hosts:"
			for m in m1 m2; do echo "  - {name: $m, address: ${addr[$m]}}"; done
		fi
		echo "catalog: {sqlite: $d/state/catalog.db}"
		echo "defaults: {buffer_size: $buffer, pool: copy1}"
		echo "sources:"
		for s in D1:c1 D2:c1 D3:c2 D4:c3; do
			if [ "$fleet" = 1 ]; then
				echo "  - {name: ${s%:*}, client: ${s#*:}, paths: [$src/${s%:*}]}"
			else
				echo "  - {name: ${s%:*}, paths: [$src/${s%:*}]}"
			fi
		done
		echo "pools:"
		for p in copy1 copy2 copy3; do echo "  - {name: $p, type: vtape, directory: $d/state/volumes/$p, volume_capacity: 8GiB}"; done
		echo "devices:"
		for r in R1 R2; do echo "  - {name: $r, type: vtape$h1}"; done
		for r in R3 R5 R6 R8; do echo "  - {name: $r, type: vtape$h2}"; done
		cat <<-EOF
		backup_group:
		  - name: BMA124
		    device: R1
		    pool: copy1
		    buffers: [{name: B1, source: D3}, {name: B2, source: D2}, {name: B3, source: D4}]
		  - name: BMA126
		    device: R2
		    pool: copy1
		    buffers: [{name: B3, source: D1}]
		mirror_groups:
		  - media_agents:
		      - name: BMA138
		        device: R5
		        pool: copy2
		        buffers: [{name: B2, follows: BMA124.B2}, {name: B3, follows: BMA124.B3}]
		      - name: BMA140
		        device: R8
		        pool: copy2
		        buffers: [{name: B1, follows: BMA126.B3}]
		  - media_agents:
		      - name: BMA144
		        device: R3
		        pool: copy3
		        buffers: [{name: B2, follows: BMA138.B2}]
		      - name: BMA146
		        device: R6
		        pool: copy3
		        buffers: [{name: B1, follows: BMA140.B1}]
		EOF
	} >"$d/daisy.yaml"
}
# Buffers each process holds (figure 2 without D5).
declare -A nbuf=([srv]=0 [c1]=0 [c2]=0 [c3]=0 [m1]=4 [m2]=5 [daisy]=9)
bufbytes=$(jq -nr --arg s "$buffer" '$s | capture("^(?<n>[0-9]+)(?<u>[KMG]i?B)$") as $m |
	($m.n | tonumber) * ({"KiB": 1024, "MiB": 1048576, "GiB": 1073741824, "KB": 1e3, "MB": 1e6, "GB": 1e9}[$m.u])')

mkdir -p "$work/fleet" "$work/local" "$work/pki"
config "$work/fleet" 1
config "$work/local" 0
dfleet() { "$root/daisy" -c "$work/fleet/daisy.yaml" "$@"; }
dfleet cert --dir "$work/pki" init >/dev/null
dfleet cert --dir "$work/pki" issue >/dev/null
token=$(dfleet --json token --dir "$work/pki" create bench-fleet | jq -r .token)
api() { curl -sS --fail-with-body --cacert "$work/pki/ca.crt" -H "Authorization: Bearer $token" "$@"; }

declare -A pid
run=0
# prof NAME: the --cpu-profile flag for NAME's process of this run, if PROFILE is set.
prof() { [ -z "${PROFILE:-}" ] || echo "--cpu-profile=$PROFILE/$1-$run.pprof"; }
[ -z "${PROFILE:-}" ] || { mkdir -p "$PROFILE" && PROFILE=$(cd "$PROFILE" && pwd); }
# fleet_up: the six processes, started fresh, until every host said Hello.
fleet_up() {
	local n
	"$root/daisy" -c "$work/fleet/daisy.yaml" --log-level warn $(prof srv) server --pki "$work/pki" >>"$work/srv.log" 2>&1 &
	pid[srv]=$!
	for n in m1 m2; do
		"$root/daisy" --log-level warn $(prof "$n") media-agent --name "$n" --listen "${addr[$n]}" --server "${addr[srv]}" --server-name srv --pki "$work/pki" >>"$work/$n.log" 2>&1 &
		pid[$n]=$!
	done
	for n in c1 c2 c3; do
		"$root/daisy" --log-level warn $(prof "$n") agent --name "$n" --listen "${addr[$n]}" --server "${addr[srv]}" --server-name srv --pki "$work/pki" >>"$work/$n.log" 2>&1 &
		pid[$n]=$!
	done
	for _ in $(seq 1 300); do
		if [ "$(api "https://${addr[api]}/v1/topology" 2>/dev/null | jq '[.hosts[] | select(.connected)] | length' 2>/dev/null || echo 0)" = 6 ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "the fleet is not up after 30 s; logs in $work/*.log" >&2
	fleet_down
	exit 1
}
# fleet_down: SIGTERM to each process started by fleet_up, and wait.
fleet_down() {
	local n
	for n in "${procs[@]}"; do
		[ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null || true
	done
	for n in "${procs[@]}"; do
		[ -n "${pid[$n]:-}" ] && wait "${pid[$n]}" 2>/dev/null || true
		pid[$n]=""
	done
}
trap fleet_down EXIT
# ticks PID: utime+stime of the process, in clock ticks.
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
# hwm PID: peak RSS (VmHWM) of the process, bytes.
hwm() { awk '/^VmHWM:/ {print $2 * 1024}' "/proc/$1/status"; }

# prepare: the previous output of both deleted, the input settled.
prepare() {
	rm -rf "$work/fleet/state" "$work/local/state"
	sync
}
run_local() {
	prepare
	settle "$src"
	timed "$res/local" "$root/daisy" -c "$work/local/daisy.yaml" $(prof daisy) --server local --no-progress --json backup >"$work/local.json"
	[ "$(jq -r .state "$work/local.json")" = success ] || { echo "in-process backup: $(jq -c '{state, objects: [.objects[] | {source, state, error}]}' "$work/local.json")" >&2; exit 1; }
	echo "$(cpu <(tail -n 1 "$res/local")) $(jq -r .peak_rss_bytes "$work/local.json")" >>"$res/proc-daisy"
}
run_fleet() {
	local n t0 t1 id
	declare -A before
	prepare
	fleet_up
	settle "$src"
	for n in "${procs[@]}"; do before[$n]=$(ticks "${pid[$n]}"); done
	t0=$(now)
	id=$(api -X POST -H 'Content-Type: application/json' -d '{"kind": "backup", "level": "full"}' "https://${addr[api]}/v1/jobs" | jq -r .job)
	api -N "https://${addr[api]}/v1/jobs/$id/follow" | tail -n 1 >"$work/fleet.json"
	sync
	t1=$(now)
	for n in "${procs[@]}"; do
		echo "$(awk -v a="${before[$n]}" -v b="$(ticks "${pid[$n]}")" -v hz="$hz" 'BEGIN {printf "%.3f", (b-a)/hz}') $(hwm "${pid[$n]}")" >>"$res/proc-$n"
	done
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}' >>"$res/fleet"
	fleet_down
	[ "$(jq -r .result.state "$work/fleet.json")" = success ] || { echo "fleet backup: $(jq -c '{state, error, result: {state: .result.state, objects: [.result.objects[]? | {source, state, error}]}}' "$work/fleet.json")" >&2; exit 1; }
}

for i in $(seq 1 "$runs"); do
	run=$i
	if [ $((i % 2)) -eq 1 ]; then run_local; run_fleet; else run_fleet; run_local; fi
done

# Rows: min / median / max.
gib=$(awk -v b="$bytes" 'BEGIN {print b / 1073741824}')
wallrow() {
	read -r a m z < <(col 1 "$2" | spread)
	awk -v n="$1" -v b="$bytes" -v a="$a" -v m="$m" -v z="$z" 'BEGIN {printf "| %s | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f |", n, a, m, z, b/z/1e6, b/m/1e6, b/a/1e6}'
}
echo "$runs runs of each, alternating; every run after settle (${SETTLE:-8} s idle); data set $src, $bytes bytes; buffer_size $buffer"
echo
echo "| backup | wall s (min / median / max) | input MB/s (min / median / max) | fleet / in process, pair by pair (min / median / max) |"
echo "|---|---|---|---|"
read -r rmin rmed rmax < <(ratios "$res/local" "$res/fleet" | spread)
echo "$(wallrow "in process (daisy backup)" "$res/local") |"
echo "$(wallrow "fleet (6 processes, TLS)" "$res/fleet") $rmin / **$rmed** / $rmax |"
echo
echo "| process | CPU s/GiB (min / median / max) | peak RSS MiB (min / median / max) | buffers MiB | buffers + $rss_const MiB | within |"
echo "|---|---|---|---|---|---|"
for n in daisy "${procs[@]}"; do
	read -r c1 c2 c3 < <(col 1 "$res/proc-$n" | spread)
	read -r h1 h2 h3 < <(col 2 "$res/proc-$n" | spread)
	awk -v n="$n" -v g="$gib" -v c1="$c1" -v c2="$c2" -v c3="$c3" -v h1="$h1" -v h2="$h2" -v h3="$h3" -v nb="${nbuf[$n]}" -v bb="$bufbytes" -v k="$rss_const" 'BEGIN {
		M = 1048576; lim = nb*bb/M + k
		label = (n == "daisy") ? "daisy backup (in process)" : n
		printf "| %s | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f | %.0f | %.0f | %s |\n", label, c1/g, c2/g, c3/g, h1/M, h2/M, h3/M, nb*bb/M, lim, (h3/M <= lim) ? "yes" : "NO" }'
done
echo
echo "wall s per run: in process $(tr '\n' ' ' <"$res/local" | awk '{for (i = 1; i <= NF; i += 3) printf "%s ", $i}')fleet $(tr '\n' ' ' <"$res/fleet")ratios $(ratios "$res/local" "$res/fleet" | tr '\n' ' ')"
for n in daisy "${procs[@]}"; do echo "$n: CPU s and VmHWM bytes per run: $(tr '\n' ';' <"$res/proc-$n")"; done
[ -n "${KEEP:-}" ] || rm -rf "$work"
