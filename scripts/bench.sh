#!/usr/bin/env bash
# End-to-end backup benchmark: daisy against plain tar with the same number
# of copies, on the standard data set (../shared/tools/gendata, 2 GiB,
# seed 1), in one run, alternating tools so that both see the same machine
# state. Prints a markdown table of medians and ratios.
#
#   scripts/bench.sh [RUNS [COPIES...]]   (default 3 runs of 1, 2 and 3 copies)
#
# Input MB/s = data set bytes / wall time, each run followed by sync.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-3}
shift || true
copies=("$@")
[ ${#copies[@]} -gt 0 ] || copies=(1 2 3)
out=$root/out
bytes=$(du -sb --apparent-size "$src" | cut -f1)

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

run_tar() {
	local k=$1
	rm -rf "$out" && mkdir -p "$out" && sync
	local t0 t1
	t0=$(now)
	if [ "$k" -eq 1 ]; then
		tar -cf "$out/c1" -C "$src" D1 D2 D3 D4
	else
		local fifos=() pids=()
		for c in $(seq 2 "$k"); do
			mkfifo "$out/f$c"
			dd if="$out/f$c" of="$out/c$c" bs=1M status=none &
			pids+=($!)
			fifos+=("$out/f$c")
		done
		tar -cf - -C "$src" D1 D2 D3 D4 | tee "${fifos[@]}" | dd of="$out/c1" bs=1M status=none
		wait "${pids[@]}"
	fi
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}

run_daisy() {
	local k=$1 prof=${2:-}
	rm -rf "$out" && mkdir -p "$out" && daisy_config "$k" "$out" && sync
	local t0 t1 extra=()
	[ -n "$prof" ] && extra=(--cpu-profile "$prof")
	t0=$(now)
	"$root/daisy" -c "$out/daisy.yaml" --no-progress "${extra[@]}" backup >"$root/last-daisy.txt"
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}


# Warm the page cache with the data set once.
tar -cf - -C "$src" D1 D2 D3 D4 >/dev/null

echo "| copies | tar (s) | tar input MB/s | daisy (s) | daisy input MB/s | daisy / tar |"
echo "|---|---|---|---|---|---|"
for k in "${copies[@]}"; do
	tt=() dt=()
	for _ in $(seq 1 "$runs"); do
		tt+=("$(run_tar "$k")")
		dt+=("$(run_daisy "$k")")
	done
	tm=$(printf '%s\n' "${tt[@]}" | median)
	dm=$(printf '%s\n' "${dt[@]}" | median)
	awk -v k="$k" -v t="$tm" -v d="$dm" -v b="$bytes" 'BEGIN {
		printf "| %d | %.2f | %.0f | %.2f | %.0f | %.2f× |\n", k, t, b/t/1e6, d, b/d/1e6, t/d }'
done
k=${copies[${#copies[@]}-1]}
run_daisy "$k" "$root/cpu-${k}copies.prof" >/dev/null
echo
echo "CPU profile of a $k-copy daisy backup: $root/cpu-${k}copies.prof (go tool pprof -top $root/daisy $root/cpu-${k}copies.prof)"
rm -rf "$out"
