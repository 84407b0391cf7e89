package symbolize

// KernelSymbol names the kernel or module text symbol holding addr, with
// addr's offset into it; ok false where no symbol does (BPF images are not
// looked at). It serves listings that name call targets in JIT code. An
// Offline Symbolizer takes addr as one of the recording's boot.
func (s *Symbolizer) KernelSymbol(addr uint64) (name string, off uint64, ok bool) {
	k := s.kern.Load()
	addr += k.shift
	i, ok := k.lookup(addr)
	if !ok {
		return "", 0, false
	}
	return k.name(i), addr - k.addrs[i], true
}

// KernelSymbolAddr returns the address of the kernel text symbol name, such
// as __bpf_call_base; ok false if the table has none (or kptr_restrict hid
// the addresses). It scans the whole table: for a few names once, not per
// sample.
func (s *Symbolizer) KernelSymbolAddr(name string) (uint64, bool) {
	k := s.kern.Load()
	if k.restricted {
		return 0, false
	}
	for i := range k.addrs {
		if k.name(i) == name {
			return k.addrs[i], true
		}
	}
	return 0, false
}
