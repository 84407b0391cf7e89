package main

import (
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
)

// privilegeReport is what the privilege check before a recording found
// that matters for it: session.PrivilegeReport.
type privilegeReport struct {
	warnings          []string
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

// checkPrivileges tells from p whether the recording cfg can sample at all:
// session.CheckPrivileges for cfg's targets.
func checkPrivileges(p sampler.Privileges, cfg *recordConfig) (privilegeReport, error) {
	r, err := session.CheckPrivileges(p, cfg.perCPU(), cfg.userOnly())
	return privilegeReport{warnings: r.Warnings, kallsyms: r.Kallsyms, bpfInfo: r.BPFInfo}, err
}
