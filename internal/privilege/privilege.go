// Package privilege reads the facts the kernel weighs when it decides what
// this process may do with perf events, BPF objects and kernel addresses:
// the process's effective capabilities and the kernel.perf_event_paranoid
// and kernel.kptr_restrict sysctls.
//
// It decides nothing. Each decision belongs to the package that owns the
// resource: sampler for perf events, bpfprog for listing, loading and
// run-time stats of BPF programs, symbolize for kernel addresses in
// /proc/kallsyms and BPF program info. Read reads the facts once; Parse is
// the same over readers, for tests and fuzzing.
package privilege

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// CapSet is a set of capabilities, bit n set for capability n as numbered
// in linux/capability.h (unix.CAP_SYS_ADMIN and so on): the form of the
// CapEff line of /proc/PID/status.
type CapSet uint64

// Caps returns the set of the capabilities caps (unix.CAP_* numbers).
func Caps(caps ...int) CapSet {
	var s CapSet
	for _, c := range caps {
		s |= 1 << c
	}
	return s
}

// Has reports whether capability c (a unix.CAP_* number) is in s.
func (s CapSet) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }

// Facts are what the kernel's privilege checks look at.
type Facts struct {
	// PerfEventParanoid is kernel.perf_event_paranoid: -1 allows
	// everything, 0 or more forbids raw tracepoints, 1 or more system-wide
	// (per-CPU) events, 2 or more kernel profiling, each to processes
	// without CAP_PERFMON. Some distributions add 3 (or more): no perf
	// events at all. It also gates kernel addresses at kptr_restrict 0.
	PerfEventParanoid int
	// KptrRestrict is kernel.kptr_restrict (0, 1 or 2): who may see
	// kernel addresses.
	KptrRestrict int
	// Effective is the process's effective capability set (CapEff in
	// /proc/self/status). A capability counts for the kernel's checks only
	// in the initial user namespace; in a container the set may show one
	// the kernel does not honour.
	Effective CapSet
}

// Files the facts come from.
const (
	paranoidPath = "/proc/sys/kernel/perf_event_paranoid"
	kptrPath     = "/proc/sys/kernel/kptr_restrict"
	statusPath   = "/proc/self/status"
)

// Read reads the facts of this process from
// /proc/sys/kernel/perf_event_paranoid, /proc/sys/kernel/kptr_restrict and
// /proc/self/status.
func Read() (Facts, error) {
	files := make([]*os.File, 0, 3)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, path := range []string{paranoidPath, kptrPath, statusPath} {
		f, err := os.Open(path)
		if err != nil {
			return Facts{}, fmt.Errorf("read privileges: %w", err)
		}
		files = append(files, f)
	}
	return Parse(files[0], files[1], files[2])
}

// Parse parses the contents of perf_event_paranoid, kptr_restrict and a
// /proc/PID/status file. It returns the zero Facts with an error when one
// of them is malformed or status has no CapEff line.
func Parse(paranoid, kptrRestrict, status io.Reader) (Facts, error) {
	var f Facts
	var err error
	if f.PerfEventParanoid, err = readInt(paranoid); err != nil {
		return Facts{}, fmt.Errorf("perf_event_paranoid: %w", err)
	}
	if f.KptrRestrict, err = readInt(kptrRestrict); err != nil {
		return Facts{}, fmt.Errorf("kptr_restrict: %w", err)
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
			return Facts{}, fmt.Errorf("status: CapEff: %w", err)
		}
		f.Effective = CapSet(caps)
		found = true
	}
	if err := sc.Err(); err != nil {
		return Facts{}, fmt.Errorf("status: %w", err)
	}
	if !found {
		return Facts{}, fmt.Errorf("status: no CapEff line")
	}
	return f, nil
}

// readInt reads a sysctl's one integer.
func readInt(r io.Reader) (int, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
