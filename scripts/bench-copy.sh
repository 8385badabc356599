#!/usr/bin/env bash
# Copy-path benchmark: a daisy copy job making 2 new copies of the standard
# data set (backed up once, 4 sources multiplexed on one volume) in one read
# pass, against the same volume bytes copied by plain tools in the same
# run: cat of the volume files through tee into 2 files, one writer process
# per copy, then sync. Prints a markdown table of medians.
#
#   scripts/bench-copy.sh [RUNS]      (default 3)
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-3}
work=$root/copy

rm -rf "$work" && mkdir -p "$work"
{
	echo "defaults: {buffer_size: 64MiB}"
	echo "sources:"
	for s in D1 D2 D3 D4; do echo "  - {name: $s, paths: [$src/$s]}"; done
	echo "pools:"
	for p in p1 p2 p3; do echo "  - {name: $p, type: vtape, volume_capacity: 8GiB}"; done
	echo "devices:"
	for d in tape1 tape2 tape3 tape4; do echo "  - {name: $d, type: vtape}"; done
	echo "backup_group:"
	echo "  - name: bma1"
	echo "    device: tape1"
	echo "    pool: p1"
	echo "    buffers:"
	for s in 1 2 3 4; do echo "      - {name: B$s, source: D$s}"; done
	echo "copy_jobs:"
	echo "  - name: two-copies"
	echo "    restore_group:"
	echo "      - name: rma"
	echo "        device: tape1"
	echo "        pool: p1"
	echo "        buffers:"
	echo "          - {name: B1, select: {all: true}}"
	echo "    copy_groups:"
	echo "      - media_agents:"
	echo "          - {name: stage1, device: tape2, pool: p2, buffers: [{name: B1, follows: rma.B1}]}"
	echo "      - media_agents:"
	echo "          - {name: stage2, device: tape3, pool: p3, buffers: [{name: B1, follows: stage1.B1}]}"
} >"$work/daisy.yaml"
"$root/daisy" -c "$work/daisy.yaml" --no-progress backup >/dev/null
vols=("$work"/state/volumes/p1/*.vtape)
bytes=$(cat "${vols[@]}" | wc -c)
objbytes=$("$root/daisy" -c "$work/daisy.yaml" --json ls objects | awk -F': ' '/"length"/ {gsub(",","",$2); s+=$2} END {print s}')

run_plain() {
	rm -rf "$work/plain" && mkdir -p "$work/plain" && sync
	local t0 t1
	t0=$(now)
	mkfifo "$work/plain/f2"
	dd if="$work/plain/f2" of="$work/plain/c2" bs=1M status=none &
	local pid=$!
	cat "${vols[@]}" | tee "$work/plain/f2" | dd of="$work/plain/c1" bs=1M status=none
	wait "$pid"
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}

run_daisy() {
	# Forget the copies of the previous run: drop them from a saved catalog.
	cp "$work/catalog.saved" "$work/state/catalog.db"
	rm -f "$work/state/catalog.db-wal" "$work/state/catalog.db-shm"
	rm -rf "$work/state/volumes/p2" "$work/state/volumes/p3" && sync
	local t0 t1
	t0=$(now)
	"$root/daisy" -c "$work/daisy.yaml" --no-progress copy --job two-copies >"$root/last-copy.txt"
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}

# The catalog after the backup (daisy checkpoints its WAL when it closes),
# restored before each copy run so that every run makes the same copies.
cp "$work/state/catalog.db" "$work/catalog.saved"

cat "${vols[@]}" >/dev/null # warm the page cache with the volumes
pt=() dt=()
for _ in $(seq 1 "$runs"); do
	pt+=("$(run_plain)")
	dt+=("$(run_daisy)")
done
pm=$(printf '%s\n' "${pt[@]}" | median)
dm=$(printf '%s\n' "${dt[@]}" | median)
echo "| run | seconds | MB/s (volume bytes) | ratio |"
echo "|---|---|---|---|"
awk -v p="$pm" -v d="$dm" -v b="$bytes" 'BEGIN {
	printf "| cat volumes \\| tee, 2 writers, sync | %.2f | %.0f | 1.00× |\n", p, b/p/1e6
	printf "| daisy copy job, 2 new copies, one read pass | %.2f | %.0f | %.2f× |\n", d, b/d/1e6, p/d }'
echo
echo "volume bytes: $bytes; object bytes: $objbytes; daisy checks every block CRC, record CRC and object hash while copying."
tail -3 "$root/last-copy.txt" || true
