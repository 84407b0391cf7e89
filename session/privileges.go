package session

import (
	"fmt"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

// PrivilegeReport is what a privilege check before sampling found that
// matters for the session.
type PrivilegeReport struct {
	// Warnings are one line each, for the user before sampling starts.
	Warnings []string
	// Kallsyms and BPFInfo say that a summary need not warn of hidden
	// kernel addresses or unreadable BPF program info: a warning already
	// did, or the session has no kernel or BPF frames (:u).
	Kallsyms, BPFInfo bool
}

// CheckPrivileges tells from p whether a session can sample at all, and
// which of p.Problems() matter for it. perCPU says the session opens events
// on whole CPUs (every process, or a cgroup) rather than on processes;
// userOnly that its event leaves kernel code out (:u). A session that cannot
// work is an error (matching sampler.ErrPermission) with the one problem
// that stops it.
func CheckPrivileges(p sampler.Privileges, perCPU, userOnly bool) (PrivilegeReport, error) {
	sampling := p.SamplingProblem()
	listing := p.ListingProblem()
	kallsyms := p.KernelAddressProblem()

	switch {
	case sampling == "":
	case perCPU && p.Paranoid <= 2:
		// Problems' line would say what else works, which may be just
		// what the user asked for (:u) but for its being system-wide.
		fix := "-p PID or a command"
		if !p.CanSampleKernel() && !userOnly {
			fix += ", with a :u event"
		}
		return PrivilegeReport{}, errs.New(sampler.ErrPermission, fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"sampling every CPU (-a, -C, --cgroup, or no target) needs root or CAP_PERFMON (or `sysctl kernel.perf_event_paranoid=0`); "+
			"to sample your own processes, use %s", p.Paranoid, fix))
	case perCPU,
		!userOnly && !p.CanSampleKernel(),
		!p.CanSampleKernel() && p.Paranoid > 2:
		return PrivilegeReport{}, errs.New(sampler.ErrPermission, sampling)
	}
	var r PrivilegeReport
	if userOnly {
		// A :u session of processes is what the privileges allow,
		// with no kernel or BPF frames to name: nothing to warn of.
		r.Kallsyms, r.BPFInfo = true, true
		return r, nil
	}
	if sampling != "" {
		r.Warnings = append(r.Warnings, sampling)
	}
	if listing != "" {
		r.Warnings = append(r.Warnings, listing)
		r.BPFInfo = true
	}
	if kallsyms != "" {
		r.Warnings = append(r.Warnings, kallsyms)
		r.Kallsyms = true
	}
	return r, nil
}
