package symbolize

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

func TestBuildImage(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	img := buildImage(&fx.Info, fx.sysName)
	p := img.prog
	if p.ID != fx.Info.ID || p.Tag != fx.Info.Tag || p.Type != "xdp" || p.Name != "bpfprof_xdp_main" {
		t.Errorf("prog %+v", p)
	}
	if img.mapping.File != "[bpf] bpfprof_xdp_main" || img.mapping.BuildID != p.Tag || img.mapping.Kind != KindBPF {
		t.Errorf("mapping %+v", img.mapping)
	}
	if len(img.funcs) != 2 {
		t.Fatalf("%d functions, want 2", len(img.funcs))
	}
	main, sub := img.funcs[0], img.funcs[1]
	if main.name != "bpfprof_xdp_main" || main.sysName != fx.Ksyms[0].Name || main.guessed {
		t.Errorf("main function %q %q", main.name, main.sysName)
	}
	if sub.name != "bpfprof_xdp_sub" || sub.sysName != fx.Ksyms[1].Name || !strings.HasSuffix(sub.sysName, "_bpfprof_xdp_sub") {
		t.Errorf("subprogram %q %q", sub.name, sub.sysName)
	}
	if n := len(main.lines) + len(sub.lines); n != len(fx.Info.Lines) {
		t.Errorf("%d lines placed, want %d", n, len(fx.Info.Lines))
	}

	// Every address of each image resolves to its function, and to the
	// line whose code starts last at or before it.
	byAddr := slices.SortedFunc(slices.Values(img.funcs), func(a, b *bpfFunc) int { return cmp.Compare(a.addr, b.addr) })
	for _, f := range img.funcs {
		for addr := f.addr; addr < f.addr+f.size; addr++ {
			fr := funcAt(byAddr, addr).frame(addr)
			if fr.Func != f.name || fr.SystemName != f.sysName || fr.Offset != addr-f.addr || fr.Prog != p || fr.Mapping != img.mapping || fr.Kind != KindBPF {
				t.Fatalf("%#x: %+v", addr, fr)
			}
			want := -1
			for i := range fx.Info.Lines {
				if j := fx.Info.JitedLines[i]; j >= f.addr && j <= addr {
					want = i
				}
			}
			if want < 0 {
				t.Fatalf("%#x: no line at or before it in the fixture", addr)
			}
			l := fx.Info.Lines[want]
			if fr.File != l.File || fr.Line != l.Line || fr.Column != l.Col || fr.Source != l.Source {
				t.Fatalf("%#x: %s:%d:%d, want %s:%d:%d", addr, fr.File, fr.Line, fr.Column, l.File, l.Line, l.Col)
			}
		}
	}
	// The subprogram's loop is on the marked line.
	hot := 0
	for addr := sub.addr; addr < sub.addr+sub.size; addr++ {
		if fr := sub.frame(addr); strings.Contains(fr.Source, "MARK: sub-hot") {
			hot++
			if fr.File != "testdata/subprog.bpf.c" {
				t.Errorf("marked line in %q", fr.File)
			}
		}
	}
	if hot == 0 {
		t.Error("no address of the subprogram on the marked line")
	}
}

// TestProgInfoFullName: a program's name is the BTF name of its main
// function where the kernel's 15-byte name cuts it, not the kernel's.
func TestProgInfoFullName(t *testing.T) {
	info := progInfoOf(&bpfprog.Detail{ID: 7, Type: bpfprog.TypeXDP, Name: "bpfprof_hot_loo", FullName: "bpfprof_hot_loop_socket"})
	if info.Name != "bpfprof_hot_loop_socket" || info.Type != "xdp" {
		t.Errorf("name %q type %q, want bpfprof_hot_loop_socket, xdp", info.Name, info.Type)
	}
}

