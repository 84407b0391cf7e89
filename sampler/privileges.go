package sampler

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Capability bits, as numbered in linux/capability.h.
const (
	capSysAdmin = 21
	capSyslog   = 34
	capPerfmon  = 38
	capBPF      = 39
)

// Privileges describes what this process may do with perf events and BPF,
// from kernel.perf_event_paranoid, kernel.kptr_restrict and the process's
// effective capabilities.
type Privileges struct {
	// Paranoid is kernel.perf_event_paranoid: -1 allows everything, 0 or
	// more forbids raw tracepoints, 1 or more system-wide (per-CPU) events,
	// 2 or more kernel profiling, each to processes without CAP_PERFMON.
	// Some distributions add 3 (or more): no perf events at all.
	Paranoid int
	// KptrRestrict is kernel.kptr_restrict: 0 shows kernel addresses in
	// /proc/kallsyms to CAP_SYSLOG and, at Paranoid <= 1, to everyone; 1
	// only to CAP_SYSLOG; 2 to nobody (KernelAddressesVisible).
	KptrRestrict int
	// Effective capabilities (CapEff in /proc/self/status).
	CapSysAdmin, CapPerfmon, CapBPF, CapSyslog bool
}

// CheckPrivileges reads /proc/sys/kernel/perf_event_paranoid,
// /proc/sys/kernel/kptr_restrict and /proc/self/status.
func CheckPrivileges() (Privileges, error) {
	files := make([]*os.File, 0, 3)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, path := range []string{"/proc/sys/kernel/perf_event_paranoid", "/proc/sys/kernel/kptr_restrict", "/proc/self/status"} {
		f, err := os.Open(path)
		if err != nil {
			return Privileges{}, fmt.Errorf("check privileges: %w", err)
		}
		files = append(files, f)
	}
	return ParsePrivileges(files[0], files[1], files[2])
}

// ParsePrivileges parses the contents of perf_event_paranoid, kptr_restrict
// and a /proc/PID/status file.
func ParsePrivileges(paranoid, kptrRestrict, status io.Reader) (Privileges, error) {
	var p Privileges
	var err error
	if p.Paranoid, err = readInt(paranoid); err != nil {
		return Privileges{}, fmt.Errorf("perf_event_paranoid: %w", err)
	}
	if p.KptrRestrict, err = readInt(kptrRestrict); err != nil {
		return Privileges{}, fmt.Errorf("kptr_restrict: %w", err)
	}
	found := false
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		hex, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return Privileges{}, fmt.Errorf("status: CapEff: %w", err)
		}
		has := func(bit uint) bool { return caps&(1<<bit) != 0 }
		p.CapSysAdmin, p.CapPerfmon, p.CapBPF, p.CapSyslog = has(capSysAdmin), has(capPerfmon), has(capBPF), has(capSyslog)
		found = true
	}
	if err := sc.Err(); err != nil {
		return Privileges{}, fmt.Errorf("status: %w", err)
	}
	if !found {
		return Privileges{}, fmt.Errorf("status: no CapEff line")
	}
	return p, nil
}

