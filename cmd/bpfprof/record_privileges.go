package main

import (
	"fmt"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

// privilegeReport is what the privilege check before a recording found
// that matters for it.
type privilegeReport struct {
	// warnings are one line each, printed before sampling starts.
	warnings []string
	// kallsyms and bpfInfo say that the summary need not warn of hidden
	// kernel addresses and unreadable BPF program info: a warning already
	// did, or the recording has no kernel or BPF frames (:u).
	kallsyms, bpfInfo bool
}

// perCPU reports whether the recording opens events on whole CPUs (every
// process, or a cgroup) rather than on processes (-p, or a command without
// -a).
func (cfg *recordConfig) perCPU() bool {
	return len(cfg.pids) == 0 && (len(cfg.command) == 0 || cfg.systemWide)
}

// userOnly reports whether the event leaves kernel code out (:u): no
// kernel or BPF frames are sampled then.
func (cfg *recordConfig) userOnly() bool { return cfg.event.ExcludesKernel() }

// checkPrivileges tells from p whether the recording cfg can sample at all,
// and which of p.Problems() matter for it. A recording that cannot work is
// an error (matching sampler.ErrPermission) with the one problem that stops it.
func checkPrivileges(p sampler.Privileges, cfg *recordConfig) (privilegeReport, error) {
	sampling := p.SamplingProblem()
	listing := p.ListingProblem()
	kallsyms := p.KernelAddressProblem()

	switch {
	case sampling == "":
	case cfg.perCPU() && p.Paranoid <= 2:
		// Problems' line would say what else works, which may be just
		// what the user asked for (:u) but for its being system-wide.
		fix := "-p PID or a command"
		if !p.CanSampleKernel() && !cfg.userOnly() {
			fix += ", with a :u event"
		}
		return privilegeReport{}, errs.New(sampler.ErrPermission, fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"sampling every CPU (-a, -C, --cgroup, or no target) needs root or CAP_PERFMON (or `sysctl kernel.perf_event_paranoid=0`); "+
			"to sample your own processes, use %s", p.Paranoid, fix))
	case cfg.perCPU(),
		!cfg.userOnly() && !p.CanSampleKernel(),
		!p.CanSampleKernel() && p.Paranoid > 2:
		return privilegeReport{}, errs.New(sampler.ErrPermission, sampling)
	}
	var r privilegeReport
	if cfg.userOnly() {
		// A :u recording of processes is what the privileges allow,
		// with no kernel or BPF frames to name: nothing to warn of.
		r.kallsyms, r.bpfInfo = true, true
		return r, nil
	}
	if sampling != "" {
		r.warnings = append(r.warnings, sampling)
	}
	if listing != "" {
		r.warnings = append(r.warnings, listing)
		r.bpfInfo = true
	}
	if kallsyms != "" {
		r.warnings = append(r.warnings, kallsyms)
		r.kallsyms = true
	}
	return r, nil
}
