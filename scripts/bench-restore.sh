#!/usr/bin/env bash
# Restore benchmark: restoring one source (D2, 30 % of the bytes) of the
# standard data set from a volume on which one media agent interleaved all
# four sources, against plain tar extracting an archive that holds D2 alone,
# in one run. Each run is prepared the same way (bench-lib.sh's settle: the
# previous output of both tools deleted, the volume and the archive read
# once, sync, 8 s idle); the tools alternate run by run (tar first in odd
# pairs, daisy first in even ones). Prints min/median/max of wall time,
# MB/s and CPU seconds per GiB of each tool, the daisy/tar ratio pair by
# pair, the bytes daisy read from the volume against the volume's size, and
# checks that both restored trees equal the source.
#
#   scripts/bench-restore.sh [RUNS]      (default 5)
#
# MB/s = bytes of src/D2 (du -sb --apparent-size) / wall time; the wall time
# includes the sync after the command. ratio = daisy MB/s / tar MB/s (= tar
# seconds / daisy seconds): above 1.0 daisy restores faster than tar
# extracts. CPU = user + system seconds of the command (and its children).
# Writes a CPU profile of one more restore to .bench/cpu-restore.prof;
# removes .bench/restore at the end (KEEP=1 keeps it). SETTLE=SECONDS
# changes the idle time; TARGET=fresh|move|delete says where the runs
# write (see prepare; fresh, a new file system per run, needs root).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-5}
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
cleanup_mount() { if mountpoint -q "$work/mnt" 2>/dev/null; then umount "$work/mnt"; fi; }
cleanup_mount
rm -rf "$work" && mkdir -p "$work" && sync
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

rm -f "$work"/t-*
# Where the runs write. As root (TARGET=fresh, the default then), every
# run restores into a new ext4 file system made for it (a 3 GiB image on
# the same disk, mkfs.ext4 with its inode tables and journal initialised
# at once, loop-mounted): both tools find the same empty file system each
# time. Otherwise (TARGET=move) the previous outputs are moved into
# $work/old, deleted at the end. Deleting them instead (TARGET=delete)
# makes the next runs pay for ext4's rule against reusing an inode soon
# after its deletion (without a journal, as on this machine's disk: 60 s,
# 360 s while the inode's table block is dirty, which the next files
# created beside it make it): every file created then scans past all the
# inodes deleted since (recently_deleted in find_inode_bit, 85 % of either
# tool's time in a perf profile here, see docs/BENCHMARKS.md).
target=${TARGET:-}
[ -n "$target" ] || { [ "$(id -u)" -eq 0 ] && target=fresh || target=move; }
mnt=$work/mnt
n_old=0
cleanup() { if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi; }
trap cleanup EXIT
prepare() {
	local d
	if [ "$target" = fresh ]; then
		cleanup
		rm -f "$work/fs.img" && truncate -s 3G "$work/fs.img"
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/fs.img"
		mkdir -p "$mnt" && mount -o loop "$work/fs.img" "$mnt"
		out_daisy=$mnt/daisy out_tar=$mnt/tar
		mkdir -p "$out_tar"
		settle "${vols[0]}" "$work/d2.tar"
		return
	fi
	out_daisy=$work/out-daisy out_tar=$work/out-tar
	for d in "$out_daisy" "$out_tar"; do
		[ -e "$d" ] || continue
		if [ "$target" = delete ]; then
			rm -rf "$d"
		else
			n_old=$((n_old + 1))
			mkdir -p "$work/old" && mv "$d" "$work/old/$n_old"
		fi
	done
	mkdir -p "$out_tar"
	settle "${vols[0]}" "$work/d2.tar"
}
# Each restored tree must equal the source, every run (daisy puts D2 at
# its absolute path under the target); checked after the timing.
run_daisy() {
	prepare
	timed "$work/t-daisy" "$root/daisy" -c "$work/daisy.yaml" --no-progress --json restore --source D2 --to "$out_daisy" >"$work/restore.json"
	diff -r "$src/D2" "$out_daisy$src/D2" >/dev/null || { echo "restored D2 differs from the source" >&2; exit 1; }
	nres=$(find "$out_daisy$src/D2" -type f | wc -l)
}
run_tar() {
	prepare
	timed "$work/t-tar" tar -xf "$work/d2.tar" -C "$out_tar"
	diff -r "$src/D2" "$out_tar/D2" >/dev/null || { echo "extracted D2 differs from the source" >&2; exit 1; }
}
for i in $(seq 1 "$runs"); do
	if [ $((i % 2)) -eq 1 ]; then run_tar; run_daisy; else run_daisy; run_tar; fi
done
nsrc=$(find "$src/D2" -type f | wc -l)

# row NAME FILE: min/median/max of the wall time, MB/s and CPU s/GiB.
row() {
	read -r wmin wmed wmax < <(col 1 "$2" | spread)
	read -r cmin cmed cmax < <(cpu "$2" | spread)
	awk -v n="$1" -v b="$bytes" -v a="$wmin" -v m="$wmed" -v z="$wmax" -v c1="$cmin" -v c2="$cmed" -v c3="$cmax" 'BEGIN {
		g = b / 1073741824
		printf "| %s | %.2f / %.2f / %.2f | %.0f / %.0f / %.0f | %.2f / %.2f / %.2f |\n", n, a, m, z, b/z/1e6, b/m/1e6, b/a/1e6, c1/g, c2/g, c3/g }'
}
echo "$runs runs of each, alternating; every run after settle (${SETTLE:-8} s idle); target: $target"
echo
echo "| run | wall s (min / median / max) | MB/s of D2 (min / median / max) | CPU s/GiB (min / median / max) |"
echo "|---|---|---|---|"
row "tar -xf d2.tar, sync" "$work/t-tar"
row "daisy restore --source D2, sync" "$work/t-daisy"
echo
read -r rmin rmed rmax < <(ratios "$work/t-tar" "$work/t-daisy" | spread)
echo "daisy / tar (tar seconds / daisy seconds), pair by pair: $(ratios "$work/t-tar" "$work/t-daisy" | tr '\n' ' ')"
echo "ratio min / median / max: $rmin / $rmed / $rmax"
echo "wall s, user s, sys s per run: tar $(tr '\n' ';' <"$work/t-tar")"
echo "                              daisy $(tr '\n' ';' <"$work/t-daisy")"
echo
read_=$(jnum bytes_read "$work/restore.json")
obj=$(jnum bytes "$work/restore.json")
awk -v r="$read_" -v o="$obj" -v v="$volbytes" -v b="$bytes" -v tb="$tarbytes" 'BEGIN {
	printf "D2: %.0f bytes (du), object (pax stream) %.0f bytes, d2.tar %.0f bytes\n", b, o, tb
	printf "daisy bytes_read %.0f = %.1f %% of the volume (%.0f bytes), %.2f× the object\n", r, 100*r/v, v, r/o }'
echo "D2 extents on the volume: $(awk '/"source": "D2"/ {f=1} f && /"extents"/ {gsub(/[ ,]/, "", $2); print $2; exit}' FS=': ' "$work/backup.json")"
echo "restored trees equal the source (diff -r) after every run: $nres of $nsrc files"
# One more restore under the CPU profiler.
cleanup
rm -rf "$work/old" "$work/out-daisy" "$work/fs.img" && sync
daisy --cpu-profile "$root/cpu-restore.prof" restore --source D2 --to "$work/out-daisy" >/dev/null
echo
echo "CPU profile of a restore: $root/cpu-restore.prof (go tool pprof -top $root/daisy $root/cpu-restore.prof)"
[ -n "${KEEP:-}" ] || rm -rf "$work"
sync
