package annotate

import (
	"cmp"
	"slices"
	"sync"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// kallsyms is a minimal KernelSymbols over /proc/kallsyms for the tests.
type kallsyms struct {
	addrs []uint64
	names []string
	base  uint64 // __bpf_call_base
}

// The tests share one table: reading kallsyms takes a while.
var (
	kallsymsOnce  sync.Once
	kallsymsTable *kallsyms
	kallsymsErr   error
)

func loadKallsyms(t testing.TB) *kallsyms {
	t.Helper()
	kallsymsOnce.Do(func() { kallsymsTable, kallsymsErr = readKallsyms() })
	if kallsymsErr != nil {
		t.Fatal(kallsymsErr)
	}
	if kallsymsTable.base == 0 || len(kallsymsTable.addrs) == 0 {
		testutil.SkipOrFail(t, "no kernel text addresses in /proc/kallsyms (kptr_restrict)")
	}
	return kallsymsTable
}

func readKallsyms() (*kallsyms, error) {
	all, err := testutil.ReadKallsyms()
	if err != nil {
		return nil, err
	}
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	k := &kallsyms{}
	for _, ks := range all {
		if ks.Type|0x20 != 't' || ks.Addr == 0 {
			continue
		}
		if ks.Name == "__bpf_call_base" {
			k.base = ks.Addr
		}
		syms = append(syms, sym{ks.Addr, ks.Name})
	}
	slices.SortStableFunc(syms, func(a, b sym) int { return cmp.Compare(a.addr, b.addr) })
	for _, s := range syms {
		k.addrs = append(k.addrs, s.addr)
		k.names = append(k.names, s.name)
	}
	return k, nil
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
