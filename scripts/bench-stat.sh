#!/usr/bin/env bash
# The cost of counting, per run of the hot testdata program driven with
# BPF_PROG_TEST_RUN (the kernel's own per-run timing): run-time stats off,
# on, on while sampling every CPU at 999 Hz (bpfprof stat's sampled path),
# and with bpfprof stat's fentry/fexit counters (its exact path). The host
# (6.18) refuses fentry on BPF programs, so the same benchmark also runs in
# Debian 12's 6.1 under QEMU (TCG: everything is several times slower
# there; compare within a column). The kernel's figure for stats is ~20 ns
# per run (two clock reads). perf stat -b, the tool one would otherwise
# use, is tried too. Needs root; the guest needs qemu-system-x86 and
# busybox-static (BENCH_GUEST=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

summarize() {
	awk '
	/^BenchmarkRunCost\// {
		split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
		for (i = 2; i <= NF; i++) if ($(i+1) == "ns/run") { sum[name] += $i; n[name]++ }
		if (!(name in seen)) { seen[name] = 1; order[++k] = name }
	}
	END { for (j = 1; j <= k; j++) printf "%s %.1f\n", order[j], sum[order[j]] / n[order[j]] }'
}

host=$(go test -run '^$' -bench 'BenchmarkRunCost' -benchtime 200x -count 3 -v ./stat 2>&1) || { echo "$host"; exit 1; }
echo "$host" | grep -E 'fentry-fexit: not measured' | sed 's/^ *//' | sort -u || true
host_sum=$(echo "$host" | summarize)
guest_sum=""
guest_kernel="(not run)"
if [ "${BENCH_GUEST:-1}" != 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	if guest=$(go run ./stat/internal/benchguest 2>&1); then
		guest_sum=$(echo "$guest" | summarize)
		guest_kernel=$(echo "$guest" | awk '/^guest kernel/ {print $3}')
	else
		echo "guest: $(echo "$guest" | tail -1)"
	fi
fi
printf '%-22s %14s %14s %16s %14s\n' "hot program, ns/run" "host 6.18" "host Δ" "guest $guest_kernel" "guest Δ"
for name in stats-off stats-on stats-sampling-999Hz stats-fentry-fexit; do
	h=$(echo "$host_sum" | awk -v n="$name" '$1 == n {print $2}')
	hb=$(echo "$host_sum" | awk '$1 == "stats-off" {print $2}')
	g=$(echo "$guest_sum" | awk -v n="$name" '$1 == n {print $2}')
	gb=$(echo "$guest_sum" | awk '$1 == "stats-off" {print $2}')
	awk -v name="$name" -v h="$h" -v hb="$hb" -v g="$g" -v gb="$gb" 'BEGIN {
		hd = (h == "") ? "-" : sprintf("%+.1f", h - hb); gd = (g == "") ? "-" : sprintf("%+.1f", g - gb)
		printf "%-22s %14s %14s %16s %14s\n", name, (h == "") ? "refused" : h, hd, (g == "") ? "-" : g, gd }'
done
printf '%-22s %14s %14s\n' "kernel figure, stats" "" "+20"
if command -v perf >/dev/null; then
	make -s build
	bin/bpfprof list --demo --interval 5 >/dev/null 2>&1 &
	demo=$!
	id=""
	for _ in $(seq 50); do
		id=$(bin/bpfprof list --interval 0 name bpfprof_hot_loop_socket 2>/dev/null | awk 'NR==2 {print $1}')
		[ -n "$id" ] && break
		sleep 0.1
	done
	if [ -z "$id" ]; then
		echo "perf stat -b: no demo program to try it on"
	else
		if perf stat -b "$id" -e cpu-clock -- sleep 0.1 >/dev/null 2>&1; then
			echo "perf stat -b $id: works here"
		else
			echo "perf stat -b $id: not available here: $(perf stat -b "$id" -e cpu-clock -- sleep 0.1 2>&1 | grep -v '^$' | head -1 | sed 's/^ *//')"
		fi
	fi
	kill "$demo" 2>/dev/null || true
	wait "$demo" 2>/dev/null || true
fi
echo "(shared 2-core machine, QEMU TCG guest: figures are noisy)"
