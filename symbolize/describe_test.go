package symbolize

import (
	"fmt"
	"strings"
)

// describeBPF lists every image that held addr, for test failures.
func (s *Symbolizer) describeBPF(addr uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.ranges {
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
