package symbolize

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

// loadTestProg loads a testdata program and returns it with its id.
func loadTestProg(tb testing.TB, name string) (*testprogs.Object, uint32) {
	tb.Helper()
	return progtest.Load(tb, name)
}

// TestUpdateProgFixtures saves the info of the Hot and Subprog programs,
// as this kernel loads them, to testdata/*.prog.json (go test -update).
func TestUpdateProgFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the fixtures")
	}
	for _, name := range []string{testprogs.Hot, testprogs.Subprog} {
		_, id := loadTestProg(t, name)
		info, err := readProgInfo(id)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile("/proc/kallsyms")
		if err != nil {
			t.Fatal(err)
		}
		kt, err := parseKallsyms(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		fx := progFixture{Info: *info}
		for _, a := range info.KsymAddrs {
			for _, b := range kt.bpf {
				if b.addr == a {
					fx.Ksyms = append(fx.Ksyms, fixtureSym{Addr: a, Name: b.name})
				}
			}
		}
		if len(fx.Ksyms) != len(info.KsymAddrs) {
			t.Fatalf("%s: kallsyms names %d of %d images", name, len(fx.Ksyms), len(info.KsymAddrs))
		}
		out, err := json.MarshalIndent(fx, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fixturePath(name), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newReal makes a Symbolizer of this machine, tracking no process.
func newReal(tb testing.TB) *Symbolizer {
	tb.Helper()
	testutil.RequireRoot(tb, "read kallsyms addresses and BPF program info")
	s, err := New(Options{PIDs: []int{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if s.KptrRestricted() {
		testutil.SkipOrFail(tb, "kallsyms addresses are hidden (kptr_restrict)")
	}
	if err := s.BPFStats().InfoErr; err != nil {
		tb.Fatal(err)
	}
	return s
}

// kallsymsAddr finds a symbol in /proc/kallsyms.
func kallsymsAddr(tb testing.TB, name string) uint64 {
	tb.Helper()
	syms, err := testutil.ReadKallsyms()
	if err != nil {
		tb.Fatal(err)
	}
	for _, ks := range syms {
		if ks.Name == name {
			return ks.Addr
		}
	}
	tb.Fatalf("no %s in kallsyms", name)
	return 0
}

func TestIntegrationKernel(t *testing.T) {
	s := newReal(t)
	if n := s.KernelSymbols(); n < 10000 {
		t.Errorf("only %d kernel symbols", n)
	}
	a := kallsymsAddr(t, "bpf_test_run")
	f := s.Kernel(a+3, 0)
	if f.Kind != KindKernel || f.Func != "bpf_test_run" || f.Offset != 3 || f.Mapping == nil || f.Mapping.File != kernelFile {
		t.Errorf("%+v", f)
	}
	t.Logf("kernel mapping %+v", *f.Mapping)
}

// checkProgram checks that every address of a loaded program's JIT images
// resolves to it, to its functions, and the marked line to the marker's
// line.
func checkProgram(t *testing.T, s *Symbolizer, info *progInfo, time uint64, file string, funcs []string, markFunc string, markLine int) {
	t.Helper()
	if len(info.KsymAddrs) != len(funcs) {
		t.Fatalf("%d JIT images, want %d", len(info.KsymAddrs), len(funcs))
	}
	marked := 0
	for i, start := range info.KsymAddrs {
		for addr := start; addr < start+uint64(info.FuncLens[i]); addr++ {
			f := s.Kernel(addr, time)
			if f.Kind != KindBPF || f.Prog == nil || f.Prog.ID != info.ID || f.Prog.Tag != info.Tag || f.Prog.Name != funcs[0] || f.Func != funcs[i] {
				t.Fatalf("%#x: %+v %+v, want %s of program %d", addr, f, f.Prog, funcs[i], info.ID)
			}
			if f.File != file || f.Line == 0 || f.Offset != addr-start {
				t.Fatalf("%#x: %s:%d +%#x", addr, f.File, f.Line, f.Offset)
			}
			if !strings.HasPrefix(f.SystemName, "bpf_prog_") || !strings.HasSuffix(f.SystemName, "_"+funcs[i]) {
				t.Fatalf("%#x: system name %q", addr, f.SystemName)
			}
			if f.Func == markFunc && int(f.Line) == markLine {
				marked++
			}
		}
	}
	// The JIT line table: every entry on the marked line resolves to it.
	for i, l := range info.Lines {
		if int(l.Line) != markLine {
			continue
		}
		if f := s.Kernel(info.JitedLines[i], time); int(f.Line) != markLine && info.JitedLines[i] != 0 {
			// Another line entry may start at the same address.
			same := false
			for j, o := range info.JitedLines {
				if o == info.JitedLines[i] && j > i {
					same = true
				}
			}
			if !same {
				t.Errorf("line entry %d at %#x resolves to line %d, want %d", i, info.JitedLines[i], f.Line, markLine)
			}
		}
	}
	if marked == 0 {
		t.Errorf("no address on %s:%d", file, markLine)
	}
	t.Logf("program %d: %d bytes on the marked line %s:%d", info.ID, marked, file, markLine)
}

func TestIntegrationHot(t *testing.T) {
	_, id := loadTestProg(t, testprogs.Hot)
	s := newReal(t)
	info, err := readProgInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	file, line, err := testprogs.Marker(testprogs.Hot, "hot")
	if err != nil {
		t.Fatal(err)
	}
	checkProgram(t, s, info, 0, file, []string{testprogs.HotFunc}, testprogs.HotFunc, line)
	f := s.Kernel(info.KsymAddrs[0], 0)
	if f.Prog.Type != "socket_filter" || f.Mapping.BuildID != info.Tag || f.Mapping.File != "[bpf] "+testprogs.HotFunc {
		t.Errorf("prog %+v mapping %+v", f.Prog, f.Mapping)
	}
	found := false
	for _, p := range s.Programs() {
		found = found || p.ID == id
	}
	if !found {
		t.Error("program not listed")
	}
}

func TestIntegrationSubprog(t *testing.T) {
	_, id := loadTestProg(t, testprogs.Subprog)
	s := newReal(t)
	info, err := readProgInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	file, line, err := testprogs.Marker(testprogs.Subprog, "sub-hot")
	if err != nil {
		t.Fatal(err)
	}
	checkProgram(t, s, info, 0, file, []string{testprogs.SubprogFunc, testprogs.SubprogSubFunc}, testprogs.SubprogSubFunc, line)
	// The subprogram's kernel symbol carries its own tag.
	f := s.Kernel(info.KsymAddrs[1], 0)
	if tag, _, _ := splitProgSym(f.SystemName); tag == info.Tag || tag == "" {
		t.Errorf("subprogram symbol %q", f.SystemName)
	}
}

// kallsymsNames returns the kallsyms names of JIT images.
func kallsymsNames(tb testing.TB) map[uint64]string {
	tb.Helper()
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		tb.Fatal(err)
	}
	kt, err := parseKallsyms(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	names := map[uint64]string{}
	for _, b := range kt.bpf {
		names[b.addr] = b.name
	}
	return names
}

// TestIntegrationLoadedLater loads a program after New and feeds the
// records the sampler would deliver; the program's info is read from the
// kernel on its BPF_EVENT, and it stays resolvable after it unloads.
func TestIntegrationLoadedLater(t *testing.T) {
	s := newReal(t)
	o, id := loadTestProg(t, testprogs.Subprog)
	info, err := readProgInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	names := kallsymsNames(t)
	fx := &progFixture{Info: *info}
	for _, a := range info.KsymAddrs {
		fx.Ksyms = append(fx.Ksyms, fixtureSym{Addr: a, Name: names[a]})
	}
	now := uint64(time.Now().UnixNano()) // any clock: only the order matters
	feed(s, loadRecords(fx, now))
	file, line, err := testprogs.Marker(testprogs.Subprog, "sub-hot")
	if err != nil {
		t.Fatal(err)
	}
	funcs := []string{testprogs.SubprogFunc, testprogs.SubprogSubFunc}
	checkProgram(t, s, info, now+10, file, funcs, testprogs.SubprogSubFunc, line)
	if st := s.BPFStats(); st.Loaded != 1 || st.InfoErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	feed(s, unloadRecords(fx, now+100))
	checkProgram(t, s, info, now+10, file, funcs, testprogs.SubprogSubFunc, line)
	if st := s.BPFStats(); st.Unloaded != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestIntegrationSampled samples the machine while the Hot program, loaded
// after sampling started, runs and then unloads, and resolves the samples
// afterwards: most of the program's samples are on the loop's line.
func TestIntegrationSampled(t *testing.T) {
	s := newReal(t)
	ev, err := sampler.ParseEvent("cpu-clock")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sampler.Open(sampler.Options{Events: []sampler.Event{ev}, Frequency: 4999, CallGraph: true})
	testutil.SkipIfNoPermission(t, err)
	testutil.SkipIfNotSupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	type sample struct {
		time   uint64
		kernel []uint64
	}
	var samples []sample // only the Run goroutine appends, until it ends
	var side []string
	var wantUnload atomic.Uint32 // the program, once loaded
	var unloadSeen atomic.Bool   // its unload was handled
	h := sampler.HandlerFunc(func(rec sampler.Record) {
		switch r := rec.(type) {
		case *sampler.KSymbol:
			side = append(side, fmt.Sprintf("KSYM t=%d cpu=%d %#x+%d unreg=%v %s", r.Time, r.CPU, r.Addr, r.Len, r.Unregister, r.Name))
		case *sampler.BPFEvent:
			side = append(side, fmt.Sprintf("BPFEV t=%d cpu=%d type=%d id=%d", r.Time, r.CPU, r.Type, r.ProgID))
		}
		s.HandleRecord(rec)
		if r, ok := rec.(*sampler.BPFEvent); ok && r.Type == sampler.BPFEventProgUnload && r.ProgID == wantUnload.Load() {
			unloadSeen.Store(true)
		}
		if sm, ok := rec.(*sampler.Sample); ok && len(sm.Kernel) > 0 {
			samples = append(samples, sample{sm.Time, slices.Clone(sm.Kernel)})
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()

	o, id := loadTestProg(t, testprogs.Hot)
	wantUnload.Store(id) // before the unload, which Run may handle at once
	info, err := readProgInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	// Until the kernel counted the run time that makes enough samples,
	// however busy the machine (a hang, not a measurement, ends it).
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := testprogs.DriveUntilRan(dctx, o.Program(), 500*time.Millisecond); err != nil {
		t.Error(err)
	}
	dcancel()
	// Set before the unload: its record may be handled before Close
	// returns.
	wantUnload.Store(id)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// Until the unload's record has been handled (a hang, not a
	// measurement, ends it).
	for deadline := time.Now().Add(2 * time.Minute); !unloadSeen.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the unload of the program never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	_, line, err := testprogs.Marker(testprogs.Hot, "hot")
	if err != nil {
		t.Fatal(err)
	}
	var inProg, onLine, underTestRun, logged int
	inRange := map[string]int{} // what samples in its JIT image resolve to
	for _, sm := range samples {
		for _, addr := range sm.kernel {
			if addr >= info.KsymAddrs[0] && addr < info.KsymAddrs[0]+uint64(info.FuncLens[0]) {
				f := s.Kernel(addr, sm.time)
				id := uint32(0)
				if f.Prog != nil {
					id = f.Prog.ID
				}
				inRange[fmt.Sprintf("%s of %d", f.Func, id)]++
			}
		}
		var prog *Frame
		for _, addr := range sm.kernel {
			f := s.Kernel(addr, sm.time)
			if prog == nil && f.Kind == KindBPF && f.Prog != nil && f.Prog.ID == id {
				prog = &f
			}
			if prog != nil && f.Func == "bpf_test_run" {
				underTestRun++
				break
			}
		}
		if prog == nil {
			continue
		}
		inProg++
		if prog.Func != testprogs.HotFunc || prog.File != "testdata/hot.bpf.c" {
			t.Fatalf("frame %+v", prog)
		}
		if int(prog.Line) == line {
			onLine++
		} else if logged < 5 {
			logged++
			t.Logf("sample at %d, %#x on line %d: %s", sm.time, prog.Addr, prog.Line, s.describeBPF(prog.Addr))
		}
	}
	st := s.BPFStats()
	t.Logf("%d samples, %d in the program (after it unloaded), %d on line %d, %d under bpf_test_run; stats %+v",
		len(samples), inProg, onLine, line, underTestRun, st)
	if inProg < 100 {
		t.Logf("samples in its image [%#x,+%d) resolve to %v", info.KsymAddrs[0], info.FuncLens[0], inRange)
		t.Logf("images there: %s", s.describeBPF(info.KsymAddrs[0]))
		for _, l := range side {
			t.Log(l) // the side-band records, as delivered
		}
		t.Fatalf("only %d samples in the program", inProg)
	}
	if onLine*2 <= inProg {
		t.Errorf("%d of %d samples on the hot line", onLine, inProg)
	}
	if underTestRun*2 <= inProg {
		t.Errorf("%d of %d samples under bpf_test_run", underTestRun, inProg)
	}
	if st.Loaded < 1 || st.Unloaded < 1 {
		t.Errorf("load and unload not seen: %+v", st)
	}
}