func TestBuildImagePrologue(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	info := fx.Info
	// Move the first line past a made-up prologue: the prologue still
	// belongs to the function's first line.
	info.JitedLines = append([]uint64(nil), info.JitedLines...)
	info.JitedLines[0] += 8
	img := buildImage(&info, nil)
	f := img.funcs[0]
	fr := f.frame(f.addr)
	if fr.Line != info.Lines[0].Line || fr.File != "testdata/hot.bpf.c" {
		t.Errorf("prologue at %s:%d, want line %d", fr.File, fr.Line, info.Lines[0].Line)
	}
	if f.sysName != "bpf_prog_"+info.Tag+"_bpfprof_hot_loop_socket" {
		t.Errorf("system name made up as %q", f.sysName)
	}
}

func TestBuildImageWithoutBTF(t *testing.T) {
	info := progInfo{ID: 7, Tag: "0011223344556677", Type: "kprobe", Name: "short_name",
		KsymAddrs: []uint64{0x1000, 0x2000}, FuncLens: []uint32{0x40, 0x20}}
	names := map[uint64]string{0x2000: "bpf_prog_8899aabbccddeeff_F"}
	img := buildImage(&info, func(a uint64) string { return names[a] })
	if img.prog.Name != "short_name" || img.funcs[0].name != "short_name" || img.funcs[1].name != "F" {
		t.Errorf("names %q %q %q", img.prog.Name, img.funcs[0].name, img.funcs[1].name)
	}
	if fr := img.funcs[1].frame(0x2004); fr.File != "" || fr.Line != 0 || fr.Func != "F" || fr.SystemName != names[0x2000] {
		t.Errorf("frame without line info: %+v", fr)
	}
	if img.mapping.Start != 0x1000 || img.mapping.Limit != 0x2020 {
		t.Errorf("mapping %+v", img.mapping)
	}
}

func TestSplitProgSym(t *testing.T) {
	for _, tc := range []struct {
		sym, tag, name string
		ok             bool
	}{
		{"bpf_prog_28b6ccef93e3e43f_bpfprof_xdp_main", "28b6ccef93e3e43f", "bpfprof_xdp_main", true},
		{"bpf_prog_28b6ccef93e3e43f", "28b6ccef93e3e43f", "", true},
		{"bpf_prog_28b6ccef93e3e43fx", "", "", false},
		{"bpf_prog_zzb6ccef93e3e43f_a", "", "", false},
		{"bpf_trampoline_6442500000", "", "", false},
	} {
		tag, name, ok := splitProgSym(tc.sym)
		if tag != tc.tag || name != tc.name || ok != tc.ok {
			t.Errorf("%s: %q %q %v", tc.sym, tag, name, ok)
		}
	}
	for _, tc := range []struct{ sym, name string }{
		{"bpf_trampoline_6442500000", "bpf_trampoline_6442500000"},
		{"bpf_dispatcher_xdp", "bpf_dispatcher_xdp"},
		{"bpf_prog_28b6ccef93e3e43f_x", "x"},
		{"bpf_prog_28b6ccef93e3e43f", "bpf_prog_28b6ccef93e3e43f"},
		{"", "[bpf]"},
	} {
		if f := newSymFunc(0x1000, 0x10, tc.sym, nil); f.name != tc.name || f.sysName == "" || f.mapping == nil {
			t.Errorf("%q: %q %q", tc.sym, f.name, f.sysName)
		}
	}
}

