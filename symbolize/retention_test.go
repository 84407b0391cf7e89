package symbolize

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/sampler"
)

// shiftedFixture is fx as program id, placed in slot id%churnSlots of the
// JIT area.
func shiftedFixture(fx *progFixture, id uint32) *progFixture {
	shift := uint64(id%churnSlots) * 0x10000
	f := *fx
	f.Info.ID = id
	f.Info.KsymAddrs = slices.Clone(fx.Info.KsymAddrs)
	for j := range f.Info.KsymAddrs {
		f.Info.KsymAddrs[j] += shift
	}
	f.Info.JitedLines = slices.Clone(fx.Info.JitedLines)
	for j := range f.Info.JitedLines {
		f.Info.JitedLines[j] += shift
	}
	f.Ksyms = slices.Clone(fx.Ksyms)
	for j := range f.Ksyms {
		f.Ksyms[j].Addr += shift
	}
	return &f
}

// shiftedProgs gives the info of any program id as shiftedFixture makes
// it, without holding one per id.
type shiftedProgs struct {
	mu   sync.Mutex
	base *progFixture
}

func (p *shiftedProgs) next(uint32) (uint32, bool, error) { return 0, false, nil }

func (p *shiftedProgs) info(id uint32) (*progInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &shiftedFixture(p.base, id).Info, nil
}

// TestRetentionWindow runs a synthetic live session for six hours of
// record time: each hour 20k short-lived processes (each sampled once,
// one in a hundred with a binary of its own, one in fifty whose EXIT is
// lost) and 10k BPF programs loading and unloading (each sampled once).
// With a Window, what the Symbolizer holds, and the heap, stay flat from
// hour to hour.
func TestRetentionWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("six simulated hours")
	}
	const (
		hour       = uint64(time.Hour)
		procsPer   = 20000
		progsPer   = 10000
		hours      = 6
		procGap    = hour / procsPer
		progGap    = hour / progsPer
		procWindow = uint64(time.Minute)
	)
	dir := fakeProc(t)
	lib := abs(t, "testdata/libtiny.so")
	fakeProcess(t, dir, 100, "sh", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	base := loadProgFixture(t, "subprog")
	s, err := newSymbolizer(Options{ProcDir: dir, Window: time.Minute}, &shiftedProgs{base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	nextProc, nextProg := 0, 0
	var heaps []uint64
	type sizes struct{ procs, progs, objs, strs, exitQ, unloadQ int }
	var held []sizes
	for h := range uint64(hours) {
		end := (h + 1) * hour
		for {
			tProc := uint64(nextProc+1) * procGap
			tProg := uint64(nextProg+1)*progGap + progGap/3
			if min(tProc, tProg) > end {
				break
			}
			if tProc <= tProg {
				i := nextProc
				nextProc++
				pid := uint32(1000 + i%30000) // pids are reused
				ino := uint64(11)
				if i%100 == 0 {
					ino = uint64(100000 + i)
				}
				s.HandleRecord(&sampler.Fork{Common: sampler.Common{Time: tProc}, PID: pid, PPID: 100, TID: pid, PTID: 100})
				s.HandleRecord(&sampler.Comm{Common: sampler.Common{Time: tProc}, PID: pid, TID: pid, Comm: fmt.Sprintf("job%d", i%500), Exec: true})
				s.HandleRecord(&sampler.Mmap2{Common: sampler.Common{Time: tProc}, PID: pid, TID: pid, Addr: 0x400000, Len: 0x1000, PgOff: 0x1000, Maj: 0xfd, Min: 1, Ino: ino, Prot: 5, Filename: lib})
				s.SampleTime(tProc + procGap/4)
				if f := s.User(pid, 0x400004, tProc+procGap/4); f.Func == unknownFunc {
					t.Fatalf("process %d: %+v", i, f)
				}
				s.Comm(pid)
				if i%50 != 0 {
					s.HandleRecord(&sampler.Exit{Common: sampler.Common{Time: tProc + procGap/2}, PID: pid, PPID: 100, TID: pid, PTID: 100})
				}
				continue
			}
			id := uint32(200000 + nextProg)
			nextProg++
			fx := shiftedFixture(base, id)
			feed(s, loadRecords(fx, tProg))
			s.SampleTime(tProg + progGap/4)
			if f := s.Kernel(fx.Info.KsymAddrs[1]+3, tProg+progGap/4); f.Prog == nil || f.Prog.ID != id {
				t.Fatalf("program %d: %+v", id, f)
			}
			feed(s, unloadRecords(fx, tProg+progGap/2))
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heaps = append(heaps, ms.HeapAlloc)
		s.mu.Lock()
		held = append(held, sizes{len(s.procs), len(s.progs), len(s.objs), len(s.strs), len(s.exitQ), len(s.unloadQ)})
		s.mu.Unlock()
	}
	t.Logf("heap by hour (MB): %v", mb(heaps))
	t.Logf("held by hour (procs progs objects strings exitQ unloadQ): %v", held)
	// A window of records: about a minute of processes and programs
	// (330 and 170), twice that between sweeps, and some slack.
	perWindow := func(n uint64) int { return int(3 * n * procWindow / hour) }
	for h, z := range held {
		if z.procs > perWindow(procsPer)+64 || z.progs > perWindow(progsPer)+64 || z.objs > perWindow(procsPer/100)+64 ||
			z.strs > 4096 || z.exitQ > perWindow(procsPer) || z.unloadQ > perWindow(progsPer) {
			t.Errorf("hour %d holds %+v: more than a window's worth", h+1, z)
		}
	}
	// The heap of the last hour is that of the second, give or take
	// a quarter and 4 MB of the runtime's and the test's own noise.
	if last, second := heaps[len(heaps)-1], heaps[1]; last > second+second/4+4<<20 {
		t.Errorf("heap grew from %d MB in hour 2 to %d MB in hour %d", second>>20, last>>20, len(heaps))
	}
}

func mb(b []uint64) []float64 {
	out := make([]float64, len(b))
	for i, v := range b {
		out[i] = float64(v>>10) / 1024
	}
	return out
}
