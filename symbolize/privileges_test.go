package symbolize

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// TestKernelAddressesVisible checks kallsyms_show_value's rules and that
// the problem for each hidden case names its cause and a fix that applies.
func TestKernelAddressesVisible(t *testing.T) {
	syslog := privilege.Caps(unix.CAP_SYSLOG)
	root := privilege.Caps(unix.CAP_SYS_ADMIN, unix.CAP_SYSLOG, unix.CAP_PERFMON, unix.CAP_BPF)
	// CAP_SYS_ADMIN and CAP_PERFMON do not stand in for CAP_SYSLOG.
	admin := privilege.Caps(unix.CAP_SYS_ADMIN, unix.CAP_PERFMON, unix.CAP_BPF)
	for _, c := range []struct {
		name               string
		paranoid, kptr     int
		caps               privilege.CapSet
		visible            bool
		problem, notAdvice string
	}{
		{name: "kptr 0, paranoid 1", paranoid: 1, visible: true},
		{name: "kptr 0, paranoid -1", paranoid: -1, visible: true},
		{name: "kptr 0, paranoid 2", paranoid: 2,
			problem: "kernel.perf_event_paranoid is 2 (kptr_restrict 0 shows addresses only at <= 1) and CAP_SYSLOG is missing", notAdvice: "kptr_restrict=0"},
		{name: "kptr 0, paranoid 2, CAP_SYSLOG", paranoid: 2, caps: syslog, visible: true},
		{name: "kptr 0, paranoid 2, CAP_SYS_ADMIN", paranoid: 2, caps: admin,
			problem: "kernel.perf_event_paranoid is 2 (kptr_restrict 0 shows addresses only at <= 1) and CAP_SYSLOG is missing"},
		{name: "kptr 1, paranoid -1", paranoid: -1, kptr: 1, problem: "kernel.kptr_restrict is 1 and CAP_SYSLOG is missing"},
		{name: "kptr 1, paranoid 2, CAP_SYSLOG", paranoid: 2, kptr: 1, caps: syslog, visible: true},
		{name: "kptr 1, root", paranoid: 2, kptr: 1, caps: root, visible: true},
		{name: "kptr 2, CAP_SYSLOG", paranoid: -1, kptr: 2, caps: syslog, problem: "kernel.kptr_restrict is 2, ", notAdvice: "grant CAP_SYSLOG"},
		{name: "kptr 2, root", paranoid: 2, kptr: 2, caps: root, problem: "even from root"},
		{name: "kptr 3, root", paranoid: 2, kptr: 3, caps: root, problem: "kernel.kptr_restrict is 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := privilege.Facts{PerfEventParanoid: c.paranoid, KptrRestrict: c.kptr, Effective: c.caps}
			if got := KernelAddressesVisible(f); got != c.visible {
				t.Errorf("%+v: visible %v, want %v", f, got, c.visible)
			}
			problem := KernelAddressProblem(f)
			switch {
			case c.visible && problem != "":
				t.Errorf("problem %q, want none", problem)
			case !c.visible && !strings.Contains(problem, c.problem):
				t.Errorf("problem %q lacks %q", problem, c.problem)
			case c.notAdvice != "" && strings.Contains(problem, c.notAdvice):
				t.Errorf("problem %q advises %q, which does not help", problem, c.notAdvice)
			case strings.Contains(problem, "\n"):
				t.Errorf("problem %q is more than one line", problem)
			}
		})
	}
}
