#!/usr/bin/env bash
# Incremental backup benchmark on the standard data set (../shared/tools/
# gendata, 2 GiB, seed 1): a full backup of D1..D4, then an incremental
# with nothing changed, then one after changing 1 % of the files (every
# 100th regular file gets 4 KiB appended) and deleting 100 files, then a
# restore of D2 at that point (its chain: full + 2 incrementals) and of one
# file of it with --path. Prints wall times, entries and bytes written, and
# bytes read. Works on a copy of the data set under .bench/incr (removed at
# the end; KEEP=1 keeps it).
#
#   scripts/bench-incremental.sh
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
work=$root/incr
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
rm -rf "$work" && mkdir -p "$work"
cp -a "$root/src" "$work/src"
{
	echo "sources:"
	for s in D1 D2 D3 D4; do echo "  - {name: $s, paths: [$work/src/$s]}"; done
	echo "pools: [{name: p, type: vtape, volume_capacity: 8GiB}]"
	echo "devices: [{name: t, type: vtape}]"
	echo "backup_group:"
	echo "  - {name: bma, device: t, pool: p, buffers: [{name: B1, source: D1}, {name: B2, source: D2}, {name: B3, source: D3}, {name: B4, source: D4}]}"
} >"$work/daisy.yaml"
daisy() { "$root/daisy" -c "$work/daisy.yaml" --no-progress "$@"; }
summary() { # job json on stdin: entries written, unchanged, deleted, bytes
	python3 -c 'import json,sys; r=json.load(sys.stdin); o=r["objects"]
print("%d entries written, %d unchanged left out, %d deleted, %.1f MB of streams" % (sum(x["files"] for x in o), sum(x.get("unchanged",0) for x in o), sum(x.get("deleted",0) for x in o), sum(x["bytes"] for x in o)/1e6))'
}
backup() { # level
	local t0 t1
	sync
	t0=$(now)
	daisy --json backup --level "$1" >"$work/last.json"
	t1=$(now)
	printf '| %s | %.2f s | %s |\n' "$2" "$(echo "$t1 - $t0" | bc)" "$(summary <"$work/last.json")"
}
echo "| backup | wall | what it wrote |"
echo "|---|---|---|"
backup full "full"
backup incremental "incremental, nothing changed"
find "$work/src" -type f | sort | awk 'NR % 100 == 0' >"$work/changed"
while read -r f; do head -c 4096 /dev/urandom >>"$f"; done <"$work/changed"
find "$work/src" -type f | sort | awk 'NR % 100 == 50 && n++ < 100' | xargs -d '\n' rm -f
backup incremental "incremental, 1 % of files changed, 100 deleted"
echo
echo "| restore | wall | read from the volume |"
echo "|---|---|---|"
restore() { # label, args...
	local label=$1 t0 t1
	shift
	rm -rf "$work/r" && sync
	t0=$(now)
	daisy --json restore --to "$work/r" "$@" >"$work/rr.json"
	sync
	t1=$(now)
	printf '| %s | %.2f s | %s |\n' "$label" "$(echo "$t1 - $t0" | bc)" \
		"$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f MB, %d objects (%s)" % (r["bytes_read"]/1e6, len(r["chain"]), ", ".join(p["mode"] for p in r["chain"])))' "$work/rr.json")"
}
restore "D2 at the last incremental (full + 2 incrementals)" --source D2
diff -r "$work/src/D2" "$work/r$work/src/D2" >/dev/null && echo && echo "restored D2 equals the source"
one=$(grep -m1 "/D2/" "$work/changed")
restore "one changed file of D2 (--path)" --source D2 --path "$one"
