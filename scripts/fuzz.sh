#!/usr/bin/env bash
# Fuzz every fuzz target of the repository for a given time each, one after
# the other, and print a table: target, execs, execs/s, result.
#
#   scripts/fuzz.sh DURATION [REGEXP]
#
# DURATION is a Go duration (20s, 2m, 10m) or a count of runs (100000x);
# REGEXP, if given, keeps the targets whose package/Name matches it (grep -E).
# Environment:
#   FUZZ_PARALLEL     fuzzing workers per target (default 1)
#   FUZZ_MINIMIZE     -fuzzminimizetime, how long to minimise each new input
#                     or crasher (default 500x, 500 runs: Go's 60s leaves
#                     a run almost no time to explore, and the runs spent
#                     minimising are not counted in execs)
#   FUZZ_LOGS         directory for the logs of each target (default a new
#                     directory under /tmp, printed at the end)
#
# The corpus each target grows is kept by go test in $(go env GOCACHE)/fuzz
# and reused by the next run. A crasher is written by go test into the
# package's testdata/fuzz/<Name>/: fix the decoder and commit the file, it
# is then a regression test that every `go test` runs. The script exits 1 if any target failed. Not run by
# CI (too long); the seed corpora run in `go test ./...`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DURATION [REGEXP]   e.g. $0 10m, $0 30s volume" >&2
	exit 2
fi
dur=$1
filter=${2:-}
parallel=${FUZZ_PARALLEL:-1}
minimize=${FUZZ_MINIMIZE:-500x}
logs=${FUZZ_LOGS:-$(mktemp -d /tmp/daisy-fuzz.XXXXXX)}
mkdir -p "$logs"

# Every func FuzzX(f *testing.F) in a test file, as "package-dir Name".
targets=$(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' cmd internal |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' | sort -u)
if [ -n "$filter" ]; then
	targets=$(echo "$targets" | awk '{print $1 "/" $2, $0}' | grep -E -- "$filter" | cut -d' ' -f2- || true)
fi
if [ -z "$targets" ]; then
	echo "no fuzz target matches ${filter:-anything}" >&2
	exit 2
fi

# seconds converts the elapsed time go test prints (1h2m3s, 4m0s, 20s,
# 1.5s) into seconds.
seconds() {
	echo "$1" | awk '{
		s = 0; t = $0
		while (match(t, /^[0-9.]+(h|ms|m|s)/)) {
			part = substr(t, 1, RLENGTH); t = substr(t, RLENGTH + 1)
			n = part + 0; u = part; sub(/^[0-9.]+/, "", u)
			s += (u == "h") ? n * 3600 : (u == "m") ? n * 60 : (u == "ms") ? n / 1000 : n
		}
		print s
	}'
}

failed=0
rows=()
while read -r dir name; do
	log="$logs/$(echo "$dir" | tr / _)_$name.log"
	echo "== $dir $name ($dur, $parallel worker(s)) -> $log"
	start=$(date +%s)
	set +e
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$dur" -fuzzminimizetime "$minimize" \
		-parallel "$parallel" -timeout 0 "./$dir" >"$log" 2>&1
	rc=$?
	set -e
	end=$(date +%s)
	last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1 || true)
	execs=$(echo "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
	elapsed=$(echo "$last" | sed -nE 's/^fuzz: elapsed: ([^,]+),.*/\1/p')
	execs=${execs:-0}
	secs=$(seconds "${elapsed:-0s}")
	rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }')
	crasher=$(sed -nE 's/.*Failing input written to (.*)/\1/p' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		result=ok
	elif [ -z "$crasher" ] && grep -qx '    context deadline exceeded' "$log"; then
		# Go before 1.27 can fail a run that ends while a worker is busy,
		# with no failing input (golang/go#75804): not a crash.
		result="ok (deadline race of go#75804, no failing input)"
	else
		failed=1
		if [ -n "$crasher" ]; then
			result="CRASH $dir/$crasher"
		else
			result="FAIL (exit $rc, see $log)"
		fi
		tail -20 "$log"
	fi
	echo "   $execs execs in ${elapsed:-?} ($((end - start))s with the build), $rate/s: $result"
	rows+=("$(printf '%-40s %12s %10s  %s' "$dir $name" "$execs" "$rate" "$result")")
done <<<"$targets"

echo
printf '%-40s %12s %10s  %s\n' "target" "execs" "execs/s" "result"
printf '%s\n' "${rows[@]}"
echo "(logs in $logs)"
exit $failed
