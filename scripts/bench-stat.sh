#!/usr/bin/env bash
# The cost of counting, per run of the hot testdata program driven with
# BPF_PROG_TEST_RUN (the kernel's own per-run timing): run-time stats off,
# on, on while sampling every CPU at 999 Hz (bpfprof stat's sampled path),
# and with bpfprof stat's fentry/fexit counters where the kernel allows them
# (not on this host's 6.18; measured in Debian 6.1 under QEMU by hand, see
# the README). The kernel's figure for stats is ~20 ns per run (two clock
# reads). perf stat -b, the tool one would otherwise use, is tried too: it
# needs the same fentry support. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test -run '^$' -bench 'BenchmarkRunCost' -benchtime 200x -count 3 -v ./stat 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E 'fentry-fexit: not measured' | sed 's/^ *//' | sort -u
echo "$out" | awk '
	/^BenchmarkRunCost\// {
		split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
		for (i = 2; i <= NF; i++) if ($(i+1) == "ns/run") { sum[name] += $i; n[name]++ }
		if (!(name in seen)) { seen[name] = 1; order[++k] = name }
	}
	END {
		printf "%-24s %12s %12s\n", "hot program, per run", "ns (mean)", "vs stats off"
		base = sum["stats-off"] / n["stats-off"]
		for (j = 1; j <= k; j++) {
			m = sum[order[j]] / n[order[j]]
			printf "%-24s %12.1f %+12.1f\n", order[j], m, m - base
		}
		printf "%-24s %12s %+12.1f\n", "kernel figure, stats", "", 20
	}'
if command -v perf >/dev/null; then
	id=$(go run ./cmd/bpfprof list --interval 0 2>/dev/null | awk 'NR==2 {print $1}')
	if [ -n "$id" ]; then
		if perf stat -b "$id" -e cpu-clock -- sleep 0.1 >/dev/null 2>&1; then
			echo "perf stat -b $id: works here"
		else
			echo "perf stat -b $id: not available here: $(perf stat -b "$id" -e cpu-clock -- sleep 0.1 2>&1 | grep -v '^$' | head -1 | sed 's/^ *//')"
		fi
	fi
fi
echo "(shared 2-core machine: figures are noisy)"
