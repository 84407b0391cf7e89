#!/usr/bin/env bash
# Times 'bpfprof list --json --interval 0' against 'bpftool prog show --json'
# with N extra BPF programs loaded (default 500), in the same run, and prints
# both times and their ratio. Needs root, bpftool and a built bin/bpfprof.
#
#   scripts/bench-list.sh [-n PROGRAMS] [-r RUNS] [-maps]
#
# BPFPROF=path times another bpfprof binary than bin/bpfprof. BASELINE=path
# also times a second bpfprof binary (an older build, say) in the same runs,
# which a busy machine's ups and downs then affect alike.
#
# Each tool runs RUNS times (default 30), alternating, output to /dev/null;
# the report gives the median and the fastest run of each, then the CPU time
# per run of each over RUNS more runs. -maps makes every loaded program
# reference a map, which costs bpftool a metadata lookup.
set -euo pipefail
. "$(dirname "$0")/lib.sh" bench-list

n=500 runs=30 maps=
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-r) runs=$2; shift 2 ;;
	-maps) maps=-maps; shift ;;
	*) echo "usage: $0 [-n PROGRAMS] [-r RUNS] [-maps]" >&2; exit 2 ;;
	esac
done

need_root "listing BPF programs needs CAP_SYS_ADMIN"
need_tools bpftool
bpfprof=$(bpfprof_binary)
baseline=${BASELINE:-}
[ -z "$baseline" ] || [ -x "$baseline" ] || die "$baseline is not executable"

tmp=$(mktemp -d)
holder_pid=
cleanup() {
	if [ -n "$holder_pid" ]; then
		exec 3>&-
		wait "$holder_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/holdprogs" ./bpfprog/internal/holdprogs
# The holder keeps the programs loaded until its stdin (fd 3 here) closes.
mkfifo "$tmp/in" "$tmp/out"
"$tmp/holdprogs" $maps "$n" <"$tmp/in" >"$tmp/out" &
holder_pid=$!
exec 3>"$tmp/in"
read -r ready count <"$tmp/out"
[ "$ready" = ready ] || { echo "bench-list: holder failed" >&2; exit 1; }
total=$(bpftool prog show --json | grep -o '"id":' | wc -l)

# time_ns CMD...: wall time of one run in ns.
time_ns() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	echo $((e - s))
}

: >"$tmp/bpfprof" && : >"$tmp/bpftool" && : >"$tmp/baseline"
# Warm up caches (binaries, dentries) before measuring.
"$bpfprof" list --json --interval 0 >/dev/null
[ -z "$baseline" ] || "$baseline" list --json --interval 0 >/dev/null
bpftool prog show --json >/dev/null
for ((i = 0; i < runs; i++)); do
	time_ns "$bpfprof" list --json --interval 0 >>"$tmp/bpfprof"
	[ -z "$baseline" ] || time_ns "$baseline" list --json --interval 0 >>"$tmp/baseline"
	time_ns bpftool prog show --json >>"$tmp/bpftool"
done

# cpu_ms CMD...: CPU time (user and system) of one run of CMD in ms, the
# mean over $runs more runs. On a busy machine the wall times also measure
# the other load, and how a tool's threads fare in it; CPU times much less.
cpu_ms() {
	(
		for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
		times
	) | awk -v n="$runs" 'NR == 2 {
		for (f = 1; f <= 2; f++) {
			sub(/s$/, "", $f)
			split($f, t, "m")
			s += t[1] * 60 + t[2]
		}
		printf "%.2f\n", s * 1000 / n }'
}
bp_cpu=$(cpu_ms "$bpfprof" list --json --interval 0)
bt_cpu=$(cpu_ms bpftool prog show --json)
[ -z "$baseline" ] || bl_cpu=$(cpu_ms "$baseline" list --json --interval 0)

# stat FILE: "median min" in ms.
stat() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f\n", m / 1e6, v[1] / 1e6 }'
}
read -r bp_med bp_min < <(stat "$tmp/bpfprof")
read -r bt_med bt_min < <(stat "$tmp/bpftool")

echo "programs loaded: $count by the holder${maps:+ (with maps)}, $total in all; $runs runs each"
printf '%-36s median %8.2f ms   fastest %8.2f ms\n' "bpfprof list --json --interval 0" "$bp_med" "$bp_min"
printf '%-36s median %8.2f ms   fastest %8.2f ms\n' "bpftool prog show --json" "$bt_med" "$bt_min"
awk -v a="$bp_med" -v b="$bt_med" -v c="$bp_min" -v d="$bt_min" 'BEGIN {
	printf "ratio bpfprof/bpftool: %.2f (median), %.2f (fastest); below 1 means bpfprof is faster\n", a / b, c / d }'
awk -v a="$bp_cpu" -v b="$bt_cpu" -v n="$runs" 'BEGIN {
	printf "CPU per run (user+sys, mean of %d more runs each): bpfprof %.2f ms, bpftool %.2f ms, ratio %.2f\n", n, a, b, a / b }'
if [ -n "$baseline" ]; then
	read -r bl_med bl_min < <(stat "$tmp/baseline")
	printf '%-36s median %8.2f ms   fastest %8.2f ms   CPU %.2f ms\n' "baseline $baseline" "$bl_med" "$bl_min" "$bl_cpu"
	awk -v a="$bp_med" -v b="$bl_med" -v c="$bt_med" 'BEGIN {
		printf "ratio bpfprof/baseline: %.2f (median); baseline/bpftool: %.2f (median)\n", a / b, b / c }'
fi
