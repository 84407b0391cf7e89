package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/privilege"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// DefaultQueueSize is how many records may wait between the ring reader and
// the symbolizer: seconds of samples on a small machine. Resolving the first
// address in a large binary not seen before means reading its symbol table,
// which can take a few hundred milliseconds; the kernel would drop samples
// if the rings were not read meanwhile.
const DefaultQueueSize = 1 << 16

// Options say what a Session samples and how it counts.
type Options struct {
	// Sampler says what to sample: events, frequency or period, CPUs,
	// processes or cgroup, call graphs. Events defaults to
	// sampler.DefaultEvent(); the sampler picks the default Frequency
	// (Session.Frequency says which). The symbolizer follows
	// Sampler.PIDs.
	Sampler sampler.Options
	// BPFOnly keeps only samples with at least one BPF frame in their
	// stack.
	BPFOnly bool
	// QueueSize is the number of records that may wait between reading
	// the rings and symbolizing them; 0 means DefaultQueueSize.
	QueueSize int
	// Warn, if set, receives each privilege warning (one line, no
	// newline) before anything is opened: what the privileges allow
	// only in part, such as hidden kernel addresses.
	Warn func(string)
	// Capture keeps the instructions of each BPF program (xlated, JIT
	// image, line info) from when it loads or is first seen in samples,
	// for Program: a listing of a program that unloaded meanwhile.
	Capture bool
	// NoUserSymbols leaves user-space addresses unresolved: the
	// symbolizer then reads no /proc/PID/maps and no ELF symbol tables,
	// which saves a live view that shows only kernel and BPF frames (top)
	// seconds at start and most of its memory. Comm names stay unknown.
	NoUserSymbols bool
	// Window, if not 0, makes the session keep only what was sampled in
	// about the last Window (aggregate.Options.Window, and the symbolizer
	// drops what ended a Window ago: symbolize.Options.Window): for a live view
	// that runs for hours over processes and programs that come and go.
	// Trackers' Deltas stay exact; Snapshots then cover the window. 0
	// keeps everything, as a recording must.
	Window time.Duration
	// NoPrivilegeCheck skips the check of privileges before opening:
	// Open then fails with whatever perf_event_open says.
	NoPrivilegeCheck bool
	// Handler, if set, is a tap for a consumer that counts raw records
	// itself, as bpfprof stat attributes each sample's IP to the JIT
	// image of a program: it receives every record the session reads,
	// in order, before the symbolizer and the aggregate. It is called on
	// the session's pipeline goroutine, after the queue: off the
	// goroutine that reads the rings and with no lock of the session or
	// the sampler held, so a slow Handler delays only the queue. The
	// record is the queue's copy, valid only during the call; a Sample's
	// Event indexes Sampler.Events. Every record is handled before Stop
	// or Close returns.
	Handler sampler.Handler
	// RawOnly makes the session a pipeline for Handler alone: Open reads
	// no symbol tables and nothing is symbolized or aggregated, so
	// Snapshot, Trackers and the aggregate's Stats stay empty. The
	// privilege check, the queue and the shutdown are as usual. It needs
	// Handler and excludes Capture.
	RawOnly bool

	// symbolizer, if set, replaces the kernel's: for tests.
	symbolizer resolver
}

// resolver is what a Session needs of a symbolizer: a *symbolize.Symbolizer.
type resolver interface {
	aggregate.Resolver
	sampler.Handler
	KptrRestricted() bool
	BPFStats() symbolize.BPFStats
	Close() error
}

// Stats are the running totals of a Session, cheap to take: for a progress
// line or a status bar.
type Stats struct {
	// Sampler counts what was read from the rings, and what the kernel
	// lost or throttled.
	Sampler sampler.Stats
	// BPF counts the BPF programs the symbolizer followed; BPF.InfoErr
	// says why program info could not be read, if so.
	BPF symbolize.BPFStats
	// Counters are the aggregate's totals: samples counted, kept,
	// dropped, programs seen.
	Counters aggregate.Counters
	// KptrRestricted says /proc/kallsyms hid the kernel's addresses:
	// kernel and BPF frames are unnamed.
	KptrRestricted bool
	// Started is when Run began; zero before.
	Started time.Time
	// Elapsed is the time since Run began, or its length once it ended;
	// 0 before.
	Elapsed time.Duration
}

// Session is one live profiling pipeline: a sampler.Reader whose records
// go through a queue to a symbolize.Symbolizer and an aggregate.Aggregator.
//
// Snapshot, Delta (through a Tracker), Stats and Privileges may be called
// from any goroutine at any time, also while Run runs and after Close.
type Session struct {
	opts  Options
	privs PrivilegeReport
	sym   resolver
	agg   *aggregate.Aggregator
	rd    *sampler.Reader
	cap   *capturer // nil without Options.Capture

	// running counts Runs between their start and the last queued
	// record handled: Close waits for them before closing the symbols.
	running sync.WaitGroup

	mu      sync.Mutex
	started time.Time
	ended   time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed when a Start-ed Run returns
	runErr  error
	closed  bool
}

