#!/usr/bin/env bash
# bpfprof record side by side with perf record + perf report, in one run on
# one machine (issue 5). Needs root.
#
# 1. End to end: `bpfprof record -a -F 999 -d 10s` against
#    `perf record -a -g -F 999 -- sleep 10` followed by `perf report --stdio`,
#    under the same CPU-bound load (the testdata hot-loop BPF program driven
#    flat out with BPF_PROG_TEST_RUN through bpftool, plus a sha256sum busy
#    loop): the profiler's CPU time (user+sys), wall time to the finished
#    artefact, peak RSS, lost samples and output size.
# 2. Slowdown of a fixed CPU-bound workload (hashing a fixed amount of
#    /dev/zero) while either profiler samples every CPU, at 999 and 4999 Hz:
#    its wall time and CPU time (user+sys), medians of $REPS rounds.
#
# Peak RSS and CPU times come from GNU time (/usr/bin/time, Debian package
# "time", installed here if missing); perf from "linux-perf"; the load uses
# bpftool ("bpftool") and a bpffs mounted on a temporary directory.
# perf record runs with -B (no build-id collection): perf 6.1 aborts here at
# the end of a recording otherwise ("assertion failed at util/build-id.c:1010,
# buffer overflow detected"), depending on the binaries that ran. -B only
# saves perf work, so the comparison errs in perf's favour.
# Other load on the machine skews every figure: the load average is printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh" bench-record

need_root "perf events for every CPU, BPF programs"
need_tools /usr/bin/time:time perf:linux-perf bpftool

GO=${GO:-go}
BIN=$(BPFPROF=${BIN:-${BPFPROF:-}} bpfprof_binary)
REPS=${REPS:-5}
SECONDS_E2E=${SECONDS_E2E:-10}
WORK_MIB=${WORK_MIB:-1024}
EVENT=cpu-clock # both tools; this VM has no PMU, and it keeps them comparable

work=$(mktemp -d)
bpffs="$work/bpffs"
loadpids=()
cleanup() {
	for p in "${loadpids[@]}"; do kill "$p" $(pgrep -P "$p") 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -f "$bpffs/hot" 2>/dev/null || true
	umount "$bpffs" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# gtime OUT CMD...: runs CMD under GNU time, "wall user sys maxrss_kib" in OUT.
gtime() {
	local out=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$out" "$@"
}
field() { awk -v i="$2" '{print $i}' "$1"; }
add() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a+b}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.0f MiB", k/1024}'; }
size() { stat -c %s "$1" | awk '{ if ($1 >= 1048576) printf "%.1f MiB", $1/1048576; else printf "%.0f KiB", $1/1024 }'; }
median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}'; }

start_load() {
	mkdir -p "$bpffs"
	mount -t bpf bpf "$bpffs"
	bpftool prog load testdata/hot.bpf.o "$bpffs/hot"
	head -c 64 /dev/zero >"$work/pkt"
	(while :; do bpftool prog run pinned "$bpffs/hot" data_in "$work/pkt" repeat 2000000 >/dev/null; done) &
	loadpids+=($!)
	sha256sum /dev/zero &
	loadpids+=($!)
}
stop_load() {
	for p in "${loadpids[@]}"; do
		kill "$p" $(pgrep -P "$p") 2>/dev/null || true
	done
	wait 2>/dev/null || true
	loadpids=()
	rm -f "$bpffs/hot"
	umount "$bpffs"
}

echo "bench-record: $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run," \
	"kernel.perf_event_max_sample_rate $(cat /proc/sys/kernel/perf_event_max_sample_rate)"

# --- 1. End to end -----------------------------------------------------------
start_load
sleep 1
gtime "$work/t.ours" "$BIN" record -a -F 999 -e "$EVENT" -d "${SECONDS_E2E}s" -o "$work/ours.pb.gz" 2>"$work/ours.err"
gtime "$work/t.rec" perf record -q -B -a -g -F 999 -e "$EVENT" -o "$work/perf.data" -- sleep "$SECONDS_E2E" 2>"$work/rec.err"
stop_load
gtime "$work/t.rep" perf report --stdio -i "$work/perf.data" >/dev/null 2>"$work/rep.err"

