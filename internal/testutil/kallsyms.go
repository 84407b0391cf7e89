package testutil

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// KernelSymbol is one line of /proc/kallsyms.
type KernelSymbol struct {
	Addr uint64
	// Type is the nm-style symbol type: 't' or 'T' for text.
	Type byte
	Name string
}

// ReadKallsyms reads /proc/kallsyms in its order, leaving out lines whose
// address does not parse. Under kptr_restrict every address is 0.
func ReadKallsyms() ([]KernelSymbol, error) {
	raw, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	var syms []KernelSymbol
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 3 || len(f[1]) == 0 {
			continue
		}
		a, err := strconv.ParseUint(string(f[0]), 16, 64)
		if err != nil {
			continue
		}
		syms = append(syms, KernelSymbol{Addr: a, Type: f[1][0], Name: string(f[2])})
	}
	return syms, sc.Err()
}
