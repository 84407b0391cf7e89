package sampler

import (
	"slices"
	"testing"
)

// FuzzParseCPUList parses arbitrary CPU lists (a --cpu flag, or a sysfs
// file): an error comes with no CPUs; a list is sorted, without duplicates
// or negative CPUs, and survives FormatCPUList and a second parse.
func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3,5,7-8", "1,1", " 0-1\n", "3-1", "0-65535", "0-40000,0-40000", "a", "", ",", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := ParseCPUList(s)
		if err != nil {
			if cpus != nil {
				t.Fatalf("CPUs %v with error %v", cpus, err)
			}
			return
		}
		if len(cpus) > maxCPUList {
			t.Fatalf("%d CPUs", len(cpus))
		}
		for i, c := range cpus {
			if c < 0 || (i > 0 && c <= cpus[i-1]) {
				t.Fatalf("%q: CPUs %v not sorted, unique and non-negative", s, cpus)
			}
		}
		back, err := ParseCPUList(FormatCPUList(cpus))
		if err != nil || !slices.Equal(back, cpus) {
			t.Fatalf("%q: %v formats as %q, which parses as %v, %v", s, cpus, FormatCPUList(cpus), back, err)
		}
	})
}

// FuzzParseEvent parses arbitrary -e specs: an error comes with the zero
// Event, and an event parses back from its String.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"cpu-clock", "cycles:u", "instructions:k", "r01c2:uk", "task-clock:", "rzz", "page-faults :u"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		e, err := ParseEvent(spec)
		if err != nil {
			if e != (Event{}) {
				t.Fatalf("event %v with error %v", e, err)
			}
			return
		}
		back, err := ParseEvent(e.String())
		if err != nil || back != e {
			t.Fatalf("%q: %v parses back as %v, %v", spec, e, back, err)
		}
	})
}
