package bpfprog

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// TestPrivilegeDecisions checks bpf(2)'s capability rules: walking and
// opening programs by id and enabling stats need CAP_SYS_ADMIN, loading
// CAP_BPF or CAP_SYS_ADMIN; the sysctls of perf events play no part.
func TestPrivilegeDecisions(t *testing.T) {
	type can struct{ list, stats, load bool }
	for _, c := range []struct {
		name string
		caps []int
		can  can
	}{
		{name: "none"},
		{name: "CAP_BPF", caps: []int{unix.CAP_BPF}, can: can{load: true}},
		{name: "CAP_BPF and CAP_PERFMON", caps: []int{unix.CAP_BPF, unix.CAP_PERFMON}, can: can{load: true}},
		{name: "CAP_PERFMON", caps: []int{unix.CAP_PERFMON}},
		{name: "CAP_SYSLOG", caps: []int{unix.CAP_SYSLOG}},
		{name: "CAP_SYS_ADMIN", caps: []int{unix.CAP_SYS_ADMIN}, can: can{true, true, true}},
		{name: "root", caps: []int{unix.CAP_SYS_ADMIN, unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_SYSLOG}, can: can{true, true, true}},
	} {
		for _, paranoid := range []int{-1, 2} {
			f := privilege.Facts{PerfEventParanoid: paranoid, Effective: privilege.Caps(c.caps...)}
			got := can{CanList(f), CanEnableStats(f), CanLoad(f)}
			if got != c.can {
				t.Errorf("%s, paranoid %d: can %+v, want %+v", c.name, paranoid, got, c.can)
			}
			problem := ListingProblem(f)
			switch {
			case c.can.list && problem != "":
				t.Errorf("%s: problem %q, want none", c.name, problem)
			case !c.can.list && !strings.HasPrefix(problem, "CAP_SYS_ADMIN is missing (CAP_BPF is not enough): "):
				t.Errorf("%s: problem %q does not name CAP_SYS_ADMIN", c.name, problem)
			case strings.Contains(problem, "\n"):
				t.Errorf("%s: problem %q is more than one line", c.name, problem)
			}
		}
	}
}
