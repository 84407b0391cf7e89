package symbolize

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadKallsymsFixture(tb testing.TB, name string) *kernelTable {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	kt, err := parseKallsyms(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return kt
}

func TestParseKallsyms(t *testing.T) {
	kt := loadKallsymsFixture(t, "kallsyms.txt")
	if kt.restricted {
		t.Fatal("restricted")
	}
	if kt.skipped != 2 {
		t.Errorf("skipped %d lines, want 2", kt.skipped)
	}
	// Text symbols only, one per address: 3 aliases at _stext count once,
	// so do __local_alias and weak_func; D and A are not text.
	if got, want := kt.len(), 15; got != want {
		for i := range kt.len() {
			t.Logf("%x %s", kt.addrs[i], kt.name(i))
		}
		t.Fatalf("%d symbols, want %d", got, want)
	}
	for i := 1; i < kt.len(); i++ {
		if kt.addrs[i] <= kt.addrs[i-1] {
			t.Fatalf("not sorted at %d", i)
		}
	}
	var bpf []string
	for _, b := range kt.bpf {
		bpf = append(bpf, b.name)
	}
	if got, want := strings.Join(bpf, " "), "bpf_prog_28b6ccef93e3e43f_bpfprof_xdp_main bpf_prog_0123456789abcdef_bpfprof_xdp_sub bpf_dispatcher_xdp bpf_trampoline_6442500000"; got != want {
		t.Errorf("bpf entries %q, want %q", got, want)
	}

	for _, tc := range []struct {
		addr   uint64
		name   string
		off    uint64
		module string
	}{
		{0xffffffff81000000, "srso_alias_untrain_ret", 0, kernelFile},
		{0xffffffff81000005, "srso_alias_untrain_ret", 5, kernelFile},
		{0xffffffff81000018, "__pfx_entry_SYSCALL_64", 8, kernelFile},
		{0xffffffff81000020, "entry_SYSCALL_64", 0, kernelFile},
		{0xffffffff81000401, "listed_out_of_order", 1, kernelFile},
		{0xffffffff81001010, "bpf_test_run", 0x10, kernelFile},
		{0xffffffff81001234, "weak_func", 0x34, kernelFile},
		{0xffffffff83783020, "init_only_func", 0x10, kernelFile},
		{0xffffffffc0201010, "ftrace_trampoline", 0x10, "[__builtin__ftrace]"},
		{0xffffffffc0300410, "nft_register_expr", 0x10, "[nf_tables]"},
		{0xffffffffc0310abc, "nf_conntrack_in", 0xabc, "[nf_conntrack]"},
	} {
		f, ok := kt.frame(tc.addr)
		if !ok {
			t.Errorf("%#x: not found", tc.addr)
			continue
		}
		if f.Func != tc.name || f.Offset != tc.off || f.Kind != KindKernel || f.Mapping == nil || f.Mapping.File != tc.module {
			t.Errorf("%#x: %s+%#x in %v, want %s+%#x in %s", tc.addr, f.Func, f.Offset, f.Mapping, tc.name, tc.off, tc.module)
		}
	}
	// Below the first symbol, and in JIT images between and after modules:
	// nothing the kernel table may name.
	for _, addr := range []uint64{0x1000, 0xffffffff80ffffff, 0xffffffffc0400010, 0xffffffffc0500000, 0xffffffffff600000} {
		if f, ok := kt.frame(addr); ok {
			t.Errorf("%#x resolved to %s+%#x, want not found", addr, f.Func, f.Offset)
		}
	}
	if m := kt.kernelMapping(); m.File != kernelFile || m.Start != 0xffffffff81000000 || m.Limit != 0xffffffff837f8910+regionSlack {
		t.Errorf("kernel mapping %+v", m)
	}
}

func TestParseKallsymsRestricted(t *testing.T) {
	kt := loadKallsymsFixture(t, "kallsyms-restricted.txt")
	if !kt.restricted {
		t.Fatal("zeroed addresses not detected")
	}
	if kt.len() != 0 || len(kt.bpf) != 0 {
		t.Errorf("restricted table holds %d symbols, %d bpf", kt.len(), len(kt.bpf))
	}
	if _, ok := kt.frame(0xffffffff81000000); ok {
		t.Error("restricted table resolved an address")
	}
	if kt.kernelMapping() == nil {
		t.Error("no kernel mapping")
	}
}

func TestParseKallsymsEdges(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		syms     int
		skipped  int
	}{
		{"empty", "", 0, 0},
		{"no newline at end", "ffffffff81000000 T a", 1, 0},
		{"crlf", "ffffffff81000000 T a\r\n", 1, 0},
		{"long line", "ffffffff81000000 T " + strings.Repeat("x", 70000) + "\nffffffff81000010 T b\n", 1, 1},
		{"bad hex", "ffffffff8100000g T a\n", 0, 1},
		{"too long address", "1ffffffff81000000 T a\n", 0, 1},
		{"bad module", "ffffffff81000000 T a\t[mod\n", 0, 1},
		{"short module", "ffffffff81000000 T a\t[]\n", 0, 1},
		{"32-bit addresses", "c1000000 T a\nc1000100 t b\n", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kt, err := parseKallsyms(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if kt.len() != tc.syms || kt.skipped != tc.skipped {
				t.Errorf("%d symbols, %d skipped; want %d, %d", kt.len(), kt.skipped, tc.syms, tc.skipped)
			}
		})
	}
}

