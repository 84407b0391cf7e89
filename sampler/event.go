package sampler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/perfabi"
)

// Event is a parsed event spec: which counter to sample, and in which
// privilege levels. The zero Event is not valid; get one from ParseEvent or
// DefaultEvent.
type Event struct {
	name   string // perf's canonical name, without modifiers
	typ    uint32 // PERF_TYPE_*
	config uint64
	// Modifiers: onlyUser is :u, onlyKernel is :k.
	onlyUser, onlyKernel bool
}

type namedEvent struct {
	name    string
	aliases []string
	typ     uint32
	config  uint64
}

// events lists the events ParseEvent knows, in the order error messages
// show them.
var events = []namedEvent{
	{"cpu-clock", nil, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK},
	{"task-clock", nil, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK},
	{"page-faults", []string{"faults"}, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_PAGE_FAULTS},
	{"context-switches", []string{"cs"}, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CONTEXT_SWITCHES},
	{"cpu-migrations", []string{"migrations"}, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_MIGRATIONS},
	{"minor-faults", nil, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_PAGE_FAULTS_MIN},
	{"major-faults", nil, unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ},
	{"cycles", []string{"cpu-cycles"}, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CPU_CYCLES},
	{"instructions", nil, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_INSTRUCTIONS},
	{"cache-references", nil, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CACHE_REFERENCES},
	{"cache-misses", nil, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CACHE_MISSES},
	{"branch-instructions", []string{"branches"}, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
	{"branch-misses", nil, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_BRANCH_MISSES},
	{"ref-cycles", nil, unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_REF_CPU_CYCLES},
}

func validEvents() string {
	names := make([]string, 0, len(events)+1)
	for _, e := range events {
		names = append(names, e.name)
	}
	names = append(names, "rNNNN (raw, hex)")
	return strings.Join(names, ", ")
}

// ParseEvent parses an event spec as perf's -e takes it: a name (cpu-clock,
// task-clock, page-faults, context-switches, cpu-migrations, minor-faults,
// major-faults, cycles, instructions, cache-references, cache-misses,
// branch-instructions, branch-misses, ref-cycles, or perf's aliases of
// them) or a raw PMU event rNNNN in hex, followed by an optional modifier
// :u (user space only), :k (kernel only) or :uk. An unknown name is an
// error wrapping ErrNotFound that lists the valid names.
//
// Parsing does not ask the kernel; Open reports an event the machine lacks.
func ParseEvent(spec string) (Event, error) {
	name, mods, hasMods := strings.Cut(strings.TrimSpace(spec), ":")
	var e Event
	found := false
	for _, known := range events {
		if name == known.name || slices.Contains(known.aliases, name) {
			e = Event{name: known.name, typ: known.typ, config: known.config}
			found = true
			break
		}
	}
	if !found && len(name) > 1 && name[0] == 'r' {
		hex := strings.ToLower(strings.TrimPrefix(name[1:], "0x"))
		cfg, err := strconv.ParseUint(hex, 16, 64)
		if err == nil {
			// As given, leading zeros kept (r0c0, as perf prints it).
			e = Event{name: "r" + hex, typ: unix.PERF_TYPE_RAW, config: cfg}
			found = true
		}
	}
	if !found {
		return Event{}, fmt.Errorf("event %q: %w; valid events: %s", spec, errs.ErrNotFound, validEvents())
	}
	if hasMods {
		var u, k bool
		for _, m := range mods {
			switch m {
			case 'u':
				u = true
			case 'k':
				k = true
			default:
				return Event{}, fmt.Errorf("event %q: unknown modifier %q; valid modifiers: u, k", spec, m)
			}
		}
		if mods == "" {
			return Event{}, fmt.Errorf("event %q: empty modifier; valid modifiers: u, k", spec)
		}
		// :uk counts both levels, as no modifier does.
		e.onlyUser, e.onlyKernel = u && !k, k && !u
	}
	return e, nil
}

// String returns the event's name as perf prints it, with its modifier.
func (e Event) String() string {
	switch {
	case e.name == "":
		return "<invalid event>"
	case e.onlyUser:
		return e.name + ":u"
	case e.onlyKernel:
		return e.name + ":k"
	}
	return e.name
}

// IsClock reports whether the event is cpu-clock or task-clock, whose
// period (and so Sample.Period) is in nanoseconds.
func (e Event) IsClock() bool {
	return e.typ == unix.PERF_TYPE_SOFTWARE &&
		(e.config == unix.PERF_COUNT_SW_CPU_CLOCK || e.config == unix.PERF_COUNT_SW_TASK_CLOCK)
}

// IsHardware reports whether the event needs a hardware PMU.
func (e Event) IsHardware() bool {
	return e.typ == unix.PERF_TYPE_HARDWARE || e.typ == unix.PERF_TYPE_RAW
}

// ExcludesKernel reports whether the event leaves kernel code out (:u),
// which lowers the privilege it needs: it samples no kernel or BPF frames.
func (e Event) ExcludesKernel() bool { return e.onlyUser }

// attr returns the event's perf_event_attr without sampling settings.
func (e Event) attr() unix.PerfEventAttr {
	a := unix.PerfEventAttr{Type: e.typ, Config: e.config}
	if e.onlyUser {
		a.Bits |= unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
	}
	if e.onlyKernel {
		a.Bits |= unix.PerfBitExcludeUser | unix.PerfBitExcludeHv
	}
	return a
}

var (
	cpuClock = Event{name: "cpu-clock", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_CLOCK}
	cycles   = Event{name: "cycles", typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES}
)

// DefaultEvent returns cycles where the machine has a hardware PMU that can
// sample, else cpu-clock, as perf chooses. The first call asks the kernel
// (by opening a sampling cycles counter on the calling thread, user space
// only, which needs no privilege); later calls return the same answer.
func DefaultEvent() Event { return defaultEventFor(hasPMU()) }

// defaultEventFor is the default event of a machine with a PMU or without.
func defaultEventFor(pmu bool) Event {
	if pmu {
		return cycles
	}
	return cpuClock
}

var hasPMU = sync.OnceValue(func() bool {
	attr := cycles.attr()
	attr.Bits |= unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv | unix.PerfBitFreq
	attr.Sample = 1000
	fd, err := perfabi.Open(&attr, 0, -1, -1, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// EventNames returns the names ParseEvent knows, without modifiers, in the
// order its errors list them (for shell completion).
func EventNames() []string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.name
	}
	return names
}