func TestBPFTableByTime(t *testing.T) {
	a := &bpfFunc{name: "a"}
	b := &bpfFunc{name: "b"}
	c := &bpfFunc{name: "c"}
	tab := newBPFTable([]bpfRange{
		{start: 0x1000, end: 0x1100, from: 100, until: 200, fn: a},
		{start: 0x1040, end: 0x1080, from: 200, until: 300, fn: b},
		{start: 0x1000, end: 0x1200, from: 300, until: openEnd, fn: c},
	})
	for _, tc := range []struct {
		addr, time uint64
		want       string
	}{
		{0x1000, 150, "a"},
		{0x1050, 150, "a"},
		{0x1050, 250, "b"},
		{0x1050, 350, "c"},
		{0x10f0, 250, "c"}, // b does not reach it; c is nearer in time than a
		{0x1150, 150, "c"}, // only c ever held it
		{0x1000, 90, "a"},  // a little before its record
		{0x1050, 0, "c"},   // now
		{0x1050, 199, "a"},
		{0x1050, 200, "b"},
	} {
		r := tab.lookup(tc.addr, tc.time)
		if r == nil || r.fn.name != tc.want {
			t.Errorf("%#x at %d: %v, want %s", tc.addr, tc.time, r, tc.want)
		}
	}
	if r := tab.lookup(0xfff, 150); r != nil {
		t.Errorf("below every range: %v", r)
	}
	if r := tab.lookup(0x1200, 350); r != nil {
		t.Errorf("past every range: %v", r)
	}
}

// fakeProgs is a progSource of fixtures.
type fakeProgs struct {
	loaded    []uint32 // listed, in id order
	infos     map[uint32]*progInfo
	nextCalls int
	err       error
}

func (f *fakeProgs) next(id uint32) (uint32, bool, error) {
	f.nextCalls++
	if f.err != nil {
		return 0, false, f.err
	}
	for _, l := range f.loaded {
		if l > id {
			return l, true, nil
		}
	}
	return 0, false, nil
}

func (f *fakeProgs) info(id uint32) (*progInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	if i, ok := f.infos[id]; ok {
		return i, nil
	}
	return nil, fmt.Errorf("program %d: %w", id, errs.ErrNotFound)
}

