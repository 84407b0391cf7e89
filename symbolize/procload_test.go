package symbolize

import (
	"bytes"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/sampler"
)

// TestProcReadWithoutLock: while /proc is read for a process's first
// lookup (its comm is a FIFO here, so that the read blocks until the test
// writes to it), the lock every lookup takes is free, a lookup of a known
// process completes, records are handled, and a second lookup of the new
// process waits for the first one's read instead of reading again. The
// records handled during the read survive it.
func TestProcReadWithoutLock(t *testing.T) {
	lib := abs(t, "testdata/libtiny.so")
	dir := fakeProc(t)
	fakeProcess(t, dir, 100, "known", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	fakeProcess(t, dir, 200, "", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{100, 200}}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := s.User(100, 0x7f0000001004, 0)
	if want.Func == unknownFunc {
		t.Fatalf("known process: %+v", want)
	}
	// pid 200 is forgotten, as if it appeared after New, and its comm
	// made a FIFO.
	s.mu.Lock()
	delete(s.procs, 200)
	s.mu.Unlock()
	comm := filepath.Join(dir, "200", "comm")
	if err := os.Remove(comm); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(comm, 0o600); err != nil {
		t.Fatal(err)
	}

	first := make(chan Frame, 1)
	go func() { first <- s.User(200, 0x7f0000001004, 0) }()
	// Opening the FIFO for writing returns once the lookup opened it to
	// read: the lookup is inside its read of /proc.
	w, err := os.OpenFile(comm, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(func() {
		w.WriteString("newproc\n")
		w.Close()
	})
	defer release()
	if !s.mu.TryLock() {
		release()
		<-first
		t.Fatal("the lock is held while /proc is read")
	}
	s.mu.Unlock()
	if got := s.User(100, 0x7f0000001004, 0); got.Func != want.Func {
		t.Errorf("known process during the read: %+v", got)
	}
	if got := s.Comm(100); got != "known" {
		t.Errorf("comm of the known process %q", got)
	}
	second := make(chan Frame, 1)
	go func() { second <- s.User(200, 0x7f0000001008, 0) }()
	// Records of the new process, handled during the read: a mapping
	// /proc did not list when it was read, then the process's exit.
	s.HandleRecord(&sampler.Mmap2{PID: 200, TID: 200, Addr: 0x7e0000001000, Len: 0x1000, PgOff: 0x1000, Maj: 1, Min: 2, Ino: 3, Prot: 5, Filename: lib, Common: sampler.Common{Time: 10}})
	s.HandleRecord(&sampler.Exit{PID: 200, TID: 200, Common: sampler.Common{Time: 20}})
	release()
	for i, ch := range []chan Frame{first, second} {
		if got := <-ch; got.Func == unknownFunc || got.Mapping == nil || got.Mapping.File != lib {
			t.Errorf("lookup %d of the new process: %+v", i, got)
		}
	}
	if got := s.User(200, 0x7e0000001004, 0); got.Func != want.Func {
		t.Errorf("the mapping recorded during the read: %+v", got)
	}
	if got := s.Comm(200); got != "newproc" {
		t.Errorf("comm %q, want the one read", got)
	}
	s.mu.Lock()
	p := s.procs[200]
	s.mu.Unlock()
	if p == nil || !p.exited || p.reading || p.loading != nil || len(p.maps) != 2 {
		t.Errorf("process after the read: %+v", p)
	}
}

// TestProcReadCommRecord: a COMM record handled while /proc is read
// names the process; the name read, perhaps older, does not replace it.
// An exec during the read drops the mappings read.
func TestProcReadCommRecord(t *testing.T) {
	lib := abs(t, "testdata/libtiny.so")
	dir := fakeProc(t)
	fakeProcess(t, dir, 300, "old", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{}}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	s.filter[300] = true
	s.mu.Unlock()
	entered, proceed := make(chan struct{}), make(chan struct{})
	read := s.procRead
	s.procRead = func(pid uint32, comm bool) procData {
		close(entered)
		<-proceed
		return read(pid, comm)
	}
	done := make(chan Frame, 1)
	go func() { done <- s.User(300, 0x7f0000001004, 0) }()
	<-entered
	s.HandleRecord(&sampler.Comm{PID: 300, TID: 300, Comm: "new", Exec: true, Common: sampler.Common{Time: 5}})
	close(proceed)
	if f := <-done; f.Func != unknownFunc {
		t.Errorf("a mapping from before the exec: %+v", f)
	}
	if got := s.Comm(300); got != "new" {
		t.Errorf("comm %q, want the record's", got)
	}
}

// BenchmarkUserNewProcesses measures the worst latency of User for a
// process already known while another goroutine looks up processes never
// seen, each of whose /proc maps (2000 lines, 100 of them executable) is
// read on its first lookup: reading /proc must not hold the lock every
// lookup takes.
func BenchmarkUserNewProcesses(b *testing.B) {
	lib := abs(b, "testdata/libtiny.so")
	dir := fakeProc(b)
	fakeProcess(b, dir, 100, "known", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	var maps strings.Builder
	for i := range 2000 {
		perm := "r--p"
		if i%20 == 0 {
			perm = "r-xp"
		}
		fmt.Fprintf(&maps, "%x-%x %s 00000000 fd:01 %d /usr/lib/x86_64-linux-gnu/libfake%d.so\n", 0x7f1000000000+i*0x10000, 0x7f1000000000+i*0x10000+0x1000, perm, 1000+i, i)
	}
	const news = 200
	for pid := 1000; pid < 1000+news; pid++ {
		fakeProcess(b, dir, pid, "new", maps.String())
	}
	var lat latencies
	defer runtime.SetMutexProfileFraction(runtime.SetMutexProfileFraction(1))
	waited := mutexWait(b)
	for b.Loop() {
		s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{100}}, &fakeProgs{})
		if err != nil {
			b.Fatal(err)
		}
		s.User(100, 0x7f0000001004, 0) // warm
		s.mu.Lock()
		for pid := 1000; pid < 1000+news; pid++ {
			s.filter[uint32(pid)] = true
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for pid := 1000; pid < 1000+news; pid++ {
				s.Comm(uint32(pid))
			}
		}()
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
			}
			start := time.Now()
			s.User(100, 0x7f0000001004, 0)
			lat.add(time.Since(start))
		}
		s.Close()
	}
	// On a loaded machine the latencies are the scheduler's and the
	// garbage collector's too; the time goroutines spent blocked on a
	// mutex (the mutex profile's) tells how long lookups waited for the
	// reads.
	b.ReportMetric(float64(mutexWait(b)-waited)/float64(time.Millisecond)/float64(b.N), "mutex-wait-ms/run")
	lat.report(b)
}

