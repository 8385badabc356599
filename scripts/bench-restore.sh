#!/usr/bin/env bash
# Restore benchmark: restoring one source (D2, 30 % of the bytes) of the
# standard data set from a volume on which one media agent interleaved all
# four sources, against plain tar extracting an archive that holds D2 alone,
# in one run, alternating tools so that both see the same machine state.
# Prints a markdown table of medians, the bytes daisy read from the volume
# against the volume's size, and checks once that the restored tree equals
# the source.
#
#   scripts/bench-restore.sh [RUNS]      (default 3)
#
# MB/s = bytes of src/D2 (du -sb --apparent-size) / wall time, each run into
# a new empty directory and followed by sync (the rm before is not timed).
# ratio = daisy MB/s / tar MB/s (= tar seconds / daisy seconds): above 1.0
# daisy restores faster than tar extracts. Writes a CPU profile of one more
# restore to .bench/cpu-restore.prof; removes .bench/restore at the end
# (KEEP=1 keeps it).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-3}
work=$root/restore
daisy() { "$root/daisy" -c "$work/daisy.yaml" --no-progress "$@"; }
# jnum FIELD FILE: the first number of "FIELD": in a JSON file.
jnum() { awk -F': ' -v k="\"$1\"" '$1 ~ k {gsub(/[ ,]/, "", $2); print $2; exit}' "$2"; }

# The flags used below must exist.
help=$("$root/daisy" restore --help)
for f in --source --to --json --cpu-profile; do
	grep -q -- "$f " <<<"$help" || { echo "daisy restore has no $f" >&2; exit 2; }
done

# One media agent, one pool, one volume: D1..D4 interleaved (bench.sh's
# configuration with one copy).
rm -rf "$work" && mkdir -p "$work"
{
	echo "defaults: {buffer_size: 64MiB}"
	echo "sources:"
	for s in D1 D2 D3 D4; do echo "  - {name: $s, paths: [$src/$s]}"; done
	echo "pools:"
	echo "  - {name: p1, type: vtape, volume_capacity: 8GiB}"
	echo "devices:"
	echo "  - {name: tape1, type: vtape}"
	echo "backup_group:"
	echo "  - name: bma1"
	echo "    device: tape1"
	echo "    pool: p1"
	echo "    buffers:"
	for s in 1 2 3 4; do echo "      - {name: B$s, source: D$s}"; done
} >"$work/daisy.yaml"
daisy --json backup >"$work/backup.json"
vols=("$work"/state/volumes/p1/*.vtape)
[ ${#vols[@]} -eq 1 ] || { echo "expected one volume, got ${#vols[@]}" >&2; exit 1; }
volbytes=$(stat -c %s "${vols[0]}")
tar -cf "$work/d2.tar" -C "$src" D2
tarbytes=$(stat -c %s "$work/d2.tar")
bytes=$(du -sb --apparent-size "$src/D2" | cut -f1)
sync

run_daisy() {
	local out=$work/out-daisy
	rm -rf "$out" && sync
	local t0 t1
	t0=$(now)
	daisy --json restore --source D2 --to "$out" >"$work/restore.json"
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}

run_tar() {
	local out=$work/out-tar
	rm -rf "$out" && mkdir -p "$out" && sync
	local t0 t1
	t0=$(now)
	tar -xf "$work/d2.tar" -C "$out"
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{print $2-$1}'
}

# Warm the page cache with the volume and the archive once.
cat "${vols[0]}" "$work/d2.tar" >/dev/null
dt=() tt=()
for _ in $(seq 1 "$runs"); do
	dt+=("$(run_daisy)")
	tt+=("$(run_tar)")
done
dm=$(printf '%s\n' "${dt[@]}" | median)
tm=$(printf '%s\n' "${tt[@]}" | median)

# The restored tree must equal the source (daisy puts it at its absolute path).
diff -r "$src/D2" "$work/out-daisy$src/D2" >/dev/null || { echo "restored D2 differs from the source" >&2; exit 1; }
diff -r "$src/D2" "$work/out-tar/D2" >/dev/null || { echo "extracted D2 differs from the source" >&2; exit 1; }
nsrc=$(find "$src/D2" -type f | wc -l)
nres=$(find "$work/out-daisy$src/D2" -type f | wc -l)

# The machine is noisy: also the median of the ratios of each daisy/tar pair.
pr=$(for i in "${!dt[@]}"; do echo "${tt[$i]} ${dt[$i]}" | awk '{print $1/$2}'; done | median)
echo "runs: daisy ${dt[*]} s; tar ${tt[*]} s; median of per-pair ratios $(printf '%.2f' "$pr")×"
echo
echo "| run | seconds | MB/s (D2 bytes) | daisy / tar |"
echo "|---|---|---|---|"
awk -v t="$tm" -v d="$dm" -v b="$bytes" 'BEGIN {
	printf "| tar -xf d2.tar, sync | %.2f | %.0f | 1.00× |\n", t, b/t/1e6
	printf "| daisy restore --source D2, sync | %.2f | %.0f | %.2f× |\n", d, b/d/1e6, t/d }'
echo
read_=$(jnum bytes_read "$work/restore.json")
obj=$(jnum bytes "$work/restore.json")
awk -v r="$read_" -v o="$obj" -v v="$volbytes" -v b="$bytes" -v tb="$tarbytes" 'BEGIN {
	printf "D2: %.0f bytes (du), object (pax stream) %.0f bytes, d2.tar %.0f bytes\n", b, o, tb
	printf "daisy bytes_read %.0f = %.1f %% of the volume (%.0f bytes), %.2f× the object\n", r, 100*r/v, v, r/o }'
echo "D2 extents on the volume: $(awk '/"source": "D2"/ {f=1} f && /"extents"/ {gsub(/[ ,]/, "", $2); print $2; exit}' FS=': ' "$work/backup.json")"
echo "restored tree equals the source (diff -r): $nres of $nsrc files"

# One more restore under the CPU profiler.
rm -rf "$work/out-daisy" && sync
daisy --cpu-profile "$root/cpu-restore.prof" restore --source D2 --to "$work/out-daisy" >/dev/null
echo
echo "CPU profile of a restore: $root/cpu-restore.prof (go tool pprof -top $root/daisy $root/cpu-restore.prof)"
[ -n "${KEEP:-}" ] || rm -rf "$work"