// Open checks the privileges, reads the kernel's and the processes' symbols
// and opens the perf events of opts. The events are enabled at once (or,
// with Sampler.EnableOnExec, armed), but their records wait in the rings
// until Run or Start reads them. Close the Session when done.
//
// Needs what sampler.Open and symbolize.New need: in practice root, or
// CAP_PERFMON with CAP_SYS_ADMIN (program info) and CAP_SYSLOG (kernel
// addresses). A privilege that stops the session fails with an error
// matching sampler.ErrPermission that names it; one that only degrades it
// (say, unreadable program info) goes to Options.Warn.
func Open(opts Options) (_ *Session, err error) {
	if len(opts.Sampler.Events) == 0 {
		opts.Sampler.Events = []sampler.Event{sampler.DefaultEvent()}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.RawOnly && opts.Handler == nil {
		return nil, errors.New("session: RawOnly needs a Handler")
	}
	if opts.RawOnly && opts.Capture {
		return nil, errors.New("session: Capture needs symbols, not RawOnly")
	}
	s := &Session{opts: opts}

	// What the privileges allow comes before any event is opened, so that
	// a missing privilege is named rather than an errno from
	// perf_event_open. If they cannot be read, Open reports what fails.
	if !opts.NoPrivilegeCheck {
		if f, err := privilege.Read(); err == nil {
			if s.privs, err = checkPrivileges(f, opts.Sampler); err != nil {
				return nil, err
			}
			if opts.Warn != nil {
				for _, w := range s.privs.Warnings {
					opts.Warn(w)
				}
			}
		}
	}

	s.sym = opts.symbolizer
	if opts.RawOnly {
		s.sym = rawResolver{}
	}
	if s.sym == nil {
		pids := opts.Sampler.PIDs
		if opts.NoUserSymbols {
			pids = []int{}
		}
		sym, err := symbolize.New(symbolize.Options{PIDs: pids, Window: opts.Window})
		if err != nil {
			return nil, fmt.Errorf("symbolizer: %w", err)
		}
		s.sym = sym
	}
	defer func() {
		if err != nil {
			s.sym.Close()
		}
	}()
	if s.agg, err = aggregate.New(aggregate.Options{
		Resolver:  s.sym,
		CallGraph: opts.Sampler.CallGraph,
		BPFOnly:   opts.BPFOnly,
		Window:    opts.Window,
	}); err != nil {
		return nil, err
	}
	if s.rd, err = sampler.Open(opts.Sampler); err != nil {
		return nil, err
	}
	if opts.Warn != nil {
		for _, w := range s.rd.Warnings() {
			opts.Warn(w)
		}
	}
	if opts.Capture {
		ks, _ := s.sym.(KernelSymbols)
		s.cap = newCapturer(ks, s.agg.ProgramsSeen)
		go s.cap.run()
	}
	return s, nil
}

// Events returns the events sampled: Options.Sampler.Events or the
// default.
func (s *Session) Events() []sampler.Event { return s.opts.Sampler.Events }

// Frequency returns the frequency sampled at in Hz per CPU, 0 when
// sampling by period.
func (s *Session) Frequency() uint64 { return s.rd.Frequency() }

// Run reads, symbolizes and counts records until ctx is done, Close is
// called, or (with Sampler.PIDs) every target process has exited; then it
// handles the records still queued and returns. It may be called once, and
// not together with Start.
func (s *Session) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("session: Run on a closed Session")
	}
	if !s.started.IsZero() {
		s.mu.Unlock()
		return errors.New("session: Run called twice")
	}
	s.started = time.Now()
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()

	// Symbolizing must not hold up reading the rings: it goes through a
	// queue, in record order, on another goroutine.
	var next sampler.Handler
	if s.opts.RawOnly {
		next = s.opts.Handler
	} else {
		tap := s.opts.Handler
		next = sampler.HandlerFunc(func(r sampler.Record) {
			if tap != nil {
				tap.HandleRecord(r)
			}
			s.sym.HandleRecord(r)
			s.agg.HandleRecord(r)
			if s.cap != nil {
				s.cap.HandleRecord(r)
			}
		})
	}
	q := newQueue(s.opts.QueueSize, next)
	// A program that lives a few milliseconds is gone by the time its
	// PROG_LOAD has waited in the queue: the symbolizer reads its info
	// as the record arrives.
	if p, ok := s.sym.(interface{ Prefetch(sampler.Record) }); ok {
		q.early = p.Prefetch
	}
	err := s.rd.Run(ctx, q)
	s.mu.Lock()
	s.ended = time.Now()
	if s.closed {
		// A Close that came before the reader ran is a Run that ended.
		err = nil
	}
	s.mu.Unlock()
	q.close()
	return err
}