func readInt(r io.Reader) (int, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// perfmon reports whether the process passes perf's privilege checks:
// CAP_PERFMON, or CAP_SYS_ADMIN which implies it.
func (p Privileges) perfmon() bool { return p.CapPerfmon || p.CapSysAdmin }

// CanSampleSystemWide reports whether per-CPU events (Options without PIDs,
// or with a Cgroup) may be opened, kernel included: CAP_PERFMON, or
// perf_event_paranoid <= 0.
func (p Privileges) CanSampleSystemWide() bool { return p.perfmon() || p.Paranoid <= 0 }

// CanSampleKernel reports whether events on a process may count kernel
// code (and so see BPF programs run on its behalf): CAP_PERFMON, or
// perf_event_paranoid <= 1. Without it only user-space events (:u) open.
func (p Privileges) CanSampleKernel() bool { return p.perfmon() || p.Paranoid <= 1 }

// CanLoadBPF reports whether BPF programs may be loaded (CAP_BPF, or
// CAP_SYS_ADMIN).
func (p Privileges) CanLoadBPF() bool { return p.CapBPF || p.CapSysAdmin }

// CanListBPF reports whether the loaded BPF programs may be listed and
// opened by id (BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID, and their BTF),
// and their run-time stats enabled (BPF_ENABLE_STATS): the kernel asks for
// CAP_SYS_ADMIN for each of these; CAP_BPF is not enough.
func (p Privileges) CanListBPF() bool { return p.CapSysAdmin }

// KernelAddressesVisible reports whether /proc/kallsyms shows this process
// real addresses, as the kernel's kallsyms_show_value decides: at
// kptr_restrict 0 when perf_event_paranoid <= 1, or at kptr_restrict <= 1
// with CAP_SYSLOG; at kptr_restrict 2 never, not even to root. The same
// test gates the JIT addresses in BPF program info. Without them kernel
// and BPF frames can't be named.
//
// CAP_SYSLOG counts in the initial user namespace only; in a container
// CapEff may show it when the kernel does not honour it.
func (p Privileges) KernelAddressesVisible() bool {
	switch {
	case p.KptrRestrict == 0 && p.Paranoid <= 1:
		return true
	case p.KptrRestrict <= 1 && p.CapSyslog:
		return true
	}
	return false
}

// Problems returns one line per privilege that keeps bpfprof from working
// fully, saying what is lost and what to do; none when all is well: the
// non-empty ones of SamplingProblem, ListingProblem and
// KernelAddressProblem, in that order.
func (p Privileges) Problems() []string {
	var out []string
	for _, line := range []string{p.SamplingProblem(), p.ListingProblem(), p.KernelAddressProblem()} {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// SamplingProblem says in one line what perf_event_paranoid and a missing
// CAP_PERFMON keep from being sampled, and what to do; "" when
// CanSampleSystemWide.
func (p Privileges) SamplingProblem() string {
	switch {
	case !p.perfmon() && p.Paranoid > 2:
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"this kernel lets no one else use perf events; run as root, grant CAP_PERFMON, "+
			"or `sysctl kernel.perf_event_paranoid=1` (0 for system-wide)", p.Paranoid)
	case !p.CanSampleKernel():
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"only your own processes' user space (:u events) can be sampled, no kernel or BPF frames; "+
			"run as root, grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=1` (0 for system-wide)", p.Paranoid)
	case !p.CanSampleSystemWide():
		return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"only processes (-p, or a command) can be sampled, not every CPU (-a, -C, --cgroup), "+
			"nor BPF programs followed as other processes load them; "+
			"run as root, grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=0`", p.Paranoid)
	}
	return ""
}

// ListingProblem says in one line what a missing CAP_SYS_ADMIN costs; ""
// when CanListBPF.
func (p Privileges) ListingProblem() string {
	if p.CanListBPF() {
		return ""
	}
	return "CAP_SYS_ADMIN is missing (CAP_BPF is not enough): BPF programs can't be listed or read by id, " +
		"so BPF frames are named only by their kernel symbols, without source lines, and run-time stats stay off; run as root"
}

// KernelAddressProblem says in one line why kernel addresses are hidden and
// how to fix it; "" when KernelAddressesVisible.
func (p Privileges) KernelAddressProblem() string {
	if p.KernelAddressesVisible() {
		return ""
	}
	return p.kallsymsProblem()
}

// kallsymsProblem says why /proc/kallsyms hides addresses and how to fix it.
func (p Privileges) kallsymsProblem() string {
	const lost = "/proc/kallsyms and BPF program info hide kernel addresses, so kernel and BPF frames can't be named"
	switch {
	case p.KptrRestrict >= 2:
		return fmt.Sprintf("kernel.kptr_restrict is %d: %s, even for root; `sysctl kernel.kptr_restrict=1` "+
			"(then run as root or with CAP_SYSLOG)", p.KptrRestrict, lost)
	case p.KptrRestrict == 1:
		return fmt.Sprintf("kernel.kptr_restrict is 1 and CAP_SYSLOG is missing: %s; run as root, grant CAP_SYSLOG, "+
			"or `sysctl kernel.kptr_restrict=0` with kernel.perf_event_paranoid <= 1", lost)
	}
	return fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_SYSLOG is missing: %s (kptr_restrict 0 shows them "+
		"only at perf_event_paranoid <= 1); run as root, grant CAP_SYSLOG, or `sysctl kernel.perf_event_paranoid=1`", p.Paranoid, lost)
}

// Err returns nil when system-wide sampling is possible, else an error
// wrapping ErrPermission that lists Problems.
func (p Privileges) Err() error {
	if p.CanSampleSystemWide() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrPermission, strings.Join(p.Problems(), "; "))
}