// fakeProc makes a procfs with the kallsyms fixture and no process.
func fakeProc(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	data, err := os.ReadFile("testdata/kallsyms.txt")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func newFake(tb testing.TB, src *fakeProgs) *Symbolizer {
	tb.Helper()
	s, err := newSymbolizer(Options{ProcDir: fakeProc(tb), PIDs: []int{}}, src)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// loadRecords are the records of a program loading at time t, as the
// sampler delivers them: one KSYMBOL per JIT image, then the BPF_EVENT.
func loadRecords(fx *progFixture, t uint64) []sampler.Record {
	var rs []sampler.Record
	for i, a := range fx.Info.KsymAddrs {
		rs = append(rs, &sampler.KSymbol{Common: sampler.Common{Time: t}, Addr: a, Len: fx.Info.FuncLens[i], Type: sampler.KSymbolBPF, Name: fx.sysName(a)})
	}
	ev := &sampler.BPFEvent{Common: sampler.Common{Time: t + 1}, Type: sampler.BPFEventProgLoad, ProgID: fx.Info.ID}
	copy(ev.Tag[:], mustHex(fx.Info.Tag))
	return append(rs, ev)
}

// unloadRecords are the records of a program unloading at time t.
func unloadRecords(fx *progFixture, t uint64) []sampler.Record {
	var rs []sampler.Record
	for i, a := range fx.Info.KsymAddrs {
		rs = append(rs, &sampler.KSymbol{Common: sampler.Common{Time: t}, Addr: a, Len: fx.Info.FuncLens[i], Type: sampler.KSymbolBPF, Unregister: true, Name: fx.sysName(a)})
	}
	ev := &sampler.BPFEvent{Common: sampler.Common{Time: t + 1}, Type: sampler.BPFEventProgUnload, ProgID: fx.Info.ID}
	copy(ev.Tag[:], mustHex(fx.Info.Tag))
	return append(rs, ev)
}

func mustHex(s string) []byte {
	var b []byte
	for i := 0; i+1 < len(s); i += 2 {
		var v byte
		fmt.Sscanf(s[i:i+2], "%02x", &v)
		b = append(b, v)
	}
	return b
}

func feed(s *Symbolizer, rs []sampler.Record) {
	for _, r := range rs {
		s.HandleRecord(r)
	}
}

// otherProg is the fixture as another program loaded later at the same
// addresses: JIT ranges are reused.
func otherProg(fx *progFixture) *progFixture {
	o := *fx
	o.Info.ID += 1000
	o.Info.Tag = "00112233445566ff"
	o.Info.Funcs = append([]progFunc(nil), fx.Info.Funcs...)
	o.Info.Funcs[0].Name = "other_main"
	o.Ksyms = append([]fixtureSym(nil), fx.Ksyms...)
	o.Ksyms[0].Name = "bpf_prog_00112233445566ff_other_main"
	return &o
}

func TestSymbolizerBPFLifetime(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	other := otherProg(fx)
	src := &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info, other.Info.ID: &other.Info}}
	s := newFake(t, src)
	sub := fx.Info.KsymAddrs[1] + 10
	main := fx.Info.KsymAddrs[0] + 4

	if f := s.Kernel(sub, 50); f.Func != unknownFunc {
		t.Errorf("before loading: %+v", f)
	}
	feed(s, loadRecords(fx, 100))
	check := func(addr, time uint64, fn string, id uint32) {
		t.Helper()
		f := s.Kernel(addr, time)
		if f.Kind != KindBPF || f.Func != fn || f.Prog == nil || f.Prog.ID != id {
			t.Errorf("%#x at %d: %s (%+v), want %s of program %d", addr, time, f.Func, f.Prog, fn, id)
		}
	}
	check(sub, 150, "bpfprof_xdp_sub", fx.Info.ID)
	check(main, 150, "bpfprof_xdp_main", fx.Info.ID)
	check(sub, 95, "bpfprof_xdp_sub", fx.Info.ID) // a sample a little older than the KSYMBOL
	if f := s.Kernel(sub, 150); f.SystemName != fx.Ksyms[1].Name || f.File != "testdata/subprog.bpf.c" || f.Line == 0 {
		t.Errorf("subprogram frame %+v", f)
	}

	feed(s, unloadRecords(fx, 200))
	check(sub, 150, "bpfprof_xdp_sub", fx.Info.ID)
	check(sub, 250, "bpfprof_xdp_sub", fx.Info.ID) // nothing else held it

	feed(s, loadRecords(other, 300))
	check(main, 350, "other_main", other.Info.ID)
	check(sub, 350, "bpfprof_xdp_sub", other.Info.ID)
	check(main, 150, "bpfprof_xdp_main", fx.Info.ID)
	check(sub, 150, "bpfprof_xdp_sub", fx.Info.ID)
	check(main, 0, "other_main", other.Info.ID)

	progs := s.Programs()
	if len(progs) != 2 || progs[0].ID != fx.Info.ID || progs[1].ID != other.Info.ID || progs[1].Name != "other_main" {
		t.Errorf("programs %+v", progs)
	}
	if st := s.BPFStats(); st.Loaded != 2 || st.Unloaded != 1 || st.AtStart != 0 {
		t.Errorf("stats %+v", st)
	}
	// Frames share their strings and pointers.
	a, b := s.Kernel(sub, 150), s.Kernel(sub+1, 150)
	if a.Prog != b.Prog || a.Mapping != b.Mapping {
		t.Error("frames of one program do not share Prog and Mapping")
	}
}

func TestSymbolizerBPFEventFirst(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	src := &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}
	s := newFake(t, src)
	rs := loadRecords(fx, 100)
	// The BPF_EVENT from one CPU before the KSYMBOLs from another.
	feed(s, append(rs[len(rs)-1:], rs[:len(rs)-1]...))
	f := s.Kernel(fx.Info.KsymAddrs[1]+10, 150)
	if f.Func != "bpfprof_xdp_sub" || f.SystemName != fx.Ksyms[1].Name || f.Line == 0 {
		t.Errorf("subprogram %+v", f)
	}
	n := len(s.bpfIdx.byStart[fx.Info.KsymAddrs[0]]) + len(s.bpfIdx.byStart[fx.Info.KsymAddrs[1]])
	if n != 2 {
		t.Errorf("%d ranges for 2 images", n)
	}
}

