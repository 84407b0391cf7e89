package sampler

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseEvent(t *testing.T) {
	for _, c := range []struct {
		spec, str  string
		typ        uint32
		config     uint64
		clock, hw  bool
		user, kern bool
	}{
		{spec: "cpu-clock", str: "cpu-clock", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_CLOCK, clock: true},
		{spec: "task-clock:u", str: "task-clock:u", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK, clock: true, user: true},
		{spec: "page-faults", str: "page-faults", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS},
		{spec: "faults", str: "page-faults", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS},
		{spec: "context-switches", str: "context-switches", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES},
		{spec: "cs:k", str: "context-switches:k", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES, kern: true},
		{spec: "cpu-migrations", str: "cpu-migrations", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_MIGRATIONS},
		{spec: "minor-faults", str: "minor-faults", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS_MIN},
		{spec: "major-faults", str: "major-faults", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ},
		{spec: "cycles", str: "cycles", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, hw: true},
		{spec: "cpu-cycles:uk", str: "cycles", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, hw: true},
		{spec: "instructions:u", str: "instructions:u", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_INSTRUCTIONS, hw: true, user: true},
		{spec: "cache-references", str: "cache-references", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CACHE_REFERENCES, hw: true},
		{spec: "cache-misses", str: "cache-misses", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CACHE_MISSES, hw: true},
		{spec: "branch-instructions", str: "branch-instructions", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, hw: true},
		{spec: "branches", str: "branch-instructions", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, hw: true},
		{spec: "branch-misses", str: "branch-misses", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_MISSES, hw: true},
		{spec: "ref-cycles", str: "ref-cycles", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_REF_CPU_CYCLES, hw: true},
		{spec: "r1A2", str: "r1a2", typ: unix.PERF_TYPE_RAW, config: 0x1a2, hw: true},
		{spec: "r0x3c:k", str: "r3c:k", typ: unix.PERF_TYPE_RAW, config: 0x3c, hw: true, kern: true},
		{spec: "r0c0", str: "r0c0", typ: unix.PERF_TYPE_RAW, config: 0xc0, hw: true},
	} {
		e, err := ParseEvent(c.spec)
		if err != nil {
			t.Errorf("ParseEvent(%q): %v", c.spec, err)
			continue
		}
		if e.String() != c.str || e.typ != c.typ || e.config != c.config || e.IsClock() != c.clock ||
			e.IsHardware() != c.hw || e.onlyUser != c.user || e.onlyKernel != c.kern {
			t.Errorf("ParseEvent(%q) = %+v (%s)", c.spec, e, e)
		}
		a := e.attr()
		if got := a.Bits&unix.PerfBitExcludeKernel != 0; got != c.user {
			t.Errorf("%s: exclude_kernel %v", c.spec, got)
		}
		if got := a.Bits&unix.PerfBitExcludeUser != 0; got != c.kern {
			t.Errorf("%s: exclude_user %v", c.spec, got)
		}
	}
}

func TestParseEventErrors(t *testing.T) {
	for _, spec := range []string{"", "foo", "cpu_clock", "r", "rxyz", "cycles:p", "cycles:", "r1:uz"} {
		_, err := ParseEvent(spec)
		if err == nil {
			t.Errorf("ParseEvent(%q): no error", spec)
		}
	}
	_, err := ParseEvent("foo")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown event: %v does not wrap ErrNotFound", err)
	}
	for _, name := range []string{"cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
		"major-faults", "cycles", "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses",
		"ref-cycles", "rNNNN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("unknown event error %q does not list %s", err, name)
		}
	}
}

func TestDefaultEvent(t *testing.T) {
	if e := defaultEventFor(true); e.String() != "cycles" || !e.IsHardware() {
		t.Errorf("with a PMU: %s, want cycles", e)
	}
	if e := defaultEventFor(false); e.String() != "cpu-clock" || !e.IsClock() || e.IsHardware() {
		t.Errorf("without a PMU: %s, want cpu-clock", e)
	}
}

