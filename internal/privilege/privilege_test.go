package privilege

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// status is a /proc/PID/status with capEff as its CapEff.
func status(capEff string) string {
	return "Name:\tbpfprof\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\nCapPrm:\t" + capEff +
		"\nCapEff:\t" + capEff + "\nCapBnd:\t000001ffffffffff\n"
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name                   string
		paranoid, kptr, status string
		want                   Facts
		has, lacks             []int
	}{
		{name: "root", paranoid: "2\n", kptr: "0\n", status: status("000001ffffffffff"),
			want: Facts{PerfEventParanoid: 2, Effective: 0x1ffffffffff},
			has:  []int{unix.CAP_SYS_ADMIN, unix.CAP_SYSLOG, unix.CAP_PERFMON, unix.CAP_BPF}},
		{name: "none", paranoid: "-1", kptr: "2", status: status("0000000000000000"),
			want:  Facts{PerfEventParanoid: -1, KptrRestrict: 2},
			lacks: []int{unix.CAP_SYS_ADMIN, unix.CAP_SYSLOG, unix.CAP_PERFMON, unix.CAP_BPF}},
		{name: "CAP_PERFMON and CAP_BPF", paranoid: " 3 \n", kptr: "1\n", status: status("000000c000000000"),
			want: Facts{PerfEventParanoid: 3, KptrRestrict: 1, Effective: Caps(unix.CAP_PERFMON, unix.CAP_BPF)},
			has:  []int{unix.CAP_PERFMON, unix.CAP_BPF}, lacks: []int{unix.CAP_SYS_ADMIN, unix.CAP_SYSLOG}},
		{name: "CAP_SYSLOG", paranoid: "1", kptr: "1", status: status("0000000400000000"),
			want: Facts{PerfEventParanoid: 1, KptrRestrict: 1, Effective: Caps(unix.CAP_SYSLOG)},
			has:  []int{unix.CAP_SYSLOG}, lacks: []int{unix.CAP_SYS_ADMIN, unix.CAP_PERFMON, unix.CAP_BPF}},
		// CapPrm and CapInh are not the effective set.
		{name: "permitted only", paranoid: "2", kptr: "0",
			status: "CapInh:\t000001ffffffffff\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000200000\n",
			want:   Facts{PerfEventParanoid: 2, Effective: Caps(unix.CAP_SYS_ADMIN)},
			has:    []int{unix.CAP_SYS_ADMIN}, lacks: []int{unix.CAP_SYSLOG, unix.CAP_PERFMON, unix.CAP_BPF}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(c.paranoid), strings.NewReader(c.kptr), strings.NewReader(c.status))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			for _, cap := range c.has {
				if !got.Effective.Has(cap) {
					t.Errorf("%x lacks capability %d", got.Effective, cap)
				}
			}
			for _, cap := range c.lacks {
				if got.Effective.Has(cap) {
					t.Errorf("%x has capability %d", got.Effective, cap)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	ok := status("0")
	for _, c := range [][3]string{
		{"x", "0", ok}, {"2", "", ok}, {"", "0", ok}, {"2", "0.5", ok},
		{"2", "0", "Name:\tx\n"}, {"2", "0", "CapEff:\tzz\n"}, {"2", "0", "CapEff:\t10000000000000000\n"},
	} {
		if f, err := Parse(strings.NewReader(c[0]), strings.NewReader(c[1]), strings.NewReader(c[2])); err == nil || f != (Facts{}) {
			t.Errorf("Parse(%q) = %+v, %v; want an error", c, f, err)
		}
	}
}

func TestCapSet(t *testing.T) {
	s := Caps(unix.CAP_SYSLOG, unix.CAP_BPF)
	if s != 1<<34|1<<39 {
		t.Errorf("Caps(CAP_SYSLOG, CAP_BPF) = %x", s)
	}
	for c, want := range map[int]bool{unix.CAP_SYSLOG: true, unix.CAP_BPF: true, unix.CAP_PERFMON: false, -1: false, 64: false, 100: false} {
		if s.Has(c) != want {
			t.Errorf("%x.Has(%d) = %v", s, c, !want)
		}
	}
}

// TestRead checks what is read from this machine against the files
// themselves and the process's effective uid.
func TestRead(t *testing.T) {
	f, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string]int{paranoidPath: f.PerfEventParanoid, kptrPath: f.KptrRestrict} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if want, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || got != want {
			t.Errorf("%s holds %q, read as %d", file, b, got)
		}
	}
	var hdr unix.CapUserHeader
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	if want := CapSet(data[0].Effective) | CapSet(data[1].Effective)<<32; f.Effective != want {
		t.Errorf("effective capabilities %x, capget says %x", f.Effective, want)
	}
}

// FuzzParse parses arbitrary sysctl and status files: an error comes with
// the zero Facts, and what parsed survives being written back as the kernel
// would and parsed again.
func FuzzParse(f *testing.F) {
	f.Add([]byte("2\n"), []byte("0\n"), []byte("Name:\tbash\nCapEff:\t000001ffffffffff\n"))
	f.Add([]byte("-1"), []byte("2"), []byte("CapEff:\t0000000000000000\nCapEff:\t00000000a80425fb\n"))
	f.Add([]byte("4"), []byte("1"), []byte("CapEff: zz\n"))
	f.Fuzz(func(t *testing.T, paranoid, kptr, status []byte) {
		p, err := Parse(bytes.NewReader(paranoid), bytes.NewReader(kptr), bytes.NewReader(status))
		if err != nil {
			if p != (Facts{}) {
				t.Fatalf("facts %+v with error %v", p, err)
			}
			return
		}
		back, err := Parse(strings.NewReader(strconv.Itoa(p.PerfEventParanoid)+"\n"), strings.NewReader(strconv.Itoa(p.KptrRestrict)+"\n"),
			strings.NewReader(fmt.Sprintf("CapEff:\t%016x\n", uint64(p.Effective))))
		if err != nil || back != p {
			t.Fatalf("%+v written back parses as %+v, %v", p, back, err)
		}
	})
}