// Start runs Run on a goroutine of its own until ctx is done, Stop or
// Close is called, or the targets exit; Done tells when it has returned and
// Err what it returned.
func (s *Session) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		err := s.Run(ctx)
		s.mu.Lock()
		s.runErr = err
		s.mu.Unlock()
	}()
}

// Done is closed when the Run that Start began has returned; nil without
// Start.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Err returns what the Run that Start began returned, once Done is closed.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runErr
}

// Stop ends the Run that Start began, waits until every queued record is
// counted, and returns Run's error. The symbol tables stay open, so that a
// final Snapshot, Stats and program info are still complete; Close
// releases them. Stop without Start does nothing.
func (s *Session) Stop() error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return s.Err()
}

// Close stops the session if it runs, waits until every queued record is
// counted, then closes the perf events, the rings and the symbol tables.
// Snapshots and Stats taken afterwards still work: the counts stay. Close
// is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	// Closing the reader ends a Run that was not Start-ed, too.
	rdErr := s.rd.Close()
	s.running.Wait()
	if s.cap != nil {
		s.cap.close()
	}
	return errors.Join(rdErr, s.sym.Close())
}

// Snapshot returns an immutable copy of everything counted so far.
func (s *Session) Snapshot() *aggregate.Snapshot { return s.agg.Snapshot() }

// NewTracker returns a Tracker whose first Delta holds everything counted
// so far, and each later one what was counted since the one before: per
// program, source line, JIT address and stack (aggregate.Payers sums a
// Delta's stacks by process and CPU). Each consumer takes its own, and
// closes it when done.
func (s *Session) NewTracker() *aggregate.Tracker { return s.agg.NewTracker() }

// Program returns what a listing of BPF program id needs (its instructions,
// JIT image and line info): with Options.Capture, as captured when the
// program loaded or was first seen in samples, so a program that unloaded
// since is still there; otherwise, or if it was not captured, read now
// from the kernel. A program neither captured nor loaded is an error
// matching errs.ErrNotFound.
func (s *Session) Program(id uint32) (*annotate.Program, error) {
	if s.cap != nil {
		return s.cap.program(id)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	var ks KernelSymbols
	if !closed {
		ks, _ = s.sym.(KernelSymbols)
	}
	return Capture(id, ks)
}

// KernelSymbols names kernel text from the session's symbol tables, for a
// listing's call targets (annotate.Options.Kernel); nil once closed.
func (s *Session) KernelSymbols() KernelSymbols {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	ks, _ := s.sym.(KernelSymbols)
	return ks
}

// Aggregator returns the session's aggregate, for what the Session does
// not wrap.
func (s *Session) Aggregator() *aggregate.Aggregator { return s.agg }

// Privileges returns what the privilege check before opening found.
func (s *Session) Privileges() PrivilegeReport { return s.privs }

// TargetsExited reports whether Run returned because every process of
// Sampler.PIDs had exited.
func (s *Session) TargetsExited() bool { return s.rd.TargetsExited() }

// CPUs returns the CPUs the session samples.
func (s *Session) CPUs() []int { return s.rd.CPUs() }

// Options returns the session's options with their defaults filled in.
func (s *Session) Options() Options { return s.opts }

// Stats returns the running totals.
func (s *Session) Stats() Stats {
	st := Stats{
		Sampler:        s.rd.Stats(),
		BPF:            s.sym.BPFStats(),
		Counters:       s.agg.Counters(),
		KptrRestricted: s.sym.KptrRestricted(),
	}
	s.mu.Lock()
	st.Started = s.started
	switch {
	case s.started.IsZero():
	case s.ended.IsZero():
		st.Elapsed = time.Since(s.started)
	default:
		st.Elapsed = s.ended.Sub(s.started)
	}
	s.mu.Unlock()
	return st
}

// rawResolver stands in for the symbolizer of a RawOnly session: it reads
// nothing and names nothing.
type rawResolver struct{}

func (rawResolver) Kernel(addr, time uint64) symbolize.Frame           { return symbolize.Frame{} }
func (rawResolver) User(pid uint32, addr, time uint64) symbolize.Frame { return symbolize.Frame{} }
func (rawResolver) Comm(pid uint32) string                             { return "" }
func (rawResolver) HandleRecord(sampler.Record)                        {}
func (rawResolver) KptrRestricted() bool                               { return false }
func (rawResolver) BPFStats() symbolize.BPFStats                       { return symbolize.BPFStats{} }
func (rawResolver) Close() error                                       { return nil }
