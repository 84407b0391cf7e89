package sampler

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func status(capEff string) string {
	return "Name:\tbpfprof\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\nCapPrm:\t" + capEff +
		"\nCapEff:\t" + capEff + "\nCapBnd:\t000001ffffffffff\n"
}

func TestParsePrivileges(t *testing.T) {
	const (
		root     = "000001ffffffffff"
		none     = "0000000000000000"
		perfmBPF = "000000c000000000" // CAP_PERFMON and CAP_BPF
		syslog   = "0000000400000000" // CAP_SYSLOG
	)
	type can struct{ systemWide, kernel, bpf, list, kallsyms bool }
	for _, c := range []struct {
		name                   string
		paranoid, kptr, capEff string
		can                    can
		problems               []string
	}{
		{name: "root", paranoid: "2\n", kptr: "0\n", capEff: root, can: can{true, true, true, true, true}},
		{name: "CAP_PERFMON and CAP_BPF only", paranoid: "2\n", kptr: "1\n", capEff: perfmBPF,
			can:      can{systemWide: true, kernel: true, bpf: true},
			problems: []string{"CAP_SYS_ADMIN is missing (CAP_BPF is not enough)", "kptr_restrict is 1 and CAP_SYSLOG is missing"}},
		// kptr_restrict 0 shows addresses to everyone only at paranoid <= 1.
		{name: "unprivileged, paranoid 2", paranoid: "2\n", kptr: "0\n", capEff: none,
			problems: []string{"perf_event_paranoid is 2 and CAP_PERFMON is missing", "(:u events)", "CAP_SYS_ADMIN is missing",
				"perf_event_paranoid is 2 and CAP_SYSLOG is missing", "kernel.perf_event_paranoid=1"}},
		{name: "unprivileged, paranoid 1", paranoid: "1", kptr: "0", capEff: none, can: can{kernel: true, kallsyms: true},
			problems: []string{"not every CPU (-a, -C, --cgroup)", "perf_event_paranoid=0", "CAP_SYS_ADMIN is missing"}},
		{name: "unprivileged, paranoid 1, kptr_restrict 1", paranoid: "1", kptr: "1", capEff: none, can: can{kernel: true},
			problems: []string{"not every CPU", "kptr_restrict is 1 and CAP_SYSLOG is missing"}},
		{name: "unprivileged, paranoid -1", paranoid: "-1\n", kptr: "2\n", capEff: none, can: can{systemWide: true, kernel: true},
			problems: []string{"CAP_SYS_ADMIN is missing", "kptr_restrict is 2", "even for root"}},
		{name: "unprivileged, paranoid 3", paranoid: "3", kptr: "0", capEff: none,
			problems: []string{"perf_event_paranoid is 3 and CAP_PERFMON is missing: this kernel lets no one else use perf events"}},
		{name: "CAP_SYSLOG, kptr_restrict 1", paranoid: "2", kptr: "1", capEff: syslog, can: can{kallsyms: true},
			problems: []string{"perf_event_paranoid is 2", "CAP_SYS_ADMIN is missing"}},
		{name: "CAP_SYSLOG, kptr_restrict 2", paranoid: "2", kptr: "2", capEff: syslog,
			problems: []string{"kptr_restrict is 2"}},
		{name: "root, kptr_restrict 2", paranoid: "2", kptr: "2", capEff: root, can: can{true, true, true, true, false},
			problems: []string{"kptr_restrict is 2: /proc/kallsyms and BPF program info hide kernel addresses"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePrivileges(strings.NewReader(c.paranoid), strings.NewReader(c.kptr), strings.NewReader(status(c.capEff)))
			if err != nil {
				t.Fatal(err)
			}
			got := can{p.CanSampleSystemWide(), p.CanSampleKernel(), p.CanLoadBPF(), p.CanListBPF(), p.KernelAddressesVisible()}
			if got != c.can {
				t.Errorf("%+v: can %+v, want %+v", p, got, c.can)
			}
			problems := p.Problems()
			for _, line := range problems {
				if strings.Contains(line, "\n") {
					t.Errorf("problem %q is more than one line", line)
				}
			}
			all := strings.Join(problems, "\n")
			for _, want := range c.problems {
				if !strings.Contains(all, want) {
					t.Errorf("problems %q lack %q", all, want)
				}
			}
			if len(c.problems) == 0 && all != "" {
				t.Errorf("unexpected problems %q", all)
			}
			if err := p.Err(); (err == nil) != c.can.systemWide || (err != nil && !errors.Is(err, ErrPermission)) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestParsePrivilegesErrors(t *testing.T) {
	ok := status("0")
	for _, c := range [][3]string{{"x", "0", ok}, {"2", "", ok}, {"2", "0", "Name:\tx\n"}, {"2", "0", "CapEff:\tzz\n"}} {
		if _, err := ParsePrivileges(strings.NewReader(c[0]), strings.NewReader(c[1]), strings.NewReader(c[2])); err == nil {
			t.Errorf("ParsePrivileges(%q): no error", c)
		}
	}
}

// TestCheckPrivileges checks what is read from this machine against the
// files themselves and the process's effective uid.
func TestCheckPrivileges(t *testing.T) {
	p, err := CheckPrivileges()
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string]int{
		"/proc/sys/kernel/perf_event_paranoid": p.Paranoid,
		"/proc/sys/kernel/kptr_restrict":       p.KptrRestrict,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if want, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || got != want {
			t.Errorf("%s holds %q, read as %d", file, b, got)
		}
	}
	// Root in the initial user namespace holds every capability; the
	// checks of a process must say so.
	if os.Geteuid() == 0 && (!p.CapSysAdmin || !p.CanListBPF() || !p.CanSampleSystemWide()) {
		t.Errorf("root without its capabilities: %+v", p)
	}
	if (p.Err() == nil) != p.CanSampleSystemWide() {
		t.Errorf("Err %v, but CanSampleSystemWide %v", p.Err(), p.CanSampleSystemWide())
	}
}
