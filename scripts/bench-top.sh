#!/usr/bin/env bash
# Measures 'bpfprof top' as it runs in a terminal (tmux) at the default 1 s
# refresh with sampling on (cpu-clock 499 Hz): its own CPU time over DUR
# seconds (default 30) and its memory, with about 5 and about 500 BPF
# programs loaded, and the time from start to the first full screen.
# Needs root, tmux and a built bin/bpfprof.
#
#   scripts/bench-top.sh [-d SECONDS]
#
# bpftop, the tool a user would otherwise run, is not packaged here, so it
# is not run side by side; its per-refresh model is printed for comparison.
set -euo pipefail
. "$(dirname "$0")/lib.sh" bench-top

dur=30
while [ $# -gt 0 ]; do
	case $1 in
	-d) dur=$2; shift 2 ;;
	*) echo "usage: $0 [-d SECONDS]" >&2; exit 2 ;;
	esac
done
need_root "BPF programs, perf events on every CPU"
need_tools tmux
bpfprof=$(bpfprof_binary)

tmp=$(mktemp -d)
sock=$tmp/tmux
holder_pid=
stop_holder() {
	if [ -n "$holder_pid" ]; then
		exec 3>&-
		wait "$holder_pid" 2>/dev/null || true
		holder_pid=
	fi
}
cleanup() {
	tmux -S "$sock" kill-server 2>/dev/null || true
	stop_holder
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/holdprogs" ./bpfprog/internal/holdprogs
mkfifo "$tmp/in" "$tmp/out"
hz=$(getconf CLK_TCK)

now_ns() { date +%s%N; }
# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# measure N: top with N extra programs held.
measure() {
	local n=$1
	"$tmp/holdprogs" "$n" <"$tmp/in" >"$tmp/out" &
	holder_pid=$!
	exec 3>"$tmp/in"
	read -r ready _ <"$tmp/out"
	[ "$ready" = ready ] || { echo "bench-top: holder failed" >&2; exit 1; }
	local total
	total=$("$bpfprof" list --interval 0 | tail -n +2 | wc -l)

	local start first pid t0 t1 c0 c1
	start=$(now_ns)
	tmux -S "$sock" -f /dev/null new-session -d -x 200 -y 50 "exec $bpfprof top -d 1"
	# The first full screen: the table with its rows.
	until tmux -S "$sock" capture-pane -p | grep -q '^>'; do sleep 0.01; done
	first=$(( ($(now_ns) - start) / 1000000 ))
	pid=$(tmux -S "$sock" display-message -p '#{pane_pid}')
	sleep 3
	c0=$(cpu_ticks "$pid"); t0=$(now_ns)
	sleep "$dur"
	c1=$(cpu_ticks "$pid"); t1=$(now_ns)
	local rss hwm
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
	tmux -S "$sock" send-keys q
	while [ -e "/proc/$pid" ]; do sleep 0.05; done
	tmux -S "$sock" kill-server 2>/dev/null || true
	stop_holder
	awk -v n="$total" -v c=$((c1 - c0)) -v hz="$hz" -v ns=$((t1 - t0)) -v rss="$rss" -v hwm="$hwm" -v first="$first" 'BEGIN {
		printf "%4d programs loaded: top CPU %.2f%% of a core over %.0f s, RSS %.1f MiB (peak %.1f MiB), first full screen %d ms\n",
			n, 100 * c / hz / (ns / 1e9), ns / 1e9, rss / 1024, hwm / 1024, first
	}'
}

echo "bpfprof top at 1 s refresh, sampling cpu-clock at 499 Hz on every CPU ($(nproc) CPUs); machine shared, figures noisy"
measure 5
measure 495
cat <<'TXT'
Per refresh, bpftop reads each program with one BPF_OBJ_GET_INFO_BY_FD (after BPF_PROG_GET_NEXT_ID and
BPF_PROG_GET_FD_BY_ID), for its run time and count. bpfprof top does the same for the counters; it lists
owners and attach points (a walk over /proc/*/fdinfo and the BPF links) again only when programs came or went,
at most every 2 s, else every 30 s, and on top it reads the samples counted since the last refresh from its
sampling session (one pass over the distinct stacks, programs, lines and addresses).
TXT