func TestParseModules(t *testing.T) {
	in := "nf_tables 356352 0 - Live 0xffffffffc0300000\nnf_conntrack 200000 1 nf_tables, Live 0xffffffffc0310000 (O)\nbroken line\n"
	mods, err := parseModules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2 || mods[0].name != "nf_tables" || mods[0].size != 356352 || mods[1].base != 0xffffffffc0310000 {
		t.Fatalf("modules %+v", mods)
	}
	kt := loadKallsymsFixture(t, "kallsyms.txt")
	kt.applyModules(mods)
	// nf_tables' last symbol is at +0x400; /proc/modules says it is
	// 356352 bytes long.
	f, ok := kt.frame(0xffffffffc0300000 + 0x8000)
	if !ok || f.Func != "nft_register_expr" || f.Mapping.Limit != 0xffffffffc0300000+356352 {
		t.Errorf("module address: %+v, %v", f, ok)
	}
}

// FuzzKallsyms checks that any input parses without panicking, that an
// error comes with a nil table, and that every symbol held resolves to
// itself.
func FuzzKallsyms(f *testing.F) {
	for _, name := range []string{"kallsyms.txt", "kallsyms-restricted.txt"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("ffffffff81000000 T a\nffffffff81000000 t b\t[m]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kt, err := parseKallsyms(bytes.NewReader(data))
		if err != nil {
			if kt != nil {
				t.Fatal("error with a table")
			}
			return
		}
		if len(kt.addrs) != len(kt.ends) || len(kt.addrs) != len(kt.mods) {
			t.Fatal("columns of different lengths")
		}
		for i := range kt.len() {
			if i > 0 && kt.addrs[i] <= kt.addrs[i-1] {
				t.Fatalf("not sorted at %d", i)
			}
			if kt.name(i) == "" {
				t.Fatalf("symbol %d has no name", i)
			}
			j, ok := kt.lookup(kt.addrs[i])
			if !ok || j != i {
				t.Fatalf("symbol %d at %#x resolves to %d, %v", i, kt.addrs[i], j, ok)
			}
			if int(kt.mods[i]) >= len(kt.regions) {
				t.Fatalf("symbol %d in module %d of %d", i, kt.mods[i], len(kt.regions))
			}
		}
		for _, r := range kt.regions {
			if r.mapping == nil {
				t.Fatal("region without mapping")
			}
		}
		kt.frame(0)
		kt.frame(^uint64(0))
	})
}

