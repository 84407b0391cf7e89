#!/usr/bin/env bash
# Runs every side-by-side measurement (scripts/bench-*.sh): bpfprof against
# bpftool and perf on the same machine in the same run. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/bench-*.sh; do
	[ -e "$s" ] || continue
	echo "== $s"
	bash "$s"
done
