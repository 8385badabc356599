# Shared by the benchmark scripts (sourced, not run): the repository root
# as the working directory, .bench/ for data and binaries, the standard
# data set (../shared/tools/gendata, 2 GiB, seed 1) made once in
# .bench/src, a fresh daisy binary in .bench/daisy, and two helpers.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD/.bench
src=$root/src
if [ -z "${NO_DATASET:-}" ] && [ ! -d "$src/D4" ]; then
	(cd ../shared/tools/gendata && go run . -out "$src" -total 2GiB -seed 1)
fi
go build -o "$root/daisy" ./cmd/daisy
# now prints the time in seconds with nanoseconds.
now() { date +%s.%N; }
# median prints the median of the numbers on standard input, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# How every timed run is prepared and measured (../shared/tools/README.md,
# "Timing on these machines"): the VM hands memory freed a few seconds ago
# back to its host, so a run right after another measures its leftovers.
# Before each run, settle reads the inputs once (page cache warm), syncs and
# idles SETTLE seconds (default 8), which puts every run in the same state.
# A directory among the inputs is read whole with tar.
settle() {
	local in
	for in in "$@"; do
		if [ -d "$in" ]; then tar -cf - -C "$in" . >/dev/null; else cat "$in" >/dev/null; fi
	done
	sync
	sleep "${SETTLE:-8}"
}

# timed FILE CMD...: runs CMD, then sync, and appends "wall user sys" (in
# seconds; user and system CPU of CMD and of the children it waited for)
# to FILE. The sync is part of the wall time: data in the page cache is not
# yet on the disk.
timed() {
	local f=$1 tf t0 t1
	shift
	tf=$(mktemp)
	t0=$(now)
	/usr/bin/time -f "%U %S" -o "$tf" "$@"
	sync
	t1=$(now)
	printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')" "$(tail -n 1 "$tf")" >>"$f"
	rm -f "$tf"
}

# spread prints "min median max" of the numbers on standard input.
spread() { sort -n | awk '{a[NR]=$1} END {printf "%s %s %s\n", a[1], (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[NR]}'; }

# col N FILE: column N of FILE.
col() { awk -v n="$1" '{print $n}' "$2"; }

# cpu FILE: user+system seconds of each run in FILE.
cpu() { awk '{printf "%.3f\n", $2+$3}' "$1"; }

# ratios A B: A's wall / B's wall, run by run (pair by pair).
ratios() { paste -d' ' "$1" "$2" | awk '{printf "%.2f\n", $1/$4}'; }
