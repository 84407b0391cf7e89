package symbolize

import (
	"bytes"
	"debug/elf"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/sampler"
)

// BenchmarkKernelTableLoad measures reading and indexing /proc/kallsyms,
// and the memory the table holds once built (heap-MiB: live heap growth
// measured with runtime.MemStats; table-MiB: the table's own arrays).
func BenchmarkKernelTableLoad(b *testing.B) {
	var kt *kernelTable
	var held uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := os.Open("/proc/kallsyms")
		if err != nil {
			b.Fatal(err)
		}
		kt, err = parseKallsyms(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	}
	if kt.restricted {
		b.Log("kallsyms addresses are hidden: run as root for the real table")
	}
	b.ReportMetric(float64(kt.len()), "symbols")
	b.ReportMetric(float64(held)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(kt.memSize())/(1<<20), "table-MiB")
	runtime.KeepAlive(kt)
}

// BenchmarkKallsymsParse measures parsing alone, from memory.
func BenchmarkKallsymsParse(b *testing.B) {
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseKallsyms(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve resolves a mix of kernel, BPF (two fixture programs)
// and user addresses (Go pclntab of this binary and ELF symbols of
// libtiny.so) with warm caches, on one goroutine.
func BenchmarkResolve(b *testing.B) {
	hot, sub := loadProgFixture(b, "hot"), loadProgFixture(b, "subprog")
	src := &fakeProgs{loaded: []uint32{hot.Info.ID, sub.Info.ID},
		infos: map[uint32]*progInfo{hot.Info.ID: &hot.Info, sub.Info.ID: &sub.Info}}
	pid := uint32(os.Getpid())
	s, err := newSymbolizer(Options{PIDs: []int{int(pid)}}, src)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lib := abs(b, "testdata/libtiny.so")
	s.HandleRecord(&sampler.Mmap2{PID: pid, TID: pid, Addr: 0x7e0000001000, Len: 0x1000, PgOff: 0x1000, Maj: 1, Min: 2, Ino: 3, Prot: 5, Filename: lib})

	rng := rand.New(rand.NewPCG(1, 2))
	type query struct {
		kind Kind
		addr uint64
	}
	var qs []query
	kt := s.kern.Load()
	for range 1000 {
		if kt.len() > 0 {
			i := rng.IntN(kt.len())
			qs = append(qs, query{KindKernel, kt.addrs[i] + uint64(rng.IntN(16))})
		}
		for _, fx := range []*progFixture{hot, sub} {
			i := rng.IntN(len(fx.Info.KsymAddrs))
			qs = append(qs, query{KindBPF, fx.Info.KsymAddrs[i] + uint64(rng.IntN(int(fx.Info.FuncLens[i])))})
		}
		qs = append(qs, query{KindUser, 0x7e0000001000 + uint64(rng.IntN(0x7f))})
	}
	// Return addresses of this goroutine's stack: functions of the
	// testing package and of this one.
	pcs := make([]uintptr, 64)
	pcs = pcs[:runtime.Callers(0, pcs)]
	for _, pc := range pcs {
		qs = append(qs, query{KindUser, uint64(pc)})
	}
	rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	resolve := func(q query) Frame {
		if q.kind == KindUser {
			return s.User(pid, q.addr, 1)
		}
		return s.Kernel(q.addr, 1)
	}
	for _, q := range qs { // warm the caches, check the mix resolves
		if f := resolve(q); f.Func == unknownFunc && !(q.kind == KindKernel && s.KptrRestricted()) {
			b.Fatalf("%v %#x unresolved", q.kind, q.addr)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		resolve(qs[n%len(qs)])
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "resolutions/s")
}

// BenchmarkNew measures New on this machine: kallsyms, every BPF program,
// and every process's maps.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		s, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.BPFStats().AtStart), "programs")
		b.ReportMetric(float64(len(s.procs)), "processes")
		s.Close()
	}
}

// BenchmarkBPFLookupReused looks up an address of a JIT slot that 10000
// programs occupied one after the other.
func BenchmarkBPFLookupReused(b *testing.B) {
	fn := &bpfFunc{name: "f"}
	var ranges []bpfRange
	for i := range uint64(10000) {
		ranges = append(ranges, bpfRange{start: 0x1000, end: 0x1100, from: 100 * i, until: 100*i + 50, fn: fn})
	}
	tab := newBPFTable(ranges)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if tab.lookup(0x1080, 1+(i*7919)%1000000) == nil {
			b.Fatal("not found")
		}
		i++
	}
}

