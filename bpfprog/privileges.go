package bpfprog

import (
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// This file decides, from privilege.Facts, what the kernel's bpf(2) lets a
// process do with BPF programs, before it is tried. CheckAccess asks the
// kernel itself.

// CanList reports whether a process with f may list the loaded BPF
// programs and open them by id (BPF_PROG_GET_NEXT_ID,
// BPF_PROG_GET_FD_BY_ID, and their BTF by id), which List, Get and the
// reading of line info need. The kernel asks for CAP_SYS_ADMIN;
// CAP_BPF is not enough.
func CanList(f privilege.Facts) bool { return f.Effective.Has(unix.CAP_SYS_ADMIN) }

// CanEnableStats reports whether a process with f may turn on BPF run-time
// stats (BPF_ENABLE_STATS, OpenStats): CAP_SYS_ADMIN.
func CanEnableStats(f privilege.Facts) bool { return f.Effective.Has(unix.CAP_SYS_ADMIN) }

// CanLoad reports whether a process with f may load BPF programs of any
// type: CAP_BPF, or CAP_SYS_ADMIN (the kernel's bpf_capable()). Tracing
// and perf-event programs also need CAP_PERFMON; socket filters load
// without any capability where kernel.unprivileged_bpf_disabled is 0.
func CanLoad(f privilege.Facts) bool {
	return f.Effective.Has(unix.CAP_BPF) || f.Effective.Has(unix.CAP_SYS_ADMIN)
}

// ListingProblem says in one line what a process with f loses for want of
// CAP_SYS_ADMIN while sampling, and what to do; "" when CanList.
func ListingProblem(f privilege.Facts) string {
	if CanList(f) {
		return ""
	}
	return "CAP_SYS_ADMIN is missing (CAP_BPF is not enough): BPF programs can't be listed or read by id, " +
		"so BPF frames are named only by their kernel symbols, without source lines, and run-time stats stay off; run as root"
}
