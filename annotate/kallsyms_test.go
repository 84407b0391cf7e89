package annotate

import (
	"bufio"
	"bytes"
	"cmp"
	"os"
	"slices"
	"strconv"
	"testing"
)

// kallsyms is a minimal KernelSymbols over /proc/kallsyms for the tests.
type kallsyms struct {
	addrs []uint64
	names []string
	base  uint64 // __bpf_call_base
}

func loadKallsyms(t testing.TB) *kallsyms {
	t.Helper()
	raw, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	k := &kallsyms{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 3 || (f[1][0]|0x20) != 't' {
			continue
		}
		a, err := strconv.ParseUint(string(f[0]), 16, 64)
		if err != nil || a == 0 {
			continue
		}
		name := string(f[2])
		if name == "__bpf_call_base" {
			k.base = a
		}
		syms = append(syms, sym{a, name})
	}
	slices.SortStableFunc(syms, func(a, b sym) int { return cmp.Compare(a.addr, b.addr) })
	for _, s := range syms {
		k.addrs = append(k.addrs, s.addr)
		k.names = append(k.names, s.name)
	}
	if k.base == 0 || len(k.addrs) == 0 {
		t.Skip("no kernel text addresses in /proc/kallsyms (kptr_restrict?)")
	}
	return k
}

func (k *kallsyms) KernelSymbol(addr uint64) (string, uint64, bool) {
	i, found := slices.BinarySearch(k.addrs, addr)
	if !found {
		i--
	}
	if i < 0 {
		return "", 0, false
	}
	// Prefer the last of several symbols at one address, as the first is
	// often an alias.
	return k.names[i], addr - k.addrs[i], true
}
