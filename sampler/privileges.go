package sampler

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// This file decides, from privilege.Facts, which perf events the kernel
// lets a process open, before any is opened: a missing privilege is then
// named rather than met as an errno from perf_event_open.

// perfmon reports whether f passes the kernel's perfmon_capable():
// CAP_PERFMON, or CAP_SYS_ADMIN, which implies it.
func perfmon(f privilege.Facts) bool {
	return f.Effective.Has(unix.CAP_PERFMON) || f.Effective.Has(unix.CAP_SYS_ADMIN)
}

// CanSample reports whether a process with f may open perf events at all,
// on its own processes at least: CAP_PERFMON, or kernel.perf_event_paranoid
// <= 2. Above 2 (a patch some distributions carry) only CAP_PERFMON may.
func CanSample(f privilege.Facts) bool { return perfmon(f) || f.PerfEventParanoid <= 2 }

// CanSampleKernel reports whether events on a process may count kernel code
// (and so see BPF programs run on its behalf): CAP_PERFMON, or
// kernel.perf_event_paranoid <= 1. Without it only user-space events (:u)
// open.
func CanSampleKernel(f privilege.Facts) bool { return perfmon(f) || f.PerfEventParanoid <= 1 }

// CanSampleSystemWide reports whether per-CPU events (Options without PIDs,
// or with a Cgroup) may be opened, kernel included: CAP_PERFMON, or
// kernel.perf_event_paranoid <= 0.
func CanSampleSystemWide(f privilege.Facts) bool { return perfmon(f) || f.PerfEventParanoid <= 0 }

// SamplingProblem says in one line what kernel.perf_event_paranoid and a
// missing CAP_PERFMON keep from being sampled, and what to do; "" when
// CanSampleSystemWide.
func SamplingProblem(f privilege.Facts) string {
	switch {
	case !CanSample(f):
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"this kernel lets no one else use perf events; run as root, grant CAP_PERFMON, "+
			"or `sysctl kernel.perf_event_paranoid=1` (0 for system-wide)", f.PerfEventParanoid)
	case !CanSampleKernel(f):
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"only your own processes' user space (:u events) can be sampled, no kernel or BPF frames; "+
			"run as root, grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=1` (0 for system-wide)", f.PerfEventParanoid)
	case !CanSampleSystemWide(f):
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"only processes (-p, or a command) can be sampled, not every CPU (-a, -C, --cgroup), "+
			"nor BPF programs followed as other processes load them; "+
			"run as root, grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=0`", f.PerfEventParanoid)
	}
	return ""
}
