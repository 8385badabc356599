#!/usr/bin/env bash
# Browsing benchmark at 1,000,000 files, whole processes: makes a tree of
# 1,000 directories of 1,000 empty files each (1,000,000 files) on tmpfs,
# backs it up for real with `daisy backup` (one source, the defaults of
# `daisy init`, catalog and volume under .bench/ls), reports the files/s of
# that backup, then times whole `daisy` commands against the catalog
# (process start, configuration, catalog open, query, output): ls files of
# one directory, the same with --at, the parent of the 1,000 directories,
# find by base name (a full scan) and find by path. Prints a markdown table
# of medians and the size of the catalog file. Removes the tree and .bench/ls
# at the end (KEEP=1 keeps them).
#
#   scripts/bench-ls.sh [RUNS]      (default 5; TREE_DIR=/dev/shm by default)
set -euo pipefail
NO_DATASET=1
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
runs=${1:-5}
work=$root/ls
tree=${TREE_DIR:-/dev/shm}/daisy-ls-1m
ndirs=1000 per=1000
daisy() { "$root/daisy" -c "$work/daisy.yaml" --no-progress "$@"; }
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$tree" "$work"; }
trap cleanup EXIT

# The flags used below must exist.
for c in "ls files:--source --at" "find:--source --limit" "init:--source --volume-capacity"; do
	help=$("$root/daisy" ${c%%:*} --help)
	for f in ${c#*:}; do
		grep -q -- "$f " <<<"$help" || { echo "daisy ${c%%:*} has no $f" >&2; exit 2; }
	done
done

rm -rf "$tree" "$work" && mkdir -p "$tree" "$work"
t0=$(now)
python3 - "$tree" "$ndirs" "$per" <<'EOF'
import os, sys
tree, ndirs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(ndirs):
    p = os.path.join(tree, "d%04d" % d)
    os.mkdir(p)
    for i in range(per):
        os.close(os.open("%s/file%07d.dat" % (p, d * per + i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
EOF
t1=$(now)
nfiles=$(find "$tree" -type f | wc -l)
echo "made $nfiles empty files in $ndirs directories under $tree in $(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}') s"

(cd "$work" && "$root/daisy" init --source "L=$tree" --volume-capacity 64GiB >/dev/null)
sync
t0=$(now)
daisy --json backup >"$work/backup.json"
t1=$(now)
entries=$(awk -F': ' '/"files"/ {gsub(/[ ,]/, "", $2); print $2; exit}' "$work/backup.json")
job=$(awk -F'"' '/"started"/ {s=$4} /"finished"/ {f=$4} END {print s, f}' "$work/backup.json")
jobs=$(python3 -c 'import sys, datetime as d
s, f = (d.datetime.fromisoformat(x[:26].rstrip("Z")) for x in sys.argv[1:3])
print((f - s).total_seconds())' $job)
wall=$(echo "$t0 $t1" | awk '{print $2-$1}')
vol=$(cat "$work"/state/volumes/*/*.vtape | wc -c)
[ ! -e "$work/state/catalog.db-wal" ] || echo "note: catalog WAL left: $(stat -c %s "$work/state/catalog.db-wal") bytes"
catbytes=$(stat -c %s "$work/state/catalog.db")

# time_cmd ARGS...: median wall time in ms of RUNS whole daisy processes;
# the number of output lines of the last run goes to $work/lines.
time_cmd() {
	local ts=() t0 t1
	for _ in $(seq 1 "$runs"); do
		t0=$(now)
		daisy "$@" >"$work/out.txt"
		t1=$(now)
		ts+=("$(echo "$t0 $t1" | awk '{print ($2-$1)*1000}')")
	done
	wc -l <"$work/out.txt" >"$work/lines"
	printf '%s\n' "${ts[@]}" | median
}

mid=$tree/d$(printf %04d $((ndirs / 2)))
at=$(date -Iseconds)
row() { # row LABEL ARGS...: one table row
	local label=$1
	shift
	local ms
	ms=$(time_cmd "$@")
	printf '| `%s` | %s | %.1f |\n' "$label" "$(($(cat "$work/lines") - 1))" "$ms"
}
echo
echo "backup: $entries entries ($nfiles files) in $(printf %.2f "$wall") s wall," \
	"$(awk -v n="$entries" -v t="$wall" 'BEGIN {printf "%.0f", n/t}') entries/s;" \
	"job $(printf %.2f "$jobs") s, $(awk -v n="$entries" -v t="$jobs" 'BEGIN {printf "%.0f", n/t}') entries/s;" \
	"volume $vol bytes; peak RSS $(awk -F': ' '/peak_rss_bytes/ {print $2}' "$work/backup.json") bytes"
echo "catalog file: $catbytes bytes ($(awk -v b="$catbytes" -v n="$entries" 'BEGIN {printf "%.1f MiB, %.0f bytes per entry", b/1048576, b/n}'))"
echo
echo "| command (whole process, page cache warm) | lines out | median ms of $runs |"
echo "|---|---|---|"
row "daisy ls volumes (baseline: start, config, catalog)" ls volumes
row "daisy ls files --source L ${mid#"$tree"/}" ls files --source L "$mid"
row "daisy ls files --source L --at $at ${mid#"$tree"/}" ls files --source L --at "$at" "$mid"
row "daisy ls files --source L TREE (1,000 subdirectories)" ls files --source L "$tree"
row "daisy find 'file0500500.dat' (base name)" find 'file0500500.dat'
row "daisy find 'TREE/d0777/*7.dat' (path)" find "$tree/d0777/*7.dat"
echo
echo "(lines out excludes the header line; TREE = $tree)"
