package symbolize

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// describeBPF lists every image that held addr, for test failures.
func (s *Symbolizer) describeBPF(addr uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	var all []*bpfEntry
	for _, l := range s.bpfIdx.byStart {
		all = append(all, l...)
	}
	slices.SortFunc(all, func(a, b *bpfEntry) int { return cmp.Compare(a.from, b.from) })
	for _, r := range all {
		if addr < r.start || addr >= r.end {
			continue
		}
		id := uint32(0)
		if r.fn.prog != nil {
			id = r.fn.prog.ID
		}
		until := "open"
		if r.until != openEnd {
			until = fmt.Sprint(r.until)
		}
		fmt.Fprintf(&b, "\n\t[%#x,%#x) [%d,%s) %s prog %d", r.start, r.end, r.from, until, r.fn.sysName, id)
	}
	return b.String()
}
