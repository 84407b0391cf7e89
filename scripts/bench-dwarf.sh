#!/usr/bin/env bash
# First touch of a ~100 MB binary with DWARF: bpfprof's symbolizer against
# addr2line -f -i, the tool perf report runs for srcline, on the same
# addresses in the same run. The binary is 40 renamed copies of one object
# of 2000 functions with inlined helpers (gcc -O1 -g), built once into
# $BPFPROF_BENCH_DIR (default /tmp/bpfprof-bench-dwarf).
# Prints wall time and memory: for bpfprof the DWARF its cache holds after
# (held) and the heap growth; for addr2line its maximum RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BPFPROF_BENCH_DIR:-/tmp/bpfprof-bench-dwarf}
mkdir -p "$dir"
for tool in gcc objcopy addr2line nm /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench-dwarf: $tool is not installed" >&2; exit 1; }
done
if [ ! -x "$dir/big" ]; then
	echo "building $dir/big (a few minutes, once)"
	{
		echo 'static volatile long sink;'
		for i in $(seq 0 1999); do
			cat <<EOC
static inline long h${i}a(long x) { long y = x * $i; for (int k = 0; k < 3; k++) y ^= y >> (k + 1); return y; }
static inline long h${i}b(long x) { return h${i}a(x) + h${i}a(x + 1) * 3; }
__attribute__((noinline)) long f${i}(long x) { long s = 0; for (int k = 0; k < 4; k++) s += h${i}b(x + k); sink = s; return s; }
EOC
		done
	} >"$dir/lib.c"
	gcc -O1 -g -c -o "$dir/lib.o" "$dir/lib.c"
	objs=()
	{
		echo '#include <stdio.h>'
		for k in $(seq 0 39); do
			objcopy --prefix-symbols="p${k}_" "$dir/lib.o" "$dir/l$k.o"
			objs+=("$dir/l$k.o")
			echo "long p${k}_f0(long);"
		done
		echo 'int main(void) { long r = 0;'
		for k in $(seq 0 39); do echo "r += p${k}_f0(1);"; done
		echo 'printf("%ld\n", r); return 0; }'
	} >"$dir/main.c"
	gcc -O1 -g -o "$dir/big" "$dir/main.c" "${objs[@]}"
fi
# 2000 addresses spread over the binary: the starts of every 40th function.
nm "$dir/big" | awk '$2 == "T" && $3 ~ /_f[0-9]+$/ { print $1 }' | sort | awk 'NR % 40 == 0 { print "0x" $1 }' >"$dir/addrs.txt"
printf 'binary: %s MiB, %s addresses (machine shared and noisy: compare within one run)\n' \
	"$(( $(stat -c %s "$dir/big") >> 20 ))" "$(wc -l <"$dir/addrs.txt")"
BPFPROF_BENCH_DWARF="$dir/big" BPFPROF_BENCH_DWARF_ADDRS="$dir/addrs.txt" \
	go test -run '^$' -bench 'DWARFFirstTouch' -benchtime 3x ./symbolize/ | grep Benchmark
/usr/bin/time -f "addr2line -f -i: %e s wall, %U+%S s CPU, %M KiB max RSS" addr2line -f -i -e "$dir/big" $(cat "$dir/addrs.txt") >/dev/null