func TestSymbolizerVanishedProgram(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	s := newFake(t, &fakeProgs{}) // its info is never readable
	feed(s, loadRecords(fx, 100))
	f := s.Kernel(fx.Info.KsymAddrs[0]+4, 150)
	if f.Func != "bpfprof_xdp_main" || f.SystemName != fx.Ksyms[0].Name || f.Prog == nil || f.Prog.ID != fx.Info.ID || f.Prog.Tag != fx.Info.Tag {
		t.Errorf("main by symbol: %+v %+v", f, f.Prog)
	}
	if f := s.Kernel(fx.Info.KsymAddrs[1]+4, 150); f.Func != "bpfprof_xdp_sub" || f.Kind != KindBPF {
		t.Errorf("subprogram by symbol: %+v", f)
	}
	if st := s.BPFStats(); st.InfoErrors != 1 || st.Loaded != 1 {
		t.Errorf("stats %+v", st)
	}
	feed(s, unloadRecords(fx, 200))
	if f := s.Kernel(fx.Info.KsymAddrs[0]+4, 150); f.Func != "bpfprof_xdp_main" {
		t.Errorf("after unload: %+v", f)
	}
}

func TestSymbolizerTrampoline(t *testing.T) {
	s := newFake(t, &fakeProgs{})
	s.HandleRecord(&sampler.KSymbol{Common: sampler.Common{Time: 10}, Addr: 0xffffffffc0600000, Len: 4096, Type: sampler.KSymbolOOL, Name: "bpf_trampoline_6442500001"})
	f := s.Kernel(0xffffffffc0600010, 20)
	if f.Func != "bpf_trampoline_6442500001" || f.Kind != KindBPF || f.Prog != nil || f.Mapping == nil || f.Offset != 0x10 {
		t.Errorf("trampoline %+v", f)
	}
	// From kallsyms at the start.
	for addr, want := range map[uint64]string{
		0xffffffffc0026084: "bpf_dispatcher_xdp",
		0xffffffffc0500010: "bpf_trampoline_6442500000",
		0xffffffffc0400010: "bpfprof_xdp_main",
		0xffffffffc0400090: "bpfprof_xdp_sub",
	} {
		if f := s.Kernel(addr, 20); f.Func != want || f.Kind != KindBPF {
			t.Errorf("%#x: %+v, want %s", addr, f, want)
		}
	}
	// Kernel symbols are not hidden by the BPF table.
	if f := s.Kernel(0xffffffff81001010, 20); f.Func != "bpf_test_run" || f.Kind != KindKernel || f.Mapping.File != kernelFile {
		t.Errorf("kernel %+v", f)
	}
}

func TestSymbolizerRefresh(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	src := &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}
	s := newFake(t, src)
	addr := fx.Info.KsymAddrs[0] + 8
	// Loaded after New, its records lost: the first unknown address reads
	// the list of programs again.
	src.loaded = []uint32{fx.Info.ID}
	if f := s.Kernel(addr, 100); f.Func != "bpfprof_hot_loop_socket" || f.Prog == nil {
		t.Errorf("after refresh: %+v", f)
	}
	if st := s.BPFStats(); st.Refreshed != 1 {
		t.Errorf("stats %+v", st)
	}
	// Rate-limited: another unknown address does not list them again.
	before := src.nextCalls
	s.Kernel(0xffffffffc0700000, 100)
	if src.nextCalls != before {
		t.Errorf("refresh not rate-limited: %d calls to next", src.nextCalls-before)
	}
}