// BenchmarkUserTables loads the symbol tables of every executable mapping
// of every process, as `bpfprof record -a` does on their first samples,
// and reports the heap the tables hold once loaded (held-MiB: live heap
// growth after a GC, measured with runtime.MemStats; table-MiB: the
// tables' own arrays) and the time taken. What it loads depends on what
// runs: at least this test binary and the go command running it (Go
// binaries), the shell above them and libc. Needs root to read other
// processes' files.
func BenchmarkUserTables(b *testing.B) {
	var held uint64
	var objs, tables, size int
	for b.Loop() {
		s, err := newSymbolizer(Options{NoBPF: true}, &fakeProgs{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s.mu.Lock()
		loaded := map[*objSyms]bool{}
		objs = 0
		for _, o := range s.objs {
			if !o.loaded {
				s.loadObjectLocked(o)
			}
			if o.syms != nil {
				objs++
				loaded[o.syms] = true
			}
		}
		s.mu.Unlock()
		tables, size = len(loaded), 0
		for t := range loaded {
			size += t.memSize()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
		runtime.KeepAlive(s)
		s.Close()
	}
	b.ReportMetric(float64(objs), "objects")
	b.ReportMetric(float64(tables), "tables")
	b.ReportMetric(float64(held)/(1<<20), "held-MiB")
	b.ReportMetric(float64(size)/(1<<20), "table-MiB")
}

// BenchmarkResolveGo resolves addresses spread over this test binary's
// code, with file and line from its pclntab, warm.
func BenchmarkResolveGo(b *testing.B) {
	pid := os.Getpid()
	s, err := newSymbolizer(Options{PIDs: []int{pid}, NoBPF: true}, &fakeProgs{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		b.Fatal(err)
	}
	entries, _, _ := parseMaps(bytes.NewReader(data))
	var addrs []uint64
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range entries {
		if e.exec && e.path == exe {
			for range 4096 {
				addrs = append(addrs, e.start+rng.Uint64N(e.limit-e.start))
			}
		}
	}
	if len(addrs) == 0 {
		b.Skip("no executable mapping of", exe)
	}
	lines := 0
	for _, a := range addrs {
		if f := s.User(uint32(pid), a, 0); f.Line != 0 {
			lines++
		}
	}
	if lines < len(addrs)/2 {
		b.Fatalf("%d of %d addresses with a line", lines, len(addrs))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		s.User(uint32(pid), addrs[n%len(addrs)], 0)
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "resolutions/s")
}

// churnSlots is how many JIT address ranges the synthetic churn cycles
// through: the kernel hands freed JIT memory to later programs.
const churnSlots = 64

// churnPeriod is the time between one synthetic program's load and the
// next one's.
const churnPeriod = 10 * uint64(time.Millisecond)

// churnFixtures makes n copies of the subprog fixture, each a different
// program (its own id) placed in one of churnSlots address ranges.
func churnFixtures(tb testing.TB, n int) (*fakeProgs, []*progFixture) {
	tb.Helper()
	fx := loadProgFixture(tb, "subprog")
	src := &fakeProgs{infos: map[uint32]*progInfo{}}
	fxs := make([]*progFixture, n)
	for i := range fxs {
		shift := uint64(i%churnSlots) * 0x10000
		f := *fx
		f.Info.ID = 100000 + uint32(i)
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
		fxs[i] = &f
		src.infos[f.Info.ID] = &f.Info
	}
	return src, fxs
}

// churn feeds the records of fxs loading and unloading one after the
// other, churnPeriod apart, each living half a period; a sample lands in
// every tenth program while it runs.
func churn(s *Symbolizer, fxs []*progFixture) {
	for i, f := range fxs {
		t := uint64(i+1) * churnPeriod
		feed(s, loadRecords(f, t))
		if i%10 == 0 {
			s.Kernel(f.Info.KsymAddrs[1]+3, t+churnPeriod/4)
		}
		feed(s, unloadRecords(f, t+churnPeriod/2))
	}
}

// BenchmarkBPFChurn follows programs loading and unloading one after the
// other, as a recording does while something churns programs, and reports
// the cost of one load/unload cycle (its KSYMBOL and BPF_EVENT records and
// an occasional sample) over recordings of n programs: it should not grow
// with n.
func BenchmarkBPFChurn(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			src, fxs := churnFixtures(b, n)
			proc := fakeProc(b)
			b.ReportAllocs()
			for b.Loop() {
				s, err := newSymbolizer(Options{ProcDir: proc, PIDs: []int{}}, src)
				if err != nil {
					b.Fatal(err)
				}
				churn(s, fxs)
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cycle")
		})
	}
}

// shiftFixture returns a copy of fx as program id, its JIT images moved
// by shift.
func shiftFixture(fx *progFixture, id uint32, shift uint64) *progFixture {
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

// BenchmarkBPFChurnLoaded follows one program loading, running (a sample
// resolves into it) and unloading, per op, while n other programs stay
// loaded, in a live view (Window) so that nothing accumulates over the
// run: the records of a cycle and the publishing of what they changed
// must not cost time in the number of programs loaded.
func BenchmarkBPFChurnLoaded(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			fx := loadProgFixture(b, "subprog")
			src := &fakeProgs{infos: map[uint32]*progInfo{}}
			// Resident programs, each in its own range far from the
			// churning ones, loaded before the start.
			for i := range n {
				f := shiftFixture(fx, 300000+uint32(i), 0x10000000+uint64(i)*0x4000)
				src.loaded = append(src.loaded, f.Info.ID)
				src.infos[f.Info.ID] = &f.Info
			}
			// A pool of churning programs cycling through churnSlots
			// ranges; an id comes back long after its program was
			// forgotten (Window).
			const pool = 1000
			type cycle struct{ load, unload []sampler.Record }
			cycles := make([]cycle, pool)
			addrs := make([]uint64, pool)
			for i := range pool {
				f := shiftFixture(fx, 100000+uint32(i), uint64(i%churnSlots)*0x10000)
				src.infos[f.Info.ID] = &f.Info
				cycles[i] = cycle{loadRecords(f, 0), unloadRecords(f, 0)}
				addrs[i] = f.Info.KsymAddrs[1] + 3
			}
			s, err := newSymbolizer(Options{ProcDir: fakeProc(b), PIDs: []int{}, Window: time.Second}, src)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if got := s.BPFStats().AtStart; got != n {
				b.Fatalf("%d programs at the start, want %d", got, n)
			}
			stamp := func(rs []sampler.Record, t uint64) {
				for _, r := range rs {
					switch r := r.(type) {
					case *sampler.KSymbol:
						r.Time = t
					case *sampler.BPFEvent:
						r.Time = t + 1
					}
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := cycles[i%pool]
				t := uint64(i+1) * churnPeriod
				stamp(c.load, t)
				stamp(c.unload, t+churnPeriod/2)
				feed(s, c.load)
				if f := s.Kernel(addrs[i%pool], t+churnPeriod/4); f.Prog == nil || f.Prog.ID != 100000+uint32(i%pool) {
					b.Fatalf("cycle %d: %+v", i, f)
				}
				feed(s, c.unload)
				i++
			}
		})
	}
}

// BenchmarkInsertMap maps 4096 mappings one MMAP2 at a time, as a process
// loading many libraries (or a JIT mapping pages) does: each insert must
// not copy and sort all the mappings before it.
func BenchmarkInsertMap(b *testing.B) {
	obj := &object{path: "/x", base: "x"}
	for b.Loop() {
		var maps []*userMap
		for i := range uint64(4096) {
			// Interleaved, so that inserts land in the middle too.
			start := (i*2654435761)%(1<<20)*0x10000 + 0x10000
			maps = insertMap(maps, newUserMap(start, start+0x1000, 0, obj, ""))
		}
	}
}

// BenchmarkBPFStackParallel resolves samples of 8 BPF frames each on every
// Go processor, with times rising as the records' do: the latest sample
// time is raised once per sample (SampleTime), not by every frame.
func BenchmarkBPFStackParallel(b *testing.B) {
	hot, sub := loadProgFixture(b, "hot"), loadProgFixture(b, "subprog")
	src := &fakeProgs{loaded: []uint32{hot.Info.ID, sub.Info.ID},
		infos: map[uint32]*progInfo{hot.Info.ID: &hot.Info, sub.Info.ID: &sub.Info}}
	s, err := newSymbolizer(Options{PIDs: []int{}}, src)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var stack []uint64
	for i := range 8 {
		fx := []*progFixture{hot, sub}[i%2]
		j := i % len(fx.Info.KsymAddrs)
		stack = append(stack, fx.Info.KsymAddrs[j]+uint64(i)%uint64(fx.Info.FuncLens[j]))
	}
	var clock atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := clock.Add(1)
			resolveStack(s, stack, t)
		}
	})
}

