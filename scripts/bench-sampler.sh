#!/usr/bin/env bash
# The sampler's own measures, next to perf record in the same run (needs root
# and linux-perf):
#  (a) lost samples at -F 4999 on every CPU for $DUR s under a CPU-bound load
#      (one busy `yes` per CPU), default ring size;
#  (b) the sampler's CPU time at 999 and 4999 Hz against
#      `perf record -a -g -F <same>` for $DUR s each, under the same load.
# DUR=10 by default. The sampler here only counts records; perf also writes
# its file and, at the end, reads it back for build IDs (the "perf -B" line
# shows perf without that last step).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}

if [ "$(id -u)" != 0 ]; then
	echo "bench-sampler: needs root (perf_event_open on every CPU); skipped"
	exit 0
fi
if ! command -v perf >/dev/null; then
	echo "bench-sampler: perf not installed (apt-get install linux-perf); skipped"
	exit 0
fi

tmp=$(mktemp -d)
load=()
cleanup() {
	for p in "${load[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/samplebench" ./sampler/internal/samplebench

ncpu=$(nproc)
for _ in $(seq "$ncpu"); do
	yes >/dev/null &
	load+=($!)
done
echo "load: $ncpu x yes; duration ${DUR}s per run"

field() { # field NAME FILE: value of NAME=value in FILE
	grep -o "\b$1=[^ ]*" "$2" | head -1 | cut -d= -f2 | tr -d s
}

echo "-- (a) lost samples at -F 4999, default ring"
"$tmp/samplebench" -F 4999 -d "${DUR}s" -g >"$tmp/a.txt"
cat "$tmp/a.txt"
event=$(field event "$tmp/a.txt")
echo "lost records: $(field lost "$tmp/a.txt"), lost samples: $(field lost_samples "$tmp/a.txt"), samples: $(field samples "$tmp/a.txt")"

echo "-- (b) CPU time, sampler vs perf record -a -g -e $event"
printf '%-6s %12s %12s %12s %10s %10s\n' Hz sampler_cpu perf_cpu perf-B_cpu perf/ours perf-B/ours
for F in 999 4999; do
	"$tmp/samplebench" -F "$F" -d "${DUR}s" -g -e "$event" >"$tmp/ours.txt"
	ours=$(field cpu_total "$tmp/ours.txt")
	/usr/bin/time -f '%U %S' -o "$tmp/perf.time" \
		perf record -q -a -g -e "$event" -F "$F" -o "$tmp/x.data" -- sleep "$DUR" >/dev/null 2>&1
	perf_cpu=$(awk '{printf "%.3f", $1 + $2}' "$tmp/perf.time")
	/usr/bin/time -f '%U %S' -o "$tmp/perfB.time" \
		perf record -q -B -a -g -e "$event" -F "$F" -o "$tmp/x.data" -- sleep "$DUR" >/dev/null 2>&1
	perfb_cpu=$(awk '{printf "%.3f", $1 + $2}' "$tmp/perfB.time")
	printf '%-6s %11ss %11ss %11ss %10s %10s\n' "$F" "$ours" "$perf_cpu" "$perfb_cpu" \
		"$(awk -v p="$perf_cpu" -v o="$ours" 'BEGIN { if (o > 0) printf "%.2f", p / o; else print "inf" }')" \
		"$(awk -v p="$perfb_cpu" -v o="$ours" 'BEGIN { if (o > 0) printf "%.2f", p / o; else print "inf" }')"
	grep -E '^(records|lost)' "$tmp/ours.txt" | sed 's/^/       sampler: /'
done
