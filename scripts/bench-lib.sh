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
