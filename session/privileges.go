package session

import (
	"fmt"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/privilege"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
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

// checkPrivileges tells from f whether a session sampling as opts says can
// work at all, and which problems matter for it: each package's own
// decision on its resource (sampler: perf events, bpfprog: reading BPF
// programs, symbolize: kernel addresses). Options without PIDs open events
// on whole CPUs (every process, or a cgroup); events that all leave kernel
// code out (:u) need neither kernel addresses nor program info. Options
// without Events stand for the default event, which counts kernel code. A
// session that cannot work is an error (matching sampler.ErrPermission)
// with the one problem that stops it.
func checkPrivileges(f privilege.Facts, opts sampler.Options) (PrivilegeReport, error) {
	perCPU := len(opts.PIDs) == 0
	userOnly := len(opts.Events) > 0
	for _, e := range opts.Events {
		userOnly = userOnly && e.ExcludesKernel()
	}
	sampling := sampler.SamplingProblem(f)
	switch {
	case sampling == "":
	case perCPU && sampler.CanSample(f):
		// SamplingProblem's line would say what else works, which may
		// be just what the user asked for (:u) but for its being
		// system-wide.
		fix := "-p PID or a command"
		if !sampler.CanSampleKernel(f) && !userOnly {
			fix += ", with a :u event"
		}
		return PrivilegeReport{}, errs.New(sampler.ErrPermission, fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"sampling every CPU (-a, -C, --cgroup, or no target) needs root or CAP_PERFMON (or `sysctl kernel.perf_event_paranoid=0`); "+
			"to sample your own processes, use %s", f.PerfEventParanoid, fix))
	case !sampler.CanSample(f), !userOnly && !sampler.CanSampleKernel(f):
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
	if listing := bpfprog.ListingProblem(f); listing != "" {
		r.Warnings = append(r.Warnings, listing)
		r.BPFInfo = true
	}
	if kallsyms := symbolize.KernelAddressProblem(f); kallsyms != "" {
		r.Warnings = append(r.Warnings, kallsyms)
		r.Kallsyms = true
	}
	return r, nil
}
