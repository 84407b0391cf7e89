#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 30s), one
# worker each (-parallel=1: the machine is small and shared), and prints per
# target the executions, executions per second and new corpus entries.
# Exits non-zero when any target finds a crasher (go test writes it under the
# package's testdata/fuzz/<Target>/) or fails to build.
#
#   FUZZTIME=30s   time per target (any go test -fuzztime value)
#   FUZZ=regexp    only targets whose package/name matches (grep -E)
#   FUZZMINIMIZETIME=1000x  -fuzzminimizetime: go's default, 60s, lets one
#                  worker spend most of a short run minimizing the inputs
#                  it finds (FuzzLoadELF ran 7 executions in 15s that way)
#
# The generated corpus stays in GOCACHE (go env GOCACHE)/fuzz; it is not
# committed. Only inputs that once failed belong in testdata/fuzz.
set -u -o pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-30s}
FILTER=${FUZZ:-}
MINTIME=${FUZZMINIMIZETIME:-1000x}
GO=${GO:-go}

# Packages with a fuzz function in a test file; go test -list then names the
# targets exactly as the test binary sees them.
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
targets=()
for p in "${pkgs[@]}"; do
	list=$("$GO" test -list '^Fuzz' "$p") || { echo "fuzz: go test -list $p failed" >&2; exit 1; }
	while read -r name; do
		[[ $name == Fuzz* ]] || continue
		[[ -z $FILTER ]] || grep -Eq -- "$FILTER" <<<"$p/$name" || continue
		targets+=("$p $name")
	done <<<"$list"
done
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz targets${FILTER:+ match $FILTER}" >&2
	exit 1
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed=()
rows=()
for t in "${targets[@]}"; do
	read -r p name <<<"$t"
	out="$log/${p//\//_}.$name"
	echo "fuzz: $p $name for $FUZZTIME" >&2
	"$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime="$MINTIME" -parallel=1 "$p" >"$out" 2>&1
	rc=$?
	# The last progress line carries the totals:
	# fuzz: elapsed: 30s, execs: 123456 (4115/sec), new interesting: 3 (total: 40)
	last=$(grep -E '^fuzz: elapsed: [0-9]+s, execs: ' "$out" | tail -n1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	secs=$(sed -nE 's/^fuzz: elapsed: ([0-9]+)s.*/\1/p' <<<"$last")
	newc=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	total=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")
	rate=-
	if [[ -n $execs && -n $secs && $secs -gt 0 ]]; then
		rate=$((execs / secs))
	fi
	status=ok
	if ((rc != 0)); then
		status=FAIL
		failed+=("$p $name")
		sed 's/^/    /' "$out" >&2
	fi
	rows+=("$(printf '%-28s %-18s %12s %9s %8s %8s  %s' "$p" "$name" "${execs:--}" "$rate" "${newc:--}" "${total:--}" "$status")")
done

printf '%-28s %-18s %12s %9s %8s %8s  %s\n' package target execs execs/s new corpus result
printf '%s\n' "${rows[@]}"
if ((${#failed[@]} > 0)); then
	echo "fuzz: ${#failed[@]} target(s) failed; crashers are under <package>/testdata/fuzz/<Target>/:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