// TestOptionsCheck checks the options before anything is opened.
func TestOptionsCheck(t *testing.T) {
	clock, err := ParseEvent("cpu-clock")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts Options
		want string // in the error; "" for none
	}{
		{Options{Events: []Event{clock}}, ""},
		{Options{Events: []Event{clock}, Period: 1000, PIDs: []int{1}, EnableOnExec: true, RingPages: 8}, ""},
		{Options{Events: []Event{{}}}, "zero Event"},
		{Options{Events: []Event{clock}, Frequency: 99, Period: 1000}, "Frequency or Period"},
		{Options{Events: []Event{clock}, PIDs: []int{1}, Cgroup: "/sys/fs/cgroup"}, "PIDs or Cgroup"},
		{Options{Events: []Event{clock}, EnableOnExec: true}, "EnableOnExec needs PIDs"},
		{Options{Events: []Event{clock}, RingPages: 3}, "not a power of two"},
		{Options{Events: []Event{clock}, RingPages: -4}, "not a power of two"},
	} {
		err := c.opts.check()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]string{
		"0": "[0]", "0-3\n": "[0 1 2 3]", "0-1,4,6-7": "[0 1 4 6 7]", "": "[]",
		// Sorted, each CPU once: -C 1,1 must not open CPU 1 twice.
		"1,1": "[1]", "3,1-2,2": "[1 2 3]", "0-3,2-5": "[0 1 2 3 4 5]",
	} {
		got, err := ParseCPUList(in)
		if err != nil {
			t.Errorf("ParseCPUList(%q): %v", in, err)
			continue
		}
		if fmt.Sprint(got) != want {
			t.Errorf("ParseCPUList(%q) = %v, want %s", in, got, want)
		}
	}
	for _, in := range []string{"a", "1-", "3-1", "-1", "0,,1", strings.Repeat("0-40000,", 2) + "0"} {
		if _, err := ParseCPUList(in); err == nil {
			t.Errorf("ParseCPUList(%q): no error", in)
		}
	}
}

func TestOpenError(t *testing.T) {
	opts := &Options{}
	err := openError(cycles, 3, opts, unix.ENOENT)
	if want := "cycles: not supported on this machine (no hardware PMU?); try -e cpu-clock"; err.Error() != want || !errors.Is(err, ErrNotSupported) {
		t.Errorf("cycles ENOENT: %v", err)
	}
	ev, _ := ParseEvent("instructions:u")
	if err := openError(ev, 0, opts, unix.EOPNOTSUPP); !strings.HasPrefix(err.Error(), "instructions:u: not supported on this machine") {
		t.Errorf("instructions:u EOPNOTSUPP: %v", err)
	}
	err = openError(cpuClock, 3, opts, unix.ENOENT)
	if !errors.Is(err, ErrNotSupported) || strings.Contains(err.Error(), "PMU") || !strings.Contains(err.Error(), "cpu 3") {
		t.Errorf("cpu-clock ENOENT: %v", err)
	}
	for _, errno := range []error{unix.EACCES, unix.EPERM} {
		err = openError(cpuClock, 1, opts, errno)
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "CAP_PERFMON") || !strings.Contains(err.Error(), "perf_event_paranoid") {
			t.Errorf("%v: %v", errno, err)
		}
	}
	if err := openError(cpuClock, 0, opts, unix.EMFILE); !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "open cpu-clock on cpu 0") {
		t.Errorf("EMFILE: %v", err)
	}
}

func TestDefaultFrequency(t *testing.T) {
	for _, tc := range []struct {
		max   int64
		known bool
		want  uint64
		warn  bool
	}{
		{100000, true, DefaultFrequency, false},
		{DefaultFrequency, true, DefaultFrequency, false},
		{1000, true, 1000, true},
		{0, false, DefaultFrequency, false},
		{0, true, DefaultFrequency, false},
	} {
		got, w := defaultFrequency(tc.max, tc.known)
		if got != tc.want || (w != "") != tc.warn {
			t.Errorf("defaultFrequency(%d, %v) = %d %q, want %d, warning %v", tc.max, tc.known, got, w, tc.want, tc.warn)
		}
		if tc.warn && !strings.Contains(w, "from 4000 to 1000 Hz") {
			t.Errorf("warning %q does not say what changed", w)
		}
	}
}
