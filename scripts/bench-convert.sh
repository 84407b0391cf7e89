#!/usr/bin/env bash
# bpfprof convert side by side with perf report on the same perf.data, in
# one run on one machine (issue 14). Needs root.
#
# The file: `perf record -a -g -F 999` of the whole machine while the
# perfdata workload (sampler/perfdata/internal/workload) drives the hot-loop
# and subprog BPF programs for $SECONDS_REC seconds, plus a sha256sum busy
# loop. Then, $REPS rounds each, medians:
#   bpfprof convert -i perf.data -o out.pb.gz
#   perf report -i perf.data --stdio > report.txt   (perf's default report:
#       children and call graphs, what a user reads)
#   perf report -i perf.data --stdio --no-children -g none --sort sym
#       (the cheapest report perf makes: a flat list of symbols)
# Each to its finished artefact: CPU time (user+sys), wall time, peak RSS,
# and throughput in records/s and MB/s of the file per second of CPU time
# (records counted by bpfprof convert). Other load on the machine skews
# every figure: the load average is printed. perf 6.1 aborts on MMAP2
# records that carry a stray build-ID flag (see perfdata.Stats.FixedMmaps),
# which the kernel leaks into them while another profiler asking for build
# IDs runs: a perf report that fails is reported as such.
set -euo pipefail
. "$(dirname "$0")/lib.sh" bench-convert

need_root "perf record -a, BPF programs"
need_tools /usr/bin/time:time perf:linux-perf

GO=${GO:-go}
BIN=$(BPFPROF=${BIN:-${BPFPROF:-}} bpfprof_binary)
REPS=${REPS:-5}
SECONDS_REC=${SECONDS_REC:-10}

work=$(mktemp -d)
loadpid=
cleanup() {
	[ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

$GO build -o "$work/workload" ./sampler/perfdata/internal/workload
sha256sum /dev/zero &
loadpid=$!
# -B: no build-id collection at the end (perf 6.1 can abort there, see
# bench-record.sh); it changes nothing in the data read.
perf record -q -a -g -F 999 -B -o "$work/perf.data" -- "$work/workload" -d "${SECONDS_REC}s" 2>/dev/null
kill "$loadpid"
wait "$loadpid" 2>/dev/null || true
loadpid=

bytes=$(stat -c %s "$work/perf.data")
records=$("$BIN" convert -i "$work/perf.data" -o "$work/out.pb.gz" 2>&1 | sed -n 's/.* from \([0-9]*\) records.*/\1/p')
echo "perf.data: $(awk -v b="$bytes" 'BEGIN{printf "%.1f MiB", b/1048576}'), $records records ($SECONDS_REC s, -a -g -F 999, $(nproc) CPUs); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME CMD...: $REPS rounds under GNU time; prints the medians.
measure() {
	local name=$1
	shift
	local cpu=() wall=() rss=()
	for _ in $(seq "$REPS"); do
		if ! /usr/bin/time -f '%e %U %S %M' -o "$work/t" "$@" >/dev/null 2>&1; then
			echo "$name: failed ($(tail -1 "$work/t"))"
			return 0
		fi
		read -r w u s m <"$work/t"
		cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.3f", u+s}')")
		wall+=("$w")
		rss+=("$m")
	done
	local c w m
	c=$(printf '%s\n' "${cpu[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
	w=$(printf '%s\n' "${wall[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
	m=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
	awk -v n="$name" -v c="$c" -v w="$w" -v m="$m" -v r="$records" -v b="$bytes" 'BEGIN{
		cc = (c > 0 ? c : 0.001)
		printf "%-34s cpu %6.2fs  wall %6.2fs  rss %5.0f MiB  %10.0f records/s  %6.1f MB/s\n", n, c, w, m/1024, r/cc, b/1e6/cc }'
}

echo "medians of $REPS rounds; throughput per CPU second"
measure "bpfprof convert" "$BIN" convert -i "$work/perf.data" -o "$work/out.pb.gz"
measure "perf report --stdio" sh -c "perf report -i '$work/perf.data' --stdio > '$work/report.txt' 2>/dev/null"
measure "perf report --stdio --sort sym -g none" sh -c "perf report -i '$work/perf.data' --stdio --no-children -g none --sort sym > '$work/report.txt' 2>/dev/null"
