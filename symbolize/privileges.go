package symbolize

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// KernelAddressesVisible reports whether /proc/kallsyms shows a process with
// f real addresses, as the kernel's kallsyms_show_value decides: at
// kernel.kptr_restrict 0 when kernel.perf_event_paranoid <= 1; at
// kptr_restrict 0 or 1 with CAP_SYSLOG; at kptr_restrict 2 never, not even
// to root. The same test gates the JIT addresses in BPF program info
// (bpf_dump_raw_ok). Without them kernel and BPF frames can't be named.
//
// CAP_SYSLOG counts in the initial user namespace only; in a container
// f.Effective may show it when the kernel does not honour it.
func KernelAddressesVisible(f privilege.Facts) bool {
	switch {
	case f.KptrRestrict == 0 && f.PerfEventParanoid <= 1:
		return true
	case f.KptrRestrict <= 1 && f.Effective.Has(unix.CAP_SYSLOG):
		return true
	}
	return false
}

// KernelAddressProblem says in one line why kernel addresses are hidden
// from a process with f and how to show them; "" when
// KernelAddressesVisible.
func KernelAddressProblem(f privilege.Facts) string {
	why, fix := KernelAddressesHidden(f)
	if why == "" {
		return ""
	}
	return why + ": /proc/kallsyms and BPF program info hide kernel addresses, so kernel and BPF frames can't be named; " + fix
}

// KernelAddressesHidden gives the two halves of KernelAddressProblem for a
// command that words the consequence itself: which setting hides kernel
// addresses from a process with f, and what would show them. Both "" when
// KernelAddressesVisible.
func KernelAddressesHidden(f privilege.Facts) (why, fix string) {
	switch {
	case KernelAddressesVisible(f):
		return "", ""
	case f.KptrRestrict >= 2:
		return fmt.Sprintf("kernel.kptr_restrict is %d, which hides kernel addresses even from root", f.KptrRestrict),
			"`sysctl kernel.kptr_restrict=1`, then run as root or with CAP_SYSLOG"
	case f.KptrRestrict == 1:
		return "kernel.kptr_restrict is 1 and CAP_SYSLOG is missing",
			"run as root, grant CAP_SYSLOG, or `sysctl kernel.kptr_restrict=0` with kernel.perf_event_paranoid <= 1"
	}
	return fmt.Sprintf("kernel.perf_event_paranoid is %d (kptr_restrict 0 shows addresses only at <= 1) "+
			"and CAP_SYSLOG is missing", f.PerfEventParanoid),
		"run as root, grant CAP_SYSLOG, or `sysctl kernel.perf_event_paranoid=1`"
}