// resolveStack resolves the kernel frames of one sample taken at t.
func resolveStack(s *Symbolizer, stack []uint64, t uint64) {
	s.SampleTime(t)
	for _, addr := range stack {
		s.Kernel(addr, t)
	}
}

// BenchmarkBuildImage builds the image of a program of 256 functions with
// 64 line records each: each record must find its function without a
// scan of them all.
func BenchmarkBuildImage(b *testing.B) {
	info := &progInfo{ID: 1, Tag: "0123456789abcdef", Type: "xdp", Name: "big"}
	for i := range uint64(256) {
		addr := 0xffffffffc0000000 + i*0x1000
		info.KsymAddrs = append(info.KsymAddrs, addr)
		info.FuncLens = append(info.FuncLens, 0x800)
		info.Funcs = append(info.Funcs, progFunc{Insn: uint32(i * 100), Name: fmt.Sprintf("f%d", i)})
		for j := range uint64(64) {
			info.JitedLines = append(info.JitedLines, addr+j*0x20)
			info.Lines = append(info.Lines, progLine{Insn: uint32(i*100 + j), File: "big.bpf.c", Line: uint32(j + 1), Source: "x++;"})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		buildImage(info, nil)
	}
}

// bigELF writes, once per test binary, an ELF file of about n function
// symbols (24 bytes each and a 20-byte name): a stand-in for a large
// binary whose symbols take long to load.
var bigELF = sync.OnceValues(func() (string, error) {
	const n = 4 << 20
	syms := make([]testSym, n)
	for i := range syms {
		syms[i] = testSym{name: fmt.Sprintf("func_%014d", i), typ: elf.STT_FUNC, shndx: 1, value: 0x400000 + uint64(i)*16, size: 16}
	}
	data := writeTestELF([]testSection{{name: ".text", typ: elf.SHT_PROGBITS, addr: 0x400000, data: make([]byte, 4096)}}, syms)
	f, err := os.CreateTemp("", "bpfprof-big-*.elf")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(data)
	return f.Name(), err
})

// BenchmarkUserDuringLoad measures the worst latency of User for a
// process whose symbols are loaded, on one goroutine, while another
// goroutine's User loads the symbols of a large ELF file (about 200 MB of
// symbol table) for the first time: reading a file must not hold the lock
// every lookup takes.
func BenchmarkUserDuringLoad(b *testing.B) {
	big, err := bigELF()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(big) })
	if fi, err := os.Stat(big); err == nil {
		b.Logf("%s: %d MB", big, fi.Size()>>20)
	}
	lib := abs(b, "testdata/libtiny.so")
	var worst time.Duration
	lookups := 0
	for b.Loop() {
		dir := fakeProc(b)
		fakeProcess(b, dir, 100, "small", fmt.Sprintf("7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
		fakeProcess(b, dir, 200, "big", fmt.Sprintf("400000-401000 r-xp 00000000 fd:01 12 %s\n", big))
		s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{100, 200}}, &fakeProgs{})
		if err != nil {
			b.Fatal(err)
		}
		s.User(100, 0x7f0000001004, 0) // warm
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.User(200, 0x400010, 0)
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
			worst = max(worst, time.Since(start))
			lookups++
		}
		s.Close()
	}
	// On a loaded machine the worst latency is the scheduler's too; the
	// lookups done during the loads tell whether they waited for it.
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
	b.ReportMetric(float64(lookups)/float64(b.N), "lookups/load")
}
