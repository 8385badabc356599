#!/usr/bin/env bash
# End-to-end backup benchmark: daisy against plain tar with the same number
# of copies, on the standard data set (../shared/tools/gendata, 2 GiB,
# seed 1), in one run. Each run is prepared the same way (bench-lib.sh's
# settle: the previous output deleted, whichever tool made it, the data
# set read once, sync, 8 s idle); the tools alternate run by run (tar first
# in odd pairs, daisy first in even ones). Prints, per number of copies,
# min/median/max of wall time, input MB/s and CPU seconds per GiB of input
# of each tool, and the daisy/tar ratio pair by pair.
#
#   scripts/bench.sh [RUNS [COPIES...]]   (default 5 runs of 1, 2 and 3 copies)
#
# Input MB/s = data set bytes / wall time; the wall time includes the sync
# after the command. ratio = tar seconds / daisy seconds: above 1.0 daisy
# is faster. CPU = user + system seconds of the command and its children
# (tar, tee and dd for tar's copies). SETTLE=SECONDS changes the idle time.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-5}
shift || true
copies=("$@")
[ ${#copies[@]} -gt 0 ] || copies=(1 2 3)
out=$root/out
bytes=$(du -sb --apparent-size "$src/" | cut -f1)

# daisy configuration with k copies: one media agent per copy, each on its
# own virtual tape device and pool; copy k+1 follows copy k.
daisy_config() {
	local k=$1 dir=$2
	{
		echo "defaults: {buffer_size: 64MiB}"
		echo "sources:"
		for s in D1 D2 D3 D4; do echo "  - {name: $s, paths: [$src/$s]}"; done
		echo "pools:"
		for c in $(seq 1 "$k"); do echo "  - {name: p$c, type: vtape, volume_capacity: 8GiB}"; done
		echo "devices:"
		for c in $(seq 1 "$k"); do echo "  - {name: tape$c, type: vtape}"; done
		echo "backup_group:"
		echo "  - name: bma1"
		echo "    device: tape1"
		echo "    pool: p1"
		echo "    buffers:"
		for s in 1 2 3 4; do echo "      - {name: B$s, source: D$s}"; done
		if [ "$k" -gt 1 ]; then
			echo "mirror_groups:"
			for c in $(seq 2 "$k"); do
				echo "  - media_agents:"
				echo "      - name: bma$c"
				echo "        device: tape$c"
				echo "        pool: p$c"
				echo "        buffers:"
				for s in 1 2 3 4; do echo "          - {name: B$s, follows: bma$((c - 1)).B$s}"; done
			done
		fi
	} >"$dir/daisy.yaml"
}

# tar_copies K: tar of the data set into K files; copies 2..K through tee
# and one dd writer per copy (the fastest plain-tool pipeline of
# ../shared/tools/README.md).
tar_copies() {
	local k=$1
	if [ "$k" -eq 1 ]; then
		tar -cf "$out/c1" -C "$src" D1 D2 D3 D4
		return
	fi
	local fifos=() pids=() c
	for c in $(seq 2 "$k"); do
		mkfifo "$out/f$c"
		dd if="$out/f$c" of="$out/c$c" bs=1M status=none &
		pids+=($!)
		fifos+=("$out/f$c")
	done
	tar -cf - -C "$src" D1 D2 D3 D4 | tee "${fifos[@]}" | dd of="$out/c1" bs=1M status=none
	wait "${pids[@]}"
}
export -f tar_copies
export src out

# prepare K: the previous output deleted (either tool's), daisy's
# configuration written (for both tools alike), the input settled.
prepare() {
	rm -rf "$out" && mkdir -p "$out" && daisy_config "$1" "$out"
	settle "$src"
}
run_tar() { prepare "$1"; timed "$res/tar-$1" bash -c 'tar_copies "$0"' "$1"; }
run_daisy() { prepare "$1"; timed "$res/daisy-$1" "$root/daisy" -c "$out/daisy.yaml" --no-progress backup >"$root/last-daisy.txt"; }

res=$root/bench-times
rm -rf "$res" && mkdir -p "$res"
for k in "${copies[@]}"; do
	for i in $(seq 1 "$runs"); do
		if [ $((i % 2)) -eq 1 ]; then run_tar "$k"; run_daisy "$k"; else run_daisy "$k"; run_tar "$k"; fi
	done
done

# row NAME FILE: min/median/max of wall, input MB/s and CPU s/GiB.
row() {
	read -r wmin wmed wmax < <(col 1 "$2" | spread)
	read -r cmin cmed cmax < <(cpu "$2" | spread)
	awk -v n="$1" -v b="$bytes" -v a="$wmin" -v m="$wmed" -v z="$wmax" -v c1="$cmin" -v c2="$cmed" -v c3="$cmax" 'BEGIN {
		g = b / 1073741824
		printf "| %s | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f | %.2f / %.2f / %.2f |", n, a, m, z, b/z/1e6, b/m/1e6, b/a/1e6, c1/g, c2/g, c3/g }'
}
echo "$runs runs of each, alternating; every run after settle (${SETTLE:-8} s idle); data set $bytes bytes"
echo
echo "| copies | tool | wall s (min / median / max) | input MB/s (min / median / max) | CPU s/GiB (min / median / max) | daisy / tar, pair by pair (min / median / max) |"
echo "|---|---|---|---|---|---|"
for k in "${copies[@]}"; do
	read -r rmin rmed rmax < <(ratios "$res/tar-$k" "$res/daisy-$k" | spread)
	echo "$(row "$k | tar" "$res/tar-$k") |"
	echo "$(row "$k | daisy" "$res/daisy-$k") $rmin / **$rmed** / $rmax |"
done
echo
for k in "${copies[@]}"; do
	echo "$k copies, wall s user s sys s per run: tar $(tr '\n' ';' <"$res/tar-$k") daisy $(tr '\n' ';' <"$res/daisy-$k") ratios $(ratios "$res/tar-$k" "$res/daisy-$k" | tr '\n' ' ')"
done
k=${copies[${#copies[@]}-1]}
prepare "$k"
"$root/daisy" -c "$out/daisy.yaml" --no-progress --cpu-profile "$root/cpu-${k}copies.prof" backup >/dev/null
echo
echo "CPU profile of a $k-copy daisy backup: $root/cpu-${k}copies.prof (go tool pprof -top $root/daisy $root/cpu-${k}copies.prof)"
rm -rf "$out"
