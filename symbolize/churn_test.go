package symbolize

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/sampler"
)

// churnGap is the time between two short-lived processes: 17.6k processes
// in 20 s came from a shell loop running `bpftool version`.
const churnGap = uint64(time.Millisecond)

// churnProc is the pid of the i-th short-lived process.
func churnProc(i int) uint32 { return uint32(1000 + i) }

// newChurn returns a Symbolizer following every process, with a parent
// shell, pid 100, mapping libtiny.so.
func newChurn(tb testing.TB) (*Symbolizer, string) {
	tb.Helper()
	dir := fakeProc(tb)
	lib := abs(tb, "testdata/libtiny.so")
	fakeProcess(tb, dir, 100, "sh", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	s, err := newSymbolizer(Options{ProcDir: dir}, &fakeProgs{})
	if err != nil {
		tb.Fatal(err)
	}
	return s, lib
}

// procChurn feeds the records of n short-lived processes forked by pid 100,
// each exec'ing its own copy of a binary (a new inode, as `go test`
// binaries are) that maps a shared library too, and living half a gap.
// hit(i, pid, time) is called while process i lives.
func procChurn(s *Symbolizer, lib string, n int, hit func(i int, pid uint32, t uint64)) {
	for i := range n {
		pid, t := churnProc(i), uint64(i+1)*churnGap
		s.HandleRecord(&sampler.Fork{Common: sampler.Common{Time: t}, PID: pid, PPID: 100, TID: pid, PTID: 100})
		s.HandleRecord(&sampler.Comm{Common: sampler.Common{Time: t}, PID: pid, TID: pid, Comm: "bpftool", Exec: true})
		s.HandleRecord(&sampler.Mmap2{Common: sampler.Common{Time: t}, PID: pid, TID: pid, Addr: 0x400000, Len: 0x1000, PgOff: 0x1000, Maj: 0xfd, Min: 1, Ino: uint64(100000 + i), Prot: 5, Filename: lib})
		s.HandleRecord(&sampler.Mmap2{Common: sampler.Common{Time: t}, PID: pid, TID: pid, Addr: 0x7f0000001000, Len: 0x1000, PgOff: 0x1000, Maj: 0xfd, Min: 1, Ino: 11, Prot: 5, Filename: lib})
		if hit != nil {
			hit(i, pid, t)
		}
		s.HandleRecord(&sampler.Exit{Common: sampler.Common{Time: t + churnGap/2}, PID: pid, PPID: 100, TID: pid, PTID: 100})
	}
}

// TestUserChurn checks that processes that exited unsampled are dropped
// once their exit is procRetention old, with the objects only they
// mapped, while a sampled one stays resolvable.
func TestUserChurn(t *testing.T) {
	s, lib := newChurn(t)
	defer s.Close()
	const n, hitAt = 12000, 10
	window := int(procRetention/churnGap) + 1
	maxProcs, maxObjs := 0, 0
	procChurn(s, lib, n, func(i int, pid uint32, ts uint64) {
		if i == hitAt {
			if f := s.User(pid, 0x400050, ts); f.Func != "tiny_loop" {
				t.Errorf("live %+v", f)
			}
			if c := s.Comm(pid); c != "bpftool" {
				t.Errorf("live comm %q", c)
			}
		}
		s.mu.Lock()
		maxProcs, maxObjs = max(maxProcs, len(s.procs)), max(maxObjs, len(s.objs))
		s.mu.Unlock()
	})
	// The parent, the hit one, those of the last window and the one
	// alive.
	if maxProcs > window+3 {
		t.Errorf("up to %d processes held, want at most %d", maxProcs, window+3)
	}
	// One binary each, the shared library, and the binaries of those
	// dropped since the last sweep.
	if maxObjs > 2*(window+3)+2 {
		t.Errorf("up to %d objects held", maxObjs)
	}
	t.Logf("%d processes: at most %d processes and %d objects held", n, maxProcs, maxObjs)
	hit := churnProc(hitAt)
	if f := s.User(hit, 0x400050, 0); f.Func != "tiny_loop" || f.Mapping == nil || f.Mapping.File != lib {
		t.Errorf("sampled process after its exit: %+v", f)
	}
	if c := s.Comm(hit); c != "bpftool" {
		t.Errorf("sampled process's comm %q", c)
	}
	if f := s.User(100, 0x7f0000001050, 0); f.Func != "tiny_loop" {
		t.Errorf("parent %+v", f)
	}
	// Unsampled and long gone: unknown. Within the window: kept.
	if c := s.Comm(churnProc(hitAt + 1)); c != "" {
		t.Errorf("dropped process's comm %q", c)
	}
	if f := s.User(churnProc(n-1), 0x400050, 0); f.Func != "tiny_loop" || s.Comm(churnProc(n-1)) != "bpftool" {
		t.Errorf("recent process %+v", f)
	}
}

// BenchmarkUserChurn reports the heap a Symbolizer holds after 20k
// short-lived processes, one of them sampled, and the processes and
// objects it holds then.
func BenchmarkUserChurn(b *testing.B) {
	var ms runtime.MemStats
	for b.Loop() {
		s, lib := newChurn(b)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		procChurn(s, lib, 20000, func(i int, pid uint32, t uint64) {
			if i == 10 {
				s.User(pid, 0x400050, t)
			}
		})
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc-before), "heap-B")
		b.ReportMetric(float64(len(s.procs)), "procs")
		b.ReportMetric(float64(len(s.objs)), "objs")
		s.Close()
	}
}
