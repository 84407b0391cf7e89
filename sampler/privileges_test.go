package sampler

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
)

// TestSamplingDecisions checks the kernel's perf_event_open rules: what
// each perf_event_paranoid level refuses to a process without CAP_PERFMON,
// and that CAP_PERFMON or CAP_SYS_ADMIN lift it all.
func TestSamplingDecisions(t *testing.T) {
	type can struct{ any, kernel, systemWide bool }
	all := can{true, true, true}
	for _, c := range []struct {
		name    string
		facts   privilege.Facts
		can     can
		problem []string // substrings of SamplingProblem; none: ""
	}{
		{name: "paranoid -1", facts: privilege.Facts{PerfEventParanoid: -1}, can: all},
		{name: "paranoid 0", facts: privilege.Facts{PerfEventParanoid: 0}, can: all},
		{name: "paranoid 1", facts: privilege.Facts{PerfEventParanoid: 1}, can: can{any: true, kernel: true},
			problem: []string{"perf_event_paranoid is 1 and CAP_PERFMON is missing", "not every CPU (-a, -C, --cgroup)", "perf_event_paranoid=0"}},
		{name: "paranoid 2", facts: privilege.Facts{PerfEventParanoid: 2}, can: can{any: true},
			problem: []string{"perf_event_paranoid is 2 and CAP_PERFMON is missing", "(:u events)", "perf_event_paranoid=1"}},
		{name: "paranoid 3", facts: privilege.Facts{PerfEventParanoid: 3},
			problem: []string{"perf_event_paranoid is 3 and CAP_PERFMON is missing: this kernel lets no one else use perf events"}},
		{name: "paranoid 4", facts: privilege.Facts{PerfEventParanoid: 4}, problem: []string{"perf_event_paranoid is 4"}},
		{name: "CAP_PERFMON, paranoid 2", facts: privilege.Facts{PerfEventParanoid: 2, Effective: privilege.Caps(unix.CAP_PERFMON)}, can: all},
		{name: "CAP_PERFMON, paranoid 3", facts: privilege.Facts{PerfEventParanoid: 3, Effective: privilege.Caps(unix.CAP_PERFMON)}, can: all},
		{name: "CAP_SYS_ADMIN, paranoid 3", facts: privilege.Facts{PerfEventParanoid: 3, Effective: privilege.Caps(unix.CAP_SYS_ADMIN)}, can: all},
		// Neither CAP_BPF nor CAP_SYSLOG opens perf events.
		{name: "CAP_BPF and CAP_SYSLOG, paranoid 2", facts: privilege.Facts{PerfEventParanoid: 2, Effective: privilege.Caps(unix.CAP_BPF, unix.CAP_SYSLOG)},
			can: can{any: true}, problem: []string{"perf_event_paranoid is 2 and CAP_PERFMON is missing"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := can{CanSample(c.facts), CanSampleKernel(c.facts), CanSampleSystemWide(c.facts)}
			if got != c.can {
				t.Errorf("%+v: can %+v, want %+v", c.facts, got, c.can)
			}
			problem := SamplingProblem(c.facts)
			if (problem == "") != (len(c.problem) == 0) {
				t.Fatalf("problem %q, want one with %q", problem, c.problem)
			}
			if strings.Contains(problem, "\n") {
				t.Errorf("problem %q is more than one line", problem)
			}
			for _, want := range c.problem {
				if !strings.Contains(problem, want) {
					t.Errorf("problem %q lacks %q", problem, want)
				}
			}
		})
	}
}