ours_lost=$(grep -oE 'lost [0-9]+' "$work/ours.err" | head -1 | awk '{print $2}')
ours_samples=$(grep -oE '[0-9]+ samples' "$work/ours.err" | head -1 | awk '{print $1}')
# One pass over perf's raw dump: samples, and the counts of LOST records.
read -r perf_samples perf_lost < <(perf report -D -i "$work/perf.data" 2>/dev/null | awk '
	/ PERF_RECORD_SAMPLE\(/ { n++ }
	/ PERF_RECORD_LOST(_SAMPLES)? / { for (i = 1; i < NF; i++) if ($i == "lost") l += $(i+1) }
	END { print n+0, l+0 }')
perf_cpu=$(add "$(add "$(field "$work/t.rec" 2)" "$(field "$work/t.rec" 3)")" \
	"$(add "$(field "$work/t.rep" 2)" "$(field "$work/t.rep" 3)")")
perf_rss=$(awk -v a="$(field "$work/t.rec" 4)" -v b="$(field "$work/t.rep" 4)" 'BEGIN{print (a>b)?a:b}')

echo
echo "End to end: ${SECONDS_E2E} s at 999 Hz, $EVENT, every CPU, call graphs; load: hot BPF program flat out + sha256sum"
printf '%-28s %12s %14s %10s %8s %9s %16s\n' "" "CPU user+sys" "wall→artefact" "peak RSS" "samples" "lost" "output"
printf '%-28s %10s s %12s s %10s %8s %9s %16s\n' "bpfprof record" \
	"$(add "$(field "$work/t.ours" 2)" "$(field "$work/t.ours" 3)")" "$(field "$work/t.ours" 1)" \
	"$(mib "$(field "$work/t.ours" 4)")" "$ours_samples" "$ours_lost" "$(size "$work/ours.pb.gz")"
printf '%-28s %10s s %12s s %10s %8s %9s %16s\n' "perf record + perf report" \
	"$perf_cpu" "$(add "$(field "$work/t.rec" 1)" "$(field "$work/t.rep" 1)")" \
	"$(mib "$perf_rss")" "$perf_samples" "$perf_lost" "$(size "$work/perf.data") data"
printf '%-28s %10s s %12s s %10s\n' "  perf record" \
	"$(add "$(field "$work/t.rec" 2)" "$(field "$work/t.rec" 3)")" "$(field "$work/t.rec" 1)" "$(mib "$(field "$work/t.rec" 4)")"
printf '%-28s %10s s %12s s %10s\n' "  perf report --stdio" \
	"$(add "$(field "$work/t.rep" 2)" "$(field "$work/t.rep" 3)")" "$(field "$work/t.rep" 1)" "$(mib "$(field "$work/t.rep" 4)")"

# --- 2. Slowdown of a fixed workload -------------------------------------------
# The configurations take turns in each round, so that other load on the
# machine falls on all of them alike; wall and CPU time are medians.
workload="head -c ${WORK_MIB}M /dev/zero | sha256sum >/dev/null"
run_workload() { # run_workload PROFILER HZ: appends "wall cpu" to $work/PROFILER.HZ
	local t="$work/w.time"
	case $1 in
	none) gtime "$t" sh -c "$workload" ;;
	bpfprof) "$BIN" record -a -F "$2" -e "$EVENT" -o "$work/w.pb.gz" -- \
		/usr/bin/time -f '%e %U %S %M' -o "$t" sh -c "$workload" 2>/dev/null ;;
	perf) perf record -q -B -a -g -F "$2" -e "$EVENT" -o "$work/w.data" -- \
		/usr/bin/time -f '%e %U %S %M' -o "$t" sh -c "$workload" 2>/dev/null ;;
	esac
	awk '{printf "%s %.2f\n", $1, $2+$3}' "$t" >>"$work/$1.$2"
}
configs="none.0 bpfprof.999 perf.999 bpfprof.4999 perf.4999"
for _ in $(seq "$REPS"); do
	for c in $configs; do run_workload "${c%.*}" "${c#*.}"; done
done
med() { awk -v i="$2" '{print $i}' "$work/$1" | median; }
base_wall=$(med none.0 1)
base_cpu=$(med none.0 2)
echo
echo "Slowdown of a fixed workload ($workload) while every CPU is sampled; median of $REPS rounds"
printf '%-9s %-22s %-22s %-22s\n' "" "unprofiled wall / CPU" "bpfprof record" "perf record -g"
for hz in 999 4999; do
	row=$(printf '%-9s %6s s / %5s s      ' "$hz Hz" "$base_wall" "$base_cpu")
	for prof in bpfprof perf; do
		w=$(med "$prof.$hz" 1)
		c=$(med "$prof.$hz" 2)
		row+=$(printf '%5s s %6s / %5s s %6s   ' "$w" "$(pct "$w" "$base_wall")" "$c" "$(pct "$c" "$base_cpu")")
	done
	echo "$row"
done
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
