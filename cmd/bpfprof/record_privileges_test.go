package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/sampler"
)

func TestCheckPrivileges(t *testing.T) {
	root := sampler.Privileges{Paranoid: 2, CapSysAdmin: true, CapPerfmon: true, CapBPF: true, CapSyslog: true}
	// CAP_PERFMON, CAP_BPF and CAP_SYS_ADMIN but not CAP_SYSLOG: at
	// perf_event_paranoid 2, kptr_restrict 0 does not show addresses.
	noSyslog := sampler.Privileges{Paranoid: 2, CapSysAdmin: true, CapPerfmon: true, CapBPF: true}
	none := func(paranoid, kptr int) sampler.Privileges {
		return sampler.Privileges{Paranoid: paranoid, KptrRestrict: kptr}
	}
	for _, tc := range []struct {
		name  string
		privs sampler.Privileges
		args  []string
		// err is the start of the error; warnings one substring per
		// warning, in order.
		err               string
		errHas            string
		warnings          []string
		kallsyms, bpfInfo bool
	}{
		{name: "root", privs: root},
		{name: "root -p", privs: root, args: []string{"-p", "1"}},
		{name: "no CAP_SYSLOG at paranoid 2", privs: noSyslog,
			warnings: []string{"kernel.perf_event_paranoid is 2 and CAP_SYSLOG is missing"}, kallsyms: true},
		{name: "paranoid 2 system-wide", privs: none(2, 0),
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: sampling every CPU", errHas: "use -p PID or a command, with a :u event"},
		{name: "paranoid 2 system-wide user only", privs: none(2, 0), args: []string{"-e", "cpu-clock:u"},
			err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing: sampling every CPU", errHas: "use -p PID or a command"},
		{name: "paranoid 2 -p", privs: none(2, 0), args: []string{"-p", "1"}, err: "kernel.perf_event_paranoid is 2 and CAP_PERFMON is missing"},
		// Without kernel frames, hidden kernel addresses do not matter,
		// and a :u recording of processes is what the privileges allow.
		{name: "paranoid 2 -p user only", privs: none(2, 0), args: []string{"-p", "1", "-e", "cpu-clock:u"},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 1 command user only", privs: none(1, 1), args: []string{"-e", "cpu-clock:u", "--", "true"},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 3 -p user only", privs: none(3, 0), args: []string{"-p", "1", "-e", "cpu-clock:u"},
			err: "kernel.perf_event_paranoid is 3 and CAP_PERFMON is missing: this kernel lets no one else use perf events"},
		{name: "paranoid 1 -p", privs: none(1, 1), args: []string{"-p", "1"},
			warnings: []string{"not every CPU", "CAP_SYS_ADMIN is missing", "kptr_restrict is 1 and CAP_SYSLOG is missing"},
			kallsyms: true, bpfInfo: true},
		{name: "paranoid 1 command", privs: none(1, 0), args: []string{"--", "true"},
			warnings: []string{"not every CPU", "CAP_SYS_ADMIN is missing"}, bpfInfo: true},
		{name: "paranoid 1 system-wide command", privs: none(1, 0), args: []string{"-a", "--", "true"}, err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid 1 cgroup", privs: none(1, 0), args: []string{"--cgroup", "/sys/fs/cgroup"}, err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid 1 CPUs", privs: none(1, 0), args: []string{"-C", "0"}, err: "kernel.perf_event_paranoid is 1"},
		{name: "paranoid -1 kptr_restrict 2", privs: none(-1, 2),
			warnings: []string{"CAP_SYS_ADMIN is missing", "kernel.kptr_restrict is 2"}, kallsyms: true, bpfInfo: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseRecordArgs(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := checkPrivileges(tc.privs, cfg)
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
			if len(r.warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d: %q", r.warnings, len(tc.warnings), tc.warnings)
			}
			for i, w := range r.warnings {
				if !strings.Contains(w, tc.warnings[i]) || strings.Contains(w, "\n") {
					t.Errorf("warning %d %q, want one line with %q", i, w, tc.warnings[i])
				}
				// The advice of the old check, wrong where kptr_restrict
				// is 0 already.
				if tc.privs.KptrRestrict == 0 && strings.Contains(w, "kptr_restrict=0") {
					t.Errorf("warning %q advises kptr_restrict=0, which it is", w)
				}
			}
			if r.kallsyms != tc.kallsyms || r.bpfInfo != tc.bpfInfo {
				t.Errorf("covers kallsyms %v, BPF info %v; want %v, %v", r.kallsyms, r.bpfInfo, tc.kallsyms, tc.bpfInfo)
			}
		})
	}
}
