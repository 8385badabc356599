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
rm -rf "$work" && mkdir -p "$res"
hz=$(getconf CLK_TCK)

# shellcheck source=scripts/fleet-lib.sh
. scripts/fleet-lib.sh
daisy=$root/daisy
fleet_ports "$port"
[ "${addr[srv]}" = "127.0.0.1:$port" ] || { echo "ports from $port on 127.0.0.1 are in use: give PORT=N (7 free ports from N)" >&2; exit 2; }
# Buffers each process holds (figure 2 without D5).
declare -A nbuf=([srv]=0 [c1]=0 [c2]=0 [c3]=0 [m1]=4 [m2]=5 [daisy]=9)
bufbytes=$(jq -nr --arg s "$buffer" '$s | capture("^(?<n>[0-9]+)(?<u>[KMG]i?B)$") as $m |
	($m.n | tonumber) * ({"KiB": 1024, "MiB": 1048576, "GiB": 1073741824, "KB": 1e3, "MB": 1e6, "GB": 1e9}[$m.u])')

mkdir -p "$work/pki"
fleet_config "$work/fleet" "$src" 1 "$buffer"
fleet_config "$work/local" "$src" 0 "$buffer"
fleet_pki "$work/fleet" "$work/pki"
run=0
[ -z "${PROFILE:-}" ] || { mkdir -p "$PROFILE" && PROFILE=$(cd "$PROFILE" && pwd); }
# prof NAME: the --cpu-profile flag for NAME's process of this run, if PROFILE is set.
prof() { [ -z "${PROFILE:-}" ] || echo "--cpu-profile=$PROFILE/$1-$run.pprof"; }
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
	EXTRA_FLAGS=()
	[ -z "${PROFILE:-}" ] || EXTRA_FLAGS=("--cpu-profile=$PROFILE/@NAME@-$run.pprof")
	fleet_up "$work/fleet" "$work/pki" "$work"
	settle "$src"
	for n in "${fleet_procs[@]}"; do before[$n]=$(ticks "${pid[$n]}"); done
	t0=$(now)
	id=$(api -X POST -H 'Content-Type: application/json' -d '{"kind": "backup", "level": "full"}' "https://${addr[api]}/v1/jobs" | jq -r .job)
	api -N "https://${addr[api]}/v1/jobs/$id/follow" | tail -n 1 >"$work/fleet.json"
	sync
	t1=$(now)
	for n in "${fleet_procs[@]}"; do
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
for n in daisy "${fleet_procs[@]}"; do
	read -r c1 c2 c3 < <(col 1 "$res/proc-$n" | spread)
	read -r h1 h2 h3 < <(col 2 "$res/proc-$n" | spread)
	awk -v n="$n" -v g="$gib" -v c1="$c1" -v c2="$c2" -v c3="$c3" -v h1="$h1" -v h2="$h2" -v h3="$h3" -v nb="${nbuf[$n]}" -v bb="$bufbytes" -v k="$rss_const" 'BEGIN {
		M = 1048576; lim = nb*bb/M + k
		label = (n == "daisy") ? "daisy backup (in process)" : n
		printf "| %s | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f | %.0f | %.0f | %s |\n", label, c1/g, c2/g, c3/g, h1/M, h2/M, h3/M, nb*bb/M, lim, (h3/M <= lim) ? "yes" : "NO" }'
done
echo
echo "wall s per run: in process $(tr '\n' ' ' <"$res/local" | awk '{for (i = 1; i <= NF; i += 3) printf "%s ", $i}')fleet $(tr '\n' ' ' <"$res/fleet")ratios $(ratios "$res/local" "$res/fleet" | tr '\n' ' ')"
for n in daisy "${fleet_procs[@]}"; do echo "$n: CPU s and VmHWM bytes per run: $(tr '\n' ';' <"$res/proc-$n")"; done
[ -n "${KEEP:-}" ] || rm -rf "$work"
