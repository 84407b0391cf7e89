package stat

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

// counterObject is stat/bpf/counter.bpf.o, built from counter.bpf.c by 'make
// generate'.
//
//go:embed bpf/counter.bpf.o
var counterObject []byte

// Limits of counter.bpf.c.
const (
	// MaxExactEvents is the number of events one exact counter reads.
	MaxExactEvents = 4
	// HistBuckets is the number of log2 buckets of the latency histogram.
	HistBuckets = 64
)

// Reading is one event's count over some runs of a program, with the time
// the counter was enabled and running while they ran (they differ when the
// kernel multiplexes hardware counters).
type Reading struct {
	Counter, Enabled, Running uint64
}

// ExactCounts are the cumulative counts of one program's exact counters.
type ExactCounts struct {
	// Runs is the number of runs fexit saw.
	Runs uint64
	// Failed counts readings bpf_perf_event_read_value refused.
	Failed uint64
	// Events holds one Reading per event, in the order of OpenFentry.
	Events []Reading
	// Hist counts runs by floor(log2(duration in ns)); nil without latency.
	Hist []uint64
}

// Fentry counts events exactly per program: fentry and fexit programs on
// each target read per-CPU perf counters at the target's entry and exit (as
// bpftool prog profile and perf stat -b do). It needs fentry on BPF
// programs (Linux 5.5 with BTF, CAP_BPF and CAP_PERFMON); the kernel of a
// machine may refuse it, which Attach reports per program.
type Fentry struct {
	spec    *ebpf.CollectionSpec
	events  []sampler.Event
	latency bool
	arrays  []*ebpf.Map // per event slot: the perf counter of each CPU
	fds     []int

	mu      sync.Mutex
	targets map[bpfprog.ID]*exactTarget
}

type exactTarget struct {
	coll  *ebpf.Collection
	links []link.Link
	ids   []bpfprog.ID // of the counter programs themselves
}

// OpenFentry opens a counting perf event per CPU for each event (at most
// MaxExactEvents) and the BPF array the counter programs read them from.
// latency adds the per-run duration histogram. Close it when done.
func OpenFentry(events []sampler.Event, latency bool) (_ *Fentry, err error) {
	if len(events) > MaxExactEvents {
		return nil, fmt.Errorf("exact counting reads at most %d events at once, not %d", MaxExactEvents, len(events))
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(counterObject))
	if err != nil {
		return nil, fmt.Errorf("load the counter object: %w", err)
	}
	e := &Fentry{spec: spec, events: events, latency: latency, targets: map[bpfprog.ID]*exactTarget{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	online, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	// Every slot of counter.bpf.c gets an array, unused ones empty, so
	// that each copy of the object shares them rather than making its own.
	for i := range MaxExactEvents {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerfEventArray})
		if err != nil {
			return nil, fmt.Errorf("create a perf event array: %w", classify(err))
		}
		e.arrays = append(e.arrays, m)
		if i >= len(events) {
			continue
		}
		for _, cpu := range online {
			fd, err := sampler.OpenCounter(events[i], cpu)
			if err != nil {
				return nil, err
			}
			e.fds = append(e.fds, fd)
			if err := m.Put(uint32(cpu), uint32(fd)); err != nil {
				return nil, fmt.Errorf("put %s of cpu %d in its perf event array: %w", events[i], cpu, err)
			}
		}
	}
	return e, nil
}