// TestKernelModuleLoaded: a module loaded after New is named once an
// address in it is met (kallsyms read again, on another goroutine), and
// kallsyms is read again at most once per interval.
func TestKernelModuleLoaded(t *testing.T) {
	dir := fakeProc(t)
	s, err := newSymbolizer(Options{ProcDir: dir, NoBPF: true, PIDs: []int{}}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const addr = 0xffffffffc0700010
	if f := s.Kernel(addr, 0); f.Func != unknownFunc {
		t.Fatalf("before the module: %+v", f)
	}
	// That lookup read kallsyms again and found nothing new; the module
	// loads now.
	s.bg.Wait()
	data, err := os.ReadFile(filepath.Join(dir, "kallsyms"))
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "ffffffffc0700000 t newmod_func\t[newmod]\n"...)
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Rate-limited: not read again yet; and since that read found nothing
	// new, the next waits twice as long.
	if f := s.Kernel(addr, 0); f.Func != unknownFunc || s.kernelReloads() != 1 {
		t.Fatalf("read again within the interval: %+v, %d reads", f, s.kernelReloads())
	}
	if got := time.Duration(s.kernRefreshEvery.Load()); got != 2*kernelRefreshInterval {
		t.Errorf("after a read that found nothing new, the wait is %v, want %v", got, 2*kernelRefreshInterval)
	}
	s.kernRefreshed.Store(1) // the interval has passed
	s.Kernel(addr, 0)
	s.bg.Wait()
	if f := s.Kernel(addr, 0); f.Func != "newmod_func" || f.Offset != 0x10 || f.Mapping == nil || f.Mapping.File != "[newmod]" {
		t.Errorf("after the module loaded: %+v %+v", f, f.Mapping)
	}
	if n := s.kernelReloads(); n != 2 {
		t.Errorf("%d reads of kallsyms, want 2", n)
	}
	if got := time.Duration(s.kernRefreshEvery.Load()); got != kernelRefreshInterval {
		t.Errorf("after a read that found a module, the wait is %v, want %v again", got, kernelRefreshInterval)
	}
}

func (s *Symbolizer) kernelReloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kernReloads
}

// FuzzModules parses arbitrary /proc/modules contents: every module kept
// has a name without spaces and parses back from a line written as the
// kernel writes it; widening a kernel table's regions by them keeps each
// region's start below its limit.
func FuzzModules(f *testing.F) {
	f.Add("nf_tables 356352 0 - Live 0xffffffffc0300000\nnf_conntrack 200000 1 nf_tables, Live 0xffffffffc0310000 (O)\nbroken line\n")
	f.Add("nf_tables 18446744073709551615 0 - Live 0xffffffffffffff00\nx 1 0 - Loading 0x0000000000000000\n")
	f.Add("a 10 0 - Live ffffffffc0300000\nb -1 0 - Live 0x10\n")
	kt := loadKallsymsFixture(f, "kallsyms.txt")
	f.Fuzz(func(t *testing.T, in string) {
		mods, err := parseModules(strings.NewReader(in))
		if err != nil {
			if mods != nil {
				t.Fatalf("modules %v with error %v", mods, err)
			}
			return
		}
		var back strings.Builder
		for _, m := range mods {
			if m.name == "" || strings.ContainsAny(m.name, " \t\n\r\v\f") {
				t.Fatalf("module name %q", m.name)
			}
			fmt.Fprintf(&back, "%s %d 0 - Live 0x%016x\n", m.name, m.size, m.base)
		}
		again, err := parseModules(strings.NewReader(back.String()))
		if err != nil || !slices.Equal(again, mods) {
			t.Fatalf("%+v written back parses as %+v, %v", mods, again, err)
		}
		c := *kt
		c.regions = slices.Clone(kt.regions)
		for i := range c.regions {
			m := *c.regions[i].mapping
			c.regions[i].mapping = &m
		}
		c.applyModules(mods)
		for _, r := range c.regions {
			if r.start > r.limit || r.mapping.Start != r.start || r.mapping.Limit != r.limit {
				t.Fatalf("region %s: %#x-%#x, mapping %#x-%#x", r.name, r.start, r.limit, r.mapping.Start, r.mapping.Limit)
			}
		}
	})
}
