package perfdata

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bpfprof/bpfprof/sampler"
)

// summarize reads a whole file and writes what it holds as text, for the
// golden files: the header, the BPF programs with their lines, and counts
// of the records delivered, checking their time order on the way.
func summarize(r io.Reader) (string, error) {
	rd, err := NewReader(r)
	if err != nil {
		return "", err
	}
	var (
		counts   = map[string]int{}
		last     uint64
		disorder int
		samples  []string
	)
	err = rd.Run(sampler.HandlerFunc(func(rec sampler.Record) {
		name := fmt.Sprintf("%T", rec)
		counts[strings.TrimPrefix(name, "*sampler.")]++
		var t uint64
		switch r := rec.(type) {
		case *sampler.Sample:
			t = r.Time
			if len(samples) < 3 {
				samples = append(samples, fmt.Sprintf("sample pid %d tid %d event %d period %d kernel %d user %d",
					r.PID, r.TID, r.Event, r.Period, len(r.Kernel), len(r.User)))
			}
		case *sampler.KSymbol:
			t = r.Time
		case *sampler.BPFEvent:
			t = r.Time
		case *sampler.Mmap2:
			t = r.Time
		case *sampler.Comm:
			t = r.Time
		default:
			return
		}
		if t != 0 && t < last {
			disorder++
		}
		last = max(last, t)
	}))
	if err != nil {
		return "", err
	}
	h := rd.Header()
	var b strings.Builder
	fmt.Fprintf(&b, "pipe %v\nhost %q release %q perf %q arch %q cpus %d/%d\n", h.Pipe, h.Hostname, h.OSRelease, h.PerfVersion, h.Arch, h.NrCPUsOnline, h.NrCPUsAvail)
	fmt.Fprintf(&b, "cmdline %q\n", h.Cmdline)
	fmt.Fprintf(&b, "features %v\n", h.Features)
	for i, ev := range h.Events {
		fmt.Fprintf(&b, "event %d %q base %q type %d config %d freq %v sample %d sample_type %#x ids %d\n",
			i, ev.Name, ev.BaseName(), ev.Attr.Type, ev.Attr.Config, ev.Freq(), ev.Attr.Sample, ev.Attr.Sample_type, len(ev.IDs))
	}
	if id, ok := h.KernelBuildID(); ok {
		fmt.Fprintf(&b, "kernel build id %x\n", id)
	}
	fmt.Fprintf(&b, "build ids %d\n", len(h.BuildIDs))
	ids := make([]uint32, 0, len(h.Programs))
	for id := range h.Programs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p, _, err := h.Program(id)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "prog %s type %d name %q full %q funcs %q ksyms %d lens %v jited %d bytes xlated %d bytes tags %d\n",
			p.HexTag(), p.Type, p.Name, p.FullName, p.Funcs, len(p.JitedKsyms), p.JitedFuncLens, len(p.JitedInsns), len(p.XlatedInsns), len(p.ProgTags))
		for i, l := range p.Lines {
			fmt.Fprintf(&b, "  line %d insn %d jit +%d %s:%d:%d %q\n", i, p.LineInfo[i].InsnOff, p.JitedLineInfo[i]-p.JitedKsyms[0], l.File, l.Line, l.Column, l.Source)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "records %s %d\n", k, counts[k])
	}
	for _, s := range samples {
		fmt.Fprintln(&b, s)
	}
	st := rd.Stats()
	fmt.Fprintf(&b, "read %d records, %d bytes, %d samples, %d rounds, %d skipped, kernel text %v, out of order %d\n",
		st.Records, st.Bytes, st.Samples, st.Rounds, st.Skipped, st.KernelText != 0, disorder)
	return b.String(), nil
}