func TestSymbolizerAtStart(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	src := &fakeProgs{loaded: []uint32{fx.Info.ID}, infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}
	s := newFake(t, src)
	if st := s.BPFStats(); st.AtStart != 1 {
		t.Errorf("stats %+v", st)
	}
	f := s.Kernel(fx.Info.KsymAddrs[1]+4, 12345)
	if f.Func != "bpfprof_xdp_sub" || f.Prog == nil || f.Prog.Type != "xdp" {
		t.Errorf("%+v", f)
	}
	// Its unload while recording ends it, but it stays resolvable.
	feed(s, unloadRecords(fx, 200))
	if f := s.Kernel(fx.Info.KsymAddrs[1]+4, 150); f.Func != "bpfprof_xdp_sub" {
		t.Errorf("after unload %+v", f)
	}
}

func TestSymbolizerPermission(t *testing.T) {
	src := &fakeProgs{err: fmt.Errorf("list: %w", errs.ErrPermission)}
	s := newFake(t, src)
	if err := s.BPFStats().InfoErr; !errors.Is(err, errs.ErrPermission) {
		t.Errorf("InfoErr %v", err)
	}
	// Kernel symbols still work, and nothing retries the kernel.
	if f := s.Kernel(0xffffffff81001010, 0); f.Func != "bpf_test_run" {
		t.Errorf("%+v", f)
	}
	calls := src.nextCalls
	s.Kernel(0xffffffffc0700000, 1)
	if src.nextCalls != calls {
		t.Error("refreshed after a permission error")
	}
}

func TestSymbolizerRestricted(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/kallsyms-restricted.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	src := &fakeProgs{}
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{}}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.KptrRestricted() {
		t.Error("not restricted")
	}
	if src.nextCalls != 0 {
		t.Error("listed programs without kernel addresses")
	}
	if f := s.Kernel(0xffffffff81001010, 0); f.Func != unknownFunc || f.Kind != KindKernel || f.Mapping == nil {
		t.Errorf("%+v", f)
	}
}

func TestSymbolizerClose(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	src := &fakeProgs{loaded: []uint32{fx.Info.ID}, infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}
	s := newFake(t, src)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if f := s.Kernel(fx.Info.KsymAddrs[0], 0); f.Func != unknownFunc {
		t.Errorf("after Close: %+v", f)
	}
	feed(s, loadRecords(fx, 10))
	if len(s.Programs()) != 0 {
		t.Error("programs after Close")
	}
}

// TestSymbolizerConcurrent resolves on one goroutine while records arrive
// on another (run with -race).
func TestSymbolizerConcurrent(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	// The same program loaded again and again: new ids, same addresses.
	var fxs []*progFixture
	src := &fakeProgs{infos: map[uint32]*progInfo{}}
	for i := range uint32(200) {
		f := *fx
		f.Info.ID = 5000 + i
		fxs = append(fxs, &f)
		src.infos[f.Info.ID] = &f.Info
	}
	s := newFake(t, src)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, f := range fxs {
			feed(s, loadRecords(f, 1000*uint64(i)))
			feed(s, unloadRecords(f, 1000*uint64(i)+500))
		}
	}()
	addr := fx.Info.KsymAddrs[1] + 3
	for i := 0; ; i++ {
		select {
		case <-done:
			if f := s.Kernel(addr, 1000*150+10); f.Func != "bpfprof_xdp_sub" || f.Prog == nil || f.Prog.ID != 5150 || f.Line == 0 {
				t.Errorf("%+v", f)
			}
			return
		default:
		}
		if f := s.Kernel(addr, uint64(i)); f.Func == "" {
			t.Fatal("empty name")
		}
		s.Programs()
		s.User(1, 0x1000, 0)
		s.Comm(1)
	}
}

