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
	Paranoid int
	// KptrRestrict is kernel.kptr_restrict: 0 shows kernel addresses in
	// /proc/kallsyms, 1 only to CAP_SYSLOG, 2 to nobody.
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

// CanSampleSystemWide reports whether per-CPU events (Options without PIDs)
// may be opened, kernel included.
func (p Privileges) CanSampleSystemWide() bool { return p.perfmon() || p.Paranoid <= 0 }

// CanLoadBPF reports whether BPF programs may be loaded (CAP_BPF, or
// CAP_SYS_ADMIN).
func (p Privileges) CanLoadBPF() bool { return p.CapBPF || p.CapSysAdmin }

// KernelAddressesVisible reports whether /proc/kallsyms shows addresses to
// this process. Without them kernel and BPF frames can't be named.
func (p Privileges) KernelAddressesVisible() bool {
	switch p.KptrRestrict {
	case 0:
		return true
	case 1:
		return p.CapSyslog
	}
	return false
}

// Problems returns one sentence per privilege that keeps bpfprof from
// working fully, saying what to do; none when all is well.
func (p Privileges) Problems() []string {
	var out []string
	if !p.CanSampleSystemWide() {
		out = append(out, fmt.Sprintf("kernel.perf_event_paranoid is %d and CAP_PERFMON is missing: "+
			"system-wide sampling needs root, CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=0`", p.Paranoid))
		if p.Paranoid >= 2 {
			out = append(out, "even per-process sampling can't see kernel or BPF frames at perf_event_paranoid >= 2 without CAP_PERFMON")
		}
	}
	if !p.CanLoadBPF() {
		out = append(out, "CAP_BPF is missing: bpfprof can't list or inspect BPF programs (run as root, or grant CAP_BPF)")
	}
	if !p.KernelAddressesVisible() {
		out = append(out, fmt.Sprintf("kernel.kptr_restrict is %d: /proc/kallsyms hides kernel addresses, "+
			"so kernel and BPF frames can't be named (run as root with kptr_restrict <= 1, or `sysctl kernel.kptr_restrict=0`)", p.KptrRestrict))
	}
	return out
}

// Err returns nil when system-wide sampling is possible, else an error
// wrapping ErrPermission that lists Problems.
func (p Privileges) Err() error {
	if p.CanSampleSystemWide() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrPermission, strings.Join(p.Problems(), "; "))
}
