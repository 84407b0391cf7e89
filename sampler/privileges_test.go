package sampler

import (
	"errors"
	"strings"
	"testing"
)

func status(capEff string) string {
	return "Name:\tbpfprof\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\nCapPrm:\t" + capEff +
		"\nCapEff:\t" + capEff + "\nCapBnd:\t000001ffffffffff\n"
}

func TestParsePrivileges(t *testing.T) {
	for _, c := range []struct {
		name                      string
		paranoid, kptr, capEff    string
		systemWide, bpf, kallsyms bool
		problems                  []string
	}{
		{name: "root", paranoid: "2\n", kptr: "0\n", capEff: "000001ffffffffff", systemWide: true, bpf: true, kallsyms: true},
		{name: "CAP_PERFMON and CAP_BPF only", paranoid: "2\n", kptr: "1\n", capEff: "000000c000000000",
			systemWide: true, bpf: true, problems: []string{"kptr_restrict is 1"}},
		{name: "unprivileged, paranoid 2", paranoid: "2\n", kptr: "0\n", capEff: "0000000000000000", kallsyms: true,
			problems: []string{"perf_event_paranoid is 2", "CAP_BPF is missing", "can't see kernel or BPF frames"}},
		{name: "unprivileged, paranoid -1", paranoid: "-1\n", kptr: "2\n", capEff: "0000000000000000", systemWide: true,
			problems: []string{"CAP_BPF is missing", "kptr_restrict is 2", "BPF frames can't be named"}},
		{name: "root, kptr_restrict 2", paranoid: "2", kptr: "2", capEff: "000001ffffffffff", systemWide: true, bpf: true,
			problems: []string{"kptr_restrict is 2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePrivileges(strings.NewReader(c.paranoid), strings.NewReader(c.kptr), strings.NewReader(status(c.capEff)))
			if err != nil {
				t.Fatal(err)
			}
			if p.CanSampleSystemWide() != c.systemWide || p.CanLoadBPF() != c.bpf || p.KernelAddressesVisible() != c.kallsyms {
				t.Errorf("%+v: system-wide %v, bpf %v, kallsyms %v", p, p.CanSampleSystemWide(), p.CanLoadBPF(), p.KernelAddressesVisible())
			}
			all := strings.Join(p.Problems(), "\n")
			for _, want := range c.problems {
				if !strings.Contains(all, want) {
					t.Errorf("problems %q lack %q", all, want)
				}
			}
			if len(c.problems) == 0 && all != "" {
				t.Errorf("unexpected problems %q", all)
			}
			if err := p.Err(); (err == nil) != c.systemWide || (err != nil && !errors.Is(err, ErrPermission)) {
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

func TestCheckPrivileges(t *testing.T) {
	p, err := CheckPrivileges()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v; problems: %q", p, p.Problems())
}