// TestBPFTableMatchesBruteForce checks the grouped search against the rule
// applied to every range, on random histories of reused slots.
func TestBPFTableMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		var ranges []bpfRange
		for range 1 + rng.IntN(40) {
			start := uint64(0x1000 + 0x40*rng.IntN(8))
			end := start + uint64(0x40*(1+rng.IntN(3)))
			// Times in units of a fifth of the slack, so that some
			// lookups fall beyond it.
			unit := timeSlack / 5
			from := unit * uint64(rng.IntN(1000))
			until := uint64(openEnd)
			if rng.IntN(4) > 0 {
				until = from + unit*uint64(rng.IntN(300))
			}
			ranges = append(ranges, bpfRange{start: start, end: end, from: from, until: until, fn: &bpfFunc{}})
		}
		tab := newBPFTable(ranges)
		for range 200 {
			addr := uint64(0x1000 + rng.IntN(0x300))
			time := timeSlack/5*uint64(rng.IntN(1400)) + uint64(rng.IntN(int(timeSlack/5)))
			if rng.IntN(10) == 0 {
				time = 0
			}
			var want *bpfRange
			var wantD uint64
			for i := range ranges {
				r := &ranges[i]
				if addr < r.start || addr >= r.end {
					continue
				}
				if d := r.distance(time); want == nil || d < wantD || (d == wantD && r.from > want.from) {
					want, wantD = r, d
				}
			}
			if wantD > timeSlack {
				want = nil
			}
			got := tab.lookup(addr, time)
			switch {
			case got == nil && want == nil:
			case got == nil || want == nil:
				t.Fatalf("round %d: %#x at %d: got %v, want %v", round, addr, time, got, want)
			case got.distance(time) != wantD || got.from != want.from:
				t.Fatalf("round %d: %#x at %d: got %+v (d %d), want %+v (d %d)", round, addr, time, *got, got.distance(time), *want, wantD)
			}
		}
	}
}

func TestSymbolizerTimeSlack(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	s := newFake(t, &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}})
	const sec = uint64(time.Second)
	feed(s, loadRecords(fx, 10*sec))
	feed(s, unloadRecords(fx, 20*sec))
	addr := fx.Info.KsymAddrs[0] + 8
	for _, tc := range []struct {
		time  uint64
		known bool
	}{
		{10*sec - sec/100, true}, // a little before its KSYMBOL
		{10*sec - sec, false},    // long before: some image never seen
		{15 * sec, true},
		{20*sec + sec/100, true}, // still running on another CPU
		{21 * sec, false},        // long after: a later occupant never seen
	} {
		f := s.Kernel(addr, tc.time)
		if known := f.Prog != nil && f.Prog.ID == fx.Info.ID; known != tc.known {
			t.Errorf("at %v: %+v, want known %v", time.Duration(tc.time), f, tc.known)
		}
	}
}

// TestSymbolizerUnseenUnregister: an image unregistering without having
// been seen (loaded between New and the start of sampling) keeps its
// samples from being taken for the next occupant of its addresses.
func TestSymbolizerUnseenUnregister(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	s := newFake(t, &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}})
	const sec = uint64(time.Second)
	addr := fx.Info.KsymAddrs[0]
	s.HandleRecord(&sampler.KSymbol{Common: sampler.Common{Time: 5 * sec}, Addr: addr, Len: 200, Type: sampler.KSymbolBPF, Unregister: true, Name: "bpf_prog_0123456789abcdef_unseen"})
	feed(s, loadRecords(fx, 5*sec+sec/1000))
	if f := s.Kernel(addr+8, 4*sec); f.Func != "unseen" || f.Prog != nil {
		t.Errorf("before: %+v", f)
	}
	if f := s.Kernel(addr+8, 6*sec); f.Func != "bpfprof_hot_loop_socket" || f.Prog == nil {
		t.Errorf("after: %+v", f)
	}
}