// mutexWait returns the time goroutines of this process spent blocked on
// a sync.Mutex so far, by the mutex profile (runtime.SetMutexProfileFraction).
func mutexWait(tb testing.TB) time.Duration {
	var buf bytes.Buffer
	if err := pprof.Lookup("mutex").WriteTo(&buf, 1); err != nil {
		tb.Fatal(err)
	}
	var cycles, perSec float64
	for line := range strings.Lines(buf.String()) {
		if v, ok := strings.CutPrefix(line, "cycles/second="); ok {
			perSec, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			continue
		}
		var c, n float64
		if k, _ := fmt.Sscanf(line, "%g %g @", &c, &n); k == 2 {
			cycles += c
		}
	}
	if perSec == 0 {
		tb.Fatal("no cycles/second in the mutex profile")
	}
	return time.Duration(cycles / perSec * float64(time.Second))
}

// latencies is a histogram of durations in buckets of powers of two ns.
type latencies struct {
	buckets [65]int
	n       int
	worst   time.Duration
	// slow counts the durations of slowLatency or more, slowSum adds
	// them up.
	slow    int
	slowSum time.Duration
}

// slowLatency is a lookup that waited for something: a warm lookup takes
// well under a microsecond.
const slowLatency = 50 * time.Microsecond

func (l *latencies) add(d time.Duration) {
	l.buckets[bits.Len64(uint64(max(d, 1)))]++
	l.n++
	l.worst = max(l.worst, d)
	if d >= slowLatency {
		l.slow++
		l.slowSum += d
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (l *latencies) quantile(q float64) time.Duration {
	want := int(q * float64(l.n))
	seen := 0
	for i, c := range l.buckets {
		if seen += c; seen > want {
			return time.Duration(1) << i
		}
	}
	return l.worst
}

func (l *latencies) report(b *testing.B) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(l.quantile(0.99)), "p99-µs")
	b.ReportMetric(us(l.quantile(0.9999)), "p99.99-µs")
	b.ReportMetric(float64(l.slow)/float64(b.N), "slow/run")
	b.ReportMetric(float64(l.slowSum)/float64(time.Millisecond)/float64(b.N), "slow-ms/run")
	b.ReportMetric(us(l.worst), "worst-µs")
	b.ReportMetric(float64(l.n)/float64(b.N), "lookups/run")
}

// TestProcRereadWithoutLock: the re-read of a known process's maps, for
// an address in none of them, runs without the lock; lookups of the same
// process meanwhile use the mappings known, and the mappings read come in
// after it.
func TestProcRereadWithoutLock(t *testing.T) {
	lib := abs(t, "testdata/libtiny.so")
	dir := fakeProc(t)
	line := fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib)
	fakeProcess(t, dir, 400, "p", line)
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{400}}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := s.User(400, 0x7f0000001004, 0)
	// A library mapped since, its record lost.
	fakeProcess(t, dir, 400, "p", line+fmt.Sprintf("7e0000001000-7e0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	s.mu.Lock()
	s.procs[400].lastRead = time.Now().Add(-2 * refreshInterval)
	s.mu.Unlock()
	entered, proceed := make(chan struct{}), make(chan struct{})
	read := s.procRead
	s.procRead = func(pid uint32, comm bool) procData {
		close(entered)
		<-proceed
		return read(pid, comm)
	}
	done := make(chan Frame, 1)
	go func() { done <- s.User(400, 0x7e0000001004, 0) }()
	<-entered
	if !s.mu.TryLock() {
		close(proceed)
		<-done
		t.Fatal("the lock is held while the maps are read again")
	}
	s.mu.Unlock()
	if got := s.User(400, 0x7f0000001004, 0); got.Func != want.Func {
		t.Errorf("known mapping during the re-read: %+v", got)
	}
	close(proceed)
	if got := <-done; got.Func != want.Func {
		t.Errorf("after the re-read: %+v, want %s", got, want.Func)
	}
}
