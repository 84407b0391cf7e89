package symbolize

import "testing"

func TestKernelSymbolLookups(t *testing.T) {
	s := &Symbolizer{}
	s.kern.Store(loadKallsymsFixture(t, "kallsyms.txt"))
	for _, tc := range []struct {
		addr uint64
		name string
		off  uint64
		ok   bool
	}{
		{0xffffffff81001000, "bpf_test_run", 0, true},
		{0xffffffff81001010, "bpf_test_run", 0x10, true},
		{0xffffffffc0300410, "nft_register_expr", 0x10, true},
		{0x1000, "", 0, false},
	} {
		name, off, ok := s.KernelSymbol(tc.addr)
		if name != tc.name || off != tc.off || ok != tc.ok {
			t.Errorf("KernelSymbol(%#x) = %q, %#x, %v; want %q, %#x, %v", tc.addr, name, off, ok, tc.name, tc.off, tc.ok)
		}
	}
	if a, ok := s.KernelSymbolAddr("bpf_test_run"); a != 0xffffffff81001000 || !ok {
		t.Errorf("KernelSymbolAddr(bpf_test_run) = %#x, %v", a, ok)
	}
	if _, ok := s.KernelSymbolAddr("no_such_symbol"); ok {
		t.Error("KernelSymbolAddr found no_such_symbol")
	}
	s.kern.Store(loadKallsymsFixture(t, "kallsyms-restricted.txt"))
	if _, ok := s.KernelSymbolAddr("bpf_test_run"); ok {
		t.Error("KernelSymbolAddr found an address under kptr_restrict")
	}
}