// TestSymbolizerLateUnregister: an identical program (same tag and name)
// held the addresses before; its unregister record comes after the new
// one's register. It must not end the new one.
func TestSymbolizerLateUnregister(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	s := newFake(t, &fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}})
	const sec = uint64(time.Second)
	feed(s, loadRecords(fx, 10*sec))
	addr := fx.Info.KsymAddrs[0]
	s.HandleRecord(&sampler.KSymbol{Common: sampler.Common{Time: 9 * sec}, Addr: addr, Len: fx.Info.FuncLens[0], Type: sampler.KSymbolBPF, Unregister: true, Name: fx.sysName(addr)})
	if f := s.Kernel(addr+8, 11*sec); f.Prog == nil || f.Prog.ID != fx.Info.ID {
		t.Errorf("after: %+v", f)
	}
	if f := s.Kernel(addr+8, 8*sec); f.Prog != nil || f.Func != "bpfprof_hot_loop_socket" {
		t.Errorf("before, the unseen twin: %+v", f)
	}
}

func TestFrameString(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	img := buildImage(&fx.Info, fx.sysName)
	sub := img.funcs[1]
	got := sub.frame(sub.addr + 0x16).String()
	want := fmt.Sprintf("bpfprof_xdp_sub+0x16 testdata/subprog.bpf.c:25:55 (prog %d) [[bpf] bpfprof_xdp_main]", fx.Info.ID)
	if got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := (Frame{Func: "[unknown]"}).String(); got != "[unknown]" {
		t.Errorf("%q", got)
	}
}

// TestSymbolizerBPFChurnBounded: while programs load and unload for a
// long time, the images held stay bounded by those of the last
// bpfRetention, and a program that samples hit stays resolvable by its
// time until Close, even for a sample a little out of order.
func TestSymbolizerBPFChurnBounded(t *testing.T) {
	const n = 3000
	src, fxs := churnFixtures(t, n)
	s := newFake(t, src)
	start := s.bpfIdx.n
	churn(s, fxs) // samples hit every tenth program

	// Programs unloaded within the retention window, and those hit.
	window := int(bpfRetention/churnPeriod) + 2
	maxEntries := start + 2*(window+n/10)
	if got := s.bpfIdx.n; got > maxEntries {
		t.Errorf("%d images held after %d programs, want at most %d", got, n, maxEntries)
	}
	s.mu.Lock()
	images := 0
	for _, e := range s.progs {
		if e.img != nil {
			images++
		}
	}
	s.mu.Unlock()
	if maxImages := window + n/10; images > maxImages {
		t.Errorf("%d program images held, want at most %d", images, maxImages)
	}
	t.Logf("%d images and %d program images held after %d programs", s.bpfIdx.n, images, n)
	if got := len(s.Programs()); got != n {
		t.Errorf("%d programs listed, want %d", got, n)
	}

	check := func(i int, dt uint64, hit bool) {
		t.Helper()
		f := fxs[i]
		at := uint64(i+1)*churnPeriod + dt
		fr := s.Kernel(f.Info.KsymAddrs[1]+3, at)
		got := fr.Prog != nil && fr.Prog.ID == f.Info.ID
		if got != hit {
			t.Errorf("program %d at %v: %+v, want resolved %v%s", i, time.Duration(at), fr, hit, s.describeBPF(f.Info.KsymAddrs[1]+3))
		}
		if hit && (fr.Func != "bpfprof_xdp_sub" || fr.Line == 0) {
			t.Errorf("program %d: %+v", i, fr)
		}
	}
	check(100, churnPeriod/4, true)                             // as sampled
	check(100, churnPeriod/8, true)                             // another time it ran
	check(100, churnPeriod/2+20*uint64(time.Millisecond), true) // just after its unload
	check(n-1, churnPeriod/4, true)                             // the last, within the window
	check(n-2, churnPeriod/4, true)
	check(101, churnPeriod/4, false) // never sampled, long gone
	if st := s.BPFStats(); st.Loaded != n || st.Unloaded != n {
		t.Errorf("stats %+v", st)
	}
}
