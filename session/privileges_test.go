package session

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
	"github.com/bpfprof/bpfprof/sampler"
)

// TestCheckPrivileges checks which privilege problems stop a session, which
// only warn, and that what the session does not need (kernel addresses for
// :u events) goes unsaid.
func TestCheckPrivileges(t *testing.T) {
	all := privilege.Caps(unix.CAP_SYS_ADMIN, unix.CAP_PERFMON, unix.CAP_BPF, unix.CAP_SYSLOG)
	root := privilege.Facts{PerfEventParanoid: 2, Effective: all}
	// CAP_PERFMON, CAP_BPF and CAP_SYS_ADMIN but not CAP_SYSLOG: at
	// perf_event_paranoid 2, kptr_restrict 0 does not show addresses.
	noSyslog := privilege.Facts{PerfEventParanoid: 2, Effective: privilege.Caps(unix.CAP_SYS_ADMIN, unix.CAP_PERFMON, unix.CAP_BPF)}
	// CAP_PERFMON and CAP_BPF, as a sampling service might be granted.
	perfmonBPF := privilege.Facts{PerfEventParanoid: 2, Effective: privilege.Caps(unix.CAP_PERFMON, unix.CAP_BPF)}
	none := func(paranoid, kptr int) privilege.Facts {
		return privilege.Facts{PerfEventParanoid: paranoid, KptrRestrict: kptr}
	}
	userEvent, err := sampler.ParseEvent("cpu-clock:u")
	if err != nil {
		t.Fatal(err)
	}
	kernelEvent, err := sampler.ParseEvent("cpu-clock")
	if err != nil {
		t.Fatal(err)
	}
	user := []sampler.Event{userEvent}
	process := []int{1}
	for _, tc := range []struct {
		name  string
		facts privilege.Facts
		opts  sampler.Options
		// err is the start of the error, errHas more of it; warnings one
		// substring per warning, in order.
		err               string
		errHas            string
		warnings          []string
		kallsyms, bpfInfo bool
	}{
		{name: "root", facts: root},
		{name: "root -p", facts: root, opts: sampler.Options{PIDs: process}},
		{name: "root, kptr_restrict 2", facts: privilege.Facts{PerfEventParanoid: 2, KptrRestrict: 2, Effective: all},
			warnings: []string{"kernel.kptr_restrict is 2"}, kallsyms: true},
		{name: "no CAP_SYSLOG at paranoid 2", facts: noSyslog,
			warnings: []string{"kernel.perf_event_paranoid is 2 (kptr_restrict 0 shows addresses only at <= 1) and CAP_SYSLOG is missing"}, kallsyms: true},
		{name: "CAP_PERFMON and CAP_BPF", facts: perfmonBPF,
			warnings: []string{"CAP_SYS_ADMIN is missing (CAP_BPF is not enough)", "kernel.perf_event_paranoid is 2 (kptr_restrict 0 shows addresses only at <= 1) and CAP_SYSLOG is missing"},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 2 system-wide", facts: none(2, 0),
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: sampling every CPU", errHas: "use -p PID or a command, with a :u event"},
		{name: "paranoid 2 system-wide, kernel event", facts: none(2, 0), opts: sampler.Options{Events: []sampler.Event{kernelEvent}},
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: sampling every CPU", errHas: "use -p PID or a command, with a :u event"},
		{name: "paranoid 2 system-wide user only", facts: none(2, 0), opts: sampler.Options{Events: user},
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: sampling every CPU", errHas: "use -p PID or a command"},
		{name: "paranoid 2 -p", facts: none(2, 0), opts: sampler.Options{PIDs: process},
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: only your own processes' user space"},
		// Without kernel frames, hidden kernel addresses do not matter,
		// and a :u session of processes is what the privileges allow.
		{name: "paranoid 2 -p user only", facts: none(2, 0), opts: sampler.Options{PIDs: process, Events: user},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 1 -p user only", facts: none(1, 1), opts: sampler.Options{PIDs: process, Events: user},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 3 -p user only", facts: none(3, 0), opts: sampler.Options{PIDs: process, Events: user},
			err: "kernel.perf_event_paranoid is 3 and CAP_PERFMON is missing: this kernel lets no one else use perf events"},
		{name: "paranoid 3 system-wide", facts: none(3, 0),
			err: "kernel.perf_event_paranoid is 3 and CAP_PERFMON is missing: this kernel lets no one else use perf events"},
		{name: "paranoid 1 -p", facts: none(1, 1), opts: sampler.Options{PIDs: process},
			warnings: []string{"not every CPU", "CAP_SYS_ADMIN is missing", "kptr_restrict is 1 and CAP_SYSLOG is missing"},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 1 -p kptr_restrict 0", facts: none(1, 0), opts: sampler.Options{PIDs: process},
			warnings: []string{"not every CPU", "CAP_SYS_ADMIN is missing"}, bpfInfo: true},
		{name: "paranoid 1 system-wide", facts: none(1, 0), err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid 1 cgroup", facts: none(1, 0), opts: sampler.Options{Cgroup: "/sys/fs/cgroup"}, err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid 1 CPUs", facts: none(1, 0), opts: sampler.Options{CPUs: []int{0}}, err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid -1 kptr_restrict 2", facts: none(-1, 2),
			warnings: []string{"CAP_SYS_ADMIN is missing", "kernel.kptr_restrict is 2"}, kallsyms: true, bpfInfo: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := checkPrivileges(tc.facts, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) || !errors.Is(err, sampler.ErrPermission) {
					t.Fatalf("error %v, want one starting %q that wraps ErrPermission", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q, want it to say %q", err, tc.errHas)
				}
				if tc.errHas != "" && strings.Contains(err.Error(), "(:u events)") {
					t.Errorf("error %q offers :u events as the way out", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error of more than one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d: %q", r.Warnings, len(tc.warnings), tc.warnings)
			}
			for i, w := range r.Warnings {
				if !strings.Contains(w, tc.warnings[i]) || strings.Contains(w, "\n") {
					t.Errorf("warning %d %q, want one line with %q", i, w, tc.warnings[i])
				}
				// The advice of an older check, wrong where kptr_restrict
				// is 0 already.
				if tc.facts.KptrRestrict == 0 && strings.Contains(w, "kptr_restrict=0") {
					t.Errorf("warning %q advises kptr_restrict=0, which it is", w)
				}
			}
			if r.Kallsyms != tc.kallsyms || r.BPFInfo != tc.bpfInfo {
				t.Errorf("covers kallsyms %v, BPF info %v; want %v, %v", r.Kallsyms, r.BPFInfo, tc.kallsyms, tc.bpfInfo)
			}
		})
	}
}