// Attach loads fentry and fexit counter programs on p and attaches them. An
// error says why exact counting of p is unavailable (it matches
// ErrNotSupported where the kernel refuses, ErrPermission where a privilege
// is missing); counting then falls back to sampling.
func (e *Fentry) Attach(p *bpfprog.Program) (err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.targets[p.ID]; ok {
		return nil
	}
	if p.BTFID == 0 {
		return fmt.Errorf("program %d has no BTF, which fentry needs: %w", p.ID, errs.ErrNotSupported)
	}
	target, err := ebpf.NewProgramFromID(ebpf.ProgramID(p.ID))
	if err != nil {
		return fmt.Errorf("open program %d: %w", p.ID, classify(err))
	}
	defer target.Close()
	spec := e.spec.Copy()
	for name, v := range map[string]uint32{"num_events": uint32(len(e.events)), "latency": b2u(e.latency)} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	for _, ps := range spec.Programs {
		ps.AttachTarget = target
		ps.AttachTo = p.FullName
	}
	shared := map[string]*ebpf.Map{}
	for i, m := range e.arrays {
		shared[fmt.Sprintf("events_%d", i)] = m
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: shared})
	if errors.Is(err, unix.EPERM) {
		// cilium/ebpf adds a memlock hint to EPERM, which is not the
		// cause here: kernels that refuse fentry on BPF programs say EPERM.
		return fmt.Errorf("the kernel refuses fentry/fexit on BPF program %d (EPERM): %w", p.ID, errs.ErrNotSupported)
	}
	if err != nil {
		return fmt.Errorf("load fentry/fexit on program %d: %w", p.ID, classify(err))
	}
	t := &exactTarget{coll: coll}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	for _, name := range []string{"bpfprof_stat_entry", "bpfprof_stat_exit"} {
		l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name]})
		if err != nil {
			return fmt.Errorf("attach %s to program %d: %w", name, p.ID, classify(err))
		}
		t.links = append(t.links, l)
		if id, err := bpfprog.IDFromFD(coll.Programs[name].FD()); err == nil {
			t.ids = append(t.ids, id)
		}
	}
	e.targets[p.ID] = t
	return nil
}

// Owns reports whether id is one of the counter programs Fentry loaded:
// counting those would count the counting.
func (e *Fentry) Owns(id bpfprog.ID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.targets {
		if slices.Contains(t.ids, id) {
			return true
		}
	}
	return false
}

// Read returns the cumulative counts of the program with id, summed over
// the CPUs; false if it is not attached.
func (e *Fentry) Read(id bpfprog.ID) (ExactCounts, bool) {
	e.mu.Lock()
	t := e.targets[id]
	e.mu.Unlock()
	if t == nil {
		return ExactCounts{}, false
	}
	var c ExactCounts
	var runs []uint64
	for k := range uint32(3) {
		if err := t.coll.Maps["runs"].Lookup(k, &runs); err != nil {
			return ExactCounts{}, false
		}
		switch k {
		case 0:
			c.Runs = sum(runs)
		case 2:
			c.Failed = sum(runs)
		}
	}
	var vals []Reading
	for i := range e.events {
		if err := t.coll.Maps["totals"].Lookup(uint32(i), &vals); err != nil {
			return ExactCounts{}, false
		}
		var r Reading
		for _, v := range vals {
			r.Counter += v.Counter
			r.Enabled += v.Enabled
			r.Running += v.Running
		}
		c.Events = append(c.Events, r)
	}
	if e.latency {
		var perCPU [][HistBuckets]uint64
		if err := t.coll.Maps["hist"].Lookup(uint32(0), &perCPU); err != nil {
			return ExactCounts{}, false
		}
		c.Hist = make([]uint64, HistBuckets)
		for _, h := range perCPU {
			for b, n := range h {
				c.Hist[b] += n
			}
		}
	}
	return c, true
}

// Detach detaches and unloads the counters of the program with id.
func (e *Fentry) Detach(id bpfprog.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.targets[id]; t != nil {
		t.close()
		delete(e.targets, id)
	}
}

// Close detaches every counter program and closes every perf event.
// Closing again does nothing.
func (e *Fentry) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, t := range e.targets {
		t.close()
		delete(e.targets, id)
	}
	for _, fd := range e.fds {
		unix.Close(fd)
	}
	e.fds = nil
	for _, m := range e.arrays {
		m.Close()
	}
	e.arrays = nil
	return nil
}

func (t *exactTarget) close() {
	for _, l := range t.links {
		l.Close()
	}
	t.links = nil
	t.coll.Close()
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// classify makes a missing privilege or kernel feature match the shared
// sentinels, keeping cilium/ebpf's text.
func classify(err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP):
		return errs.Mark(err, errs.ErrNotSupported)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES) && !errors.As(err, &verr):
		return errs.Mark(err, errs.ErrPermission)
	}
	return err
}

// onlineCPUs lists the machine's online CPUs, not this process's affinity:
// the counter programs run wherever their targets run.
func onlineCPUs() ([]int, error) {
	raw, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("list online CPUs: %w", err)
	}
	return sampler.ParseCPUList(string(bytes.TrimSpace(raw)))
}
