# What the bench scripts share; each sources it right after
# `set -euo pipefail` with `. "$(dirname "$0")/lib.sh" NAME`, NAME being
# how its messages start. Sourcing it moves to the repository root.

bench_name=${1:?usage: . scripts/lib.sh NAME}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# die MESSAGE... prints "NAME: MESSAGE" on stderr and exits 1.
die() {
	echo "$bench_name: $*" >&2
	exit 1
}

# need_root WHY exits unless running as root; WHY says what for.
need_root() {
	[ "$(id -u)" = 0 ] || die "needs root ($1)"
}

# need_tools COMMAND[:PACKAGE]... installs, with apt-get, the Debian
# package of every COMMAND not found (PACKAGE defaults to COMMAND's name; a
# COMMAND with a slash is a path that must be executable).
need_tools() {
	local want=() t cmd pkg
	for t in "$@"; do
		cmd=${t%%:*} pkg=${t#*:}
		if [[ $cmd == */* ]]; then
			[ -x "$cmd" ] && continue
		else
			command -v "$cmd" >/dev/null && continue
		fi
		want+=("$pkg")
	done
	[ ${#want[@]} -eq 0 ] && return
	echo "$bench_name: installing ${want[*]}" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null ||
		die "could not install ${want[*]}"
}

# bpfprof_binary prints the bpfprof binary to measure: $BPFPROF as given,
# else bin/bpfprof, built (or brought up to date) first.
bpfprof_binary() {
	if [ -n "${BPFPROF:-}" ]; then
		[ -x "$BPFPROF" ] || die "BPFPROF=$BPFPROF is not executable"
		echo "$BPFPROF"
		return
	fi
	${GO:-go} build -o bin/bpfprof ./cmd/bpfprof || die "go build failed"
	echo bin/bpfprof
}
