// Package pprof turns an aggregate.Snapshot into a pprof profile
// (github.com/google/pprof/profile) that `go tool pprof` opens.
//
// The profile is self-contained for kernel and BPF code: JITed BPF frames
// carry their BTF function name, source file and line, since the JIT image is
// gone once the program unloads. User frames keep their mapping (file, build
// ID, offsets) so that pprof can refine them from the binaries.
package pprof

import (
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/symbolize"
)

// Meta describes the recording a Snapshot came from.
type Meta struct {
	// Event is the perf name of the sampled event, such as cpu-clock.
	Event string
	// Clock says the event counts time in nanoseconds (cpu-clock,
	// task-clock): the profile's values are then cpu/nanoseconds.
	Clock bool
	// Frequency is the sampling frequency in Hz (-F), or 0 when sampling
	// by Period.
	Frequency uint64
	// Period is the fixed sampling period (-c), or 0 when sampling by
	// Frequency.
	Period uint64
	// Start is the wall-clock time the recording began.
	Start time.Time
	// Duration is how long it lasted; 0 takes the span of the snapshot's
	// records.
	Duration time.Duration
	// KernelRelease is uname -r of the recorded machine.
	KernelRelease string
	// CommandLine is the command that recorded the profile, with its
	// arguments.
	CommandLine []string
	// Comments are added to the profile's comments as they are.
	Comments []string
	// SystemWide says the recording sampled every process, not chosen
	// ones: the profile then has no main binary, and its first mapping,
	// which pprof shows as "File:", is SystemWideFile rather than the
	// busiest process's executable.
	SystemWide bool
}

// SystemWideFile is the file of the first mapping of a system-wide
// profile: an empty range that stands for no binary, so that pprof's
// "File:" header names no process's executable.
const SystemWideFile = "system-wide"

// Labels the profile puts on samples. Numeric ones can be selected by value
// or range (-tagfocus pid=1234), string ones by regular expression
// (-tagfocus bpf_prog_name=hot).
const (
	LabelPID      = "pid"
	LabelTID      = "tid"
	LabelCPU      = "cpu"
	LabelComm     = "comm"
	LabelProgID   = "bpf_prog_id"
	LabelProgName = "bpf_prog_name"
	LabelProgType = "bpf_prog_type"
)

// noTask is the pid and tid, -1, of a sample taken outside any task.
const noTask = math.MaxUint32

// errNoEvent is returned by Build for a Meta without an Event.
var errNoEvent = errors.New("pprof: Meta.Event is empty")

// Build makes a profile of snap. The profile's ids start at 1; mappings,
// locations and functions are deduplicated; it passes CheckValid. Samples
// with the same labels share their Label, NumLabel and NumUnit maps: to
// change one sample's labels, give it new maps rather than writing into
// them.
func Build(snap *aggregate.Snapshot, meta Meta) (*profile.Profile, error) {
	if meta.Event == "" {
		return nil, errNoEvent
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}},
	}
	if meta.Clock {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: "cpu", Unit: "nanoseconds"})
		p.PeriodType = &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}
	} else {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: meta.Event, Unit: "count"})
		p.PeriodType = &profile.ValueType{Type: meta.Event, Unit: "count"}
	}
	p.DefaultSampleType = p.SampleType[1].Type
	p.Period = period(snap, meta)
	if !meta.Start.IsZero() {
		p.TimeNanos = meta.Start.UnixNano()
	}
	p.DurationNanos = meta.Duration.Nanoseconds()
	if p.DurationNanos == 0 && snap.End > snap.Start {
		p.DurationNanos = int64(snap.End - snap.Start)
	}
	p.Comments = comments(snap, meta)

	b := builder{
		p:         p,
		mappings:  make(map[*symbolize.Mapping]*mappingInfo),
		functions: make(map[funcKey]*profile.Function),
	}
	b.addMappings(snap)
	if meta.SystemWide {
		// pprof takes the first mapping that looks like an executable
		// for the main binary: this one, which holds no address.
		p.Mapping = append([]*profile.Mapping{{
			File:         SystemWideFile,
			HasFunctions: true, HasFilenames: true, HasLineNumbers: true,
		}}, p.Mapping...)
		for i, m := range p.Mapping {
			m.ID = uint64(i + 1)
		}
	}
	p.Location = make([]*profile.Location, len(snap.Locations))
	for i := range snap.Locations {
		p.Location[i] = b.location(uint64(i+1), &snap.Locations[i])
	}
	b.setMappingFlags()

	p.Sample = make([]*profile.Sample, 0, len(snap.Stacks))
	locs := make([]*profile.Location, 0, len(snap.Stacks)*16)
	values := make([]int64, 0, 2*len(snap.Stacks))
	labels := make(map[labelKey]*profile.Sample)
	for _, st := range snap.Stacks {
		n := len(st.Locations)
		if cap(locs)-len(locs) < n {
			locs = make([]*profile.Location, 0, max(n, 4096))
		}
		s := &profile.Sample{Location: locs[len(locs) : len(locs)+n : len(locs)+n]}
		locs = locs[:len(locs)+n]
		for i, id := range st.Locations {
			s.Location[i] = p.Location[id-1]
		}
		values = append(values, int64(st.Count), int64(st.Period))
		s.Value = values[len(values)-2 : len(values) : len(values)]
		setLabels(s, &st, labels)
		p.Sample = append(p.Sample, s)
	}
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("pprof: built an invalid profile: %w", err)
	}
	return p, nil
}

// labelKey is the label set of a stack.
type labelKey struct {
	pid, tid, cpu uint32
	comm          string
	prog          *symbolize.Prog
}

// setLabels gives s the labels of st. Samples with the same labels share
// their label maps (a profile of a busy machine has tens of thousands of
// stacks, but far fewer label sets): seen holds the first sample of each set.
func setLabels(s *profile.Sample, st *aggregate.Stack, seen map[labelKey]*profile.Sample) {
	k := labelKey{pid: st.PID, tid: st.TID, cpu: st.CPU, comm: st.Comm, prog: st.Prog}
	if first := seen[k]; first != nil {
		s.Label, s.NumLabel, s.NumUnit = first.Label, first.NumLabel, first.NumUnit
		return
	}
	seen[k] = s
	// profile.proto drops a numeric label whose value and unit are both
	// zero (cpu 0, pid 0). A unit keeps it; naming the unit after the key
	// is what pprof infers for labels without one, so it changes nothing
	// in pprof's output or filters.
	s.NumLabel = map[string][]int64{LabelCPU: {int64(st.CPU)}}
	s.NumUnit = map[string][]string{LabelCPU: {LabelCPU}}
	// The kernel gives pid and tid -1 for samples taken outside any task:
	// they get neither label.
	if st.PID != noTask {
		s.NumLabel[LabelPID], s.NumUnit[LabelPID] = []int64{int64(st.PID)}, []string{LabelPID}
		comm := st.Comm
		if comm == "" {
			// A process gone before its name could be read: perf's
			// name for it.
			comm = ":" + strconv.FormatUint(uint64(st.PID), 10)
		}
		s.Label = map[string][]string{LabelComm: {comm}}
	}
	if st.TID != noTask {
		s.NumLabel[LabelTID], s.NumUnit[LabelTID] = []int64{int64(st.TID)}, []string{LabelTID}
	}
	if pr := st.Prog; pr != nil {
		if s.Label == nil {
			s.Label = make(map[string][]string, 3)
		}
		s.NumLabel[LabelProgID] = []int64{int64(pr.ID)}
		s.NumUnit[LabelProgID] = []string{LabelProgID}
		s.Label[LabelProgName] = []string{pr.Name}
		if pr.Type != "" {
			s.Label[LabelProgType] = []string{pr.Type}
		}
	}
}

// Write checks p and writes it gzipped, in the profile.proto format. It
// compresses for speed rather than size: a profile is written once, at the
// end of a recording, and the difference in size is small.
func Write(w io.Writer, p *profile.Profile) error {
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("pprof: invalid profile: %w", err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := p.WriteUncompressed(zw); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// period is the profile's sampling period: the fixed one, a clock event's
// 1/frequency, or else the mean period of the samples.
func period(snap *aggregate.Snapshot, meta Meta) int64 {
	switch {
	case meta.Period > 0:
		return int64(meta.Period)
	case meta.Clock && meta.Frequency > 0:
		return int64(time.Second) / int64(meta.Frequency)
	}
	var n, sum uint64
	for _, st := range snap.Stacks {
		n += st.Count
		sum += st.Period
	}
	if n == 0 {
		return 0
	}
	return int64((sum + n/2) / n)
}

func comments(snap *aggregate.Snapshot, meta Meta) []string {
	var cs []string
	if len(meta.CommandLine) > 0 {
		cs = append(cs, "command: "+shellQuote(meta.CommandLine))
	}
	if meta.KernelRelease != "" {
		cs = append(cs, "kernel: "+meta.KernelRelease)
	}
	switch {
	case meta.Frequency > 0:
		cs = append(cs, fmt.Sprintf("event: %s at %d Hz", meta.Event, meta.Frequency))
	case meta.Period > 0:
		cs = append(cs, fmt.Sprintf("event: %s every %d", meta.Event, meta.Period))
	default:
		cs = append(cs, "event: "+meta.Event)
	}
	cs = append(cs, fmt.Sprintf("samples: %d, lost %d, BPF programs sampled %d, loaded %d, unloaded %d",
		snap.Samples, snap.Lost+snap.LostSamples, snap.ProgramsSeen, snap.ProgLoads, snap.ProgUnloads))
	if snap.Dropped > 0 {
		cs = append(cs, fmt.Sprintf("samples without a BPF frame left out: %d", snap.Dropped))
	}
	return append(cs, meta.Comments...)
}

// shellQuote joins args into a line that a POSIX shell splits back into
// the same words: words with characters special to the shell are quoted.
func shellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		quoteWord(&b, a)
	}
	return b.String()
}

func quoteWord(b *strings.Builder, w string) {
	if w != "" && strings.IndexFunc(w, needsQuote) < 0 {
		b.WriteString(w)
		return
	}
	if strings.IndexFunc(w, isControl) < 0 {
		// In single quotes everything is literal but the quote itself,
		// which ends them, is escaped and starts them again.
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(w, "'", `'\''`))
		b.WriteByte('\'')
		return
	}
	// Control characters, a newline above all, keep the comment on one
	// line as escapes in $'...' quotes.
	b.WriteString("$'")
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
}

// needsQuote reports whether r is special to a shell, or may be: only
// letters, digits and a few punctuation marks that no shell expands stand
// unquoted.
func needsQuote(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_./:,=+@%", r)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

type funcKey struct {
	name, systemName, file string
}

type mappingInfo struct {
	m *profile.Mapping
	// samples ranks the mapping; symbolized says whether all of its frames
	// have a function and what their binary tells of their lines and
	// inlined calls; lines whether they all have a file and line.
	samples    uint64
	kind       symbolize.Kind
	symbolized bool
	lines      bool
}

type builder struct {
	p         *profile.Profile
	mappings  map[*symbolize.Mapping]*mappingInfo
	functions map[funcKey]*profile.Function
}

// addMappings makes one profile mapping per distinct Mapping of the frames,
// in the order `go tool pprof` keeps when it reads the profile back: the
// main binary first, and no two neighbours that it would merge.
func (b *builder) addMappings(snap *aggregate.Snapshot) {
	weight := make([]uint64, len(snap.Locations))
	for _, st := range snap.Stacks {
		for _, id := range st.Locations {
			weight[id-1] += st.Count
		}
	}
	var infos []*mappingInfo
	for i := range snap.Locations {
		f := &snap.Locations[i]
		fm := mappingOf(f)
		if fm == nil {
			continue
		}
		mi := b.mappings[fm]
		if mi == nil {
			m := fm
			mi = &mappingInfo{
				m: &profile.Mapping{
					Start: m.Start, Limit: m.Limit, Offset: m.Offset,
					File: m.File, BuildID: m.BuildID,
				},
				kind:       m.Kind,
				symbolized: true,
				lines:      true,
			}
			b.mappings[fm] = mi
			infos = append(infos, mi)
		}
		mi.samples += weight[i]
		// pprof refines a user mapping unless told that every location
		// has its functions, files, lines and inlined calls. A frame
		// whose line and inline tables were read (InlineKnown) has all
		// its binary gives, even without a line: a Go pclntab has none
		// for the byte before the signal return trampoline, the caller
		// of every sample in a signal handler. Left unflagged for that,
		// the mapping would be symbolized again by pprof, which gives Go
		// code no inlined calls.
		if !hasFunc(f) || !f.InlineKnown {
			mi.symbolized = false
		}
		if f.File == "" || f.Line == 0 {
			mi.lines = false
		}
	}
	slices.SortStableFunc(infos, func(x, y *mappingInfo) int {
		return cmp.Or(
			cmp.Compare(rank(x.m), rank(y.m)),
			cmp.Compare(y.samples, x.samples),
			cmp.Compare(x.m.File, y.m.File),
			cmp.Compare(x.m.Start, y.m.Start),
		)
	})
	for _, mi := range infos {
		if n := len(b.p.Mapping); n > 0 && adjacent(b.p.Mapping[n-1], mi.m) {
			// pprof would merge them on reading; merge them now.
			last := b.p.Mapping[n-1]
			last.Limit = mi.m.Limit
			if mi.m.File != "" {
				last.File = mi.m.File
			}
			if mi.m.BuildID != "" {
				last.BuildID = mi.m.BuildID
			}
			mi.m = last
			continue
		}
		mi.m.ID = uint64(len(b.p.Mapping) + 1)
		b.p.Mapping = append(b.p.Mapping, mi.m)
	}
}

// libRx matches shared-library file names as pprof recognises them.
var libRx = regexp.MustCompile(`([.]so$|[.]so[._][0-9]+)`)

// rank orders mappings as pprof expects: it takes the first executable
// that is not a shared library for the main binary.
func rank(m *profile.Mapping) int {
	file := strings.TrimSpace(strings.ReplaceAll(m.File, "(deleted)", ""))
	switch {
	case file == "":
		return 3
	case strings.HasPrefix(file, "["):
		return 2
	case libRx.MatchString(file):
		return 1
	}
	return 0
}

// adjacent reports whether pprof would take two mappings for the halves of
// one split mapping and merge them.
func adjacent(m1, m2 *profile.Mapping) bool {
	if m1.File != "" && m2.File != "" && m1.File != m2.File {
		return false
	}
	if m1.BuildID != "" && m2.BuildID != "" && m1.BuildID != m2.BuildID {
		return false
	}
	if m1.Limit != m2.Start {
		return false
	}
	if m1.Offset != 0 && m2.Offset != 0 && m1.Offset+(m1.Limit-m1.Start) != m2.Offset {
		return false
	}
	return true
}

// setMappingFlags says which mappings pprof need not symbolize again: the
// kernel's and BPF programs' (it cannot: their code is not in a file), and
// user mappings whose every frame has a function, and its lines and inlined
// calls as far as the binary has them. Others are
// left unflagged so pprof refines them from the binary if it finds it, and
// keeps our names if it does not.
func (b *builder) setMappingFlags() {
	for _, mi := range b.mappings {
		m := mi.m
		switch mi.kind {
		case symbolize.KindKernel, symbolize.KindBPF:
			m.HasFunctions = true
			m.HasFilenames = m.HasFilenames || mi.lines
			m.HasLineNumbers = m.HasLineNumbers || mi.lines
		default:
			if mi.symbolized {
				m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames = true, true, true, true
			}
		}
	}
	// Merged mappings are flagged only if all their parts are.
	for _, mi := range b.mappings {
		if mi.kind == symbolize.KindUser && !mi.symbolized {
			mi.m.HasFunctions, mi.m.HasFilenames, mi.m.HasLineNumbers, mi.m.HasInlineFrames = false, false, false, false
		}
	}
}

// mappingOf returns the mapping of frame f's location: f.Mapping if it
// holds f's address. An address the symbolizer could not place, such as
// one in the BPF JIT area that belongs to no known program, may come back
// with the kernel's mapping; pprof would count it as kernel code and take
// the mapping's range to cover it. Such a location gets no mapping.
func mappingOf(f *symbolize.Frame) *symbolize.Mapping {
	m := f.Mapping
	if m == nil || f.Kind == symbolize.KindUnknown || f.Addr < m.Start || f.Addr >= m.Limit {
		return nil
	}
	return m
}

// hasFunc reports whether f names a function rather than holding a
// placeholder such as "[unknown]".
func hasFunc(f *symbolize.Frame) bool {
	return f.Func != "" && !strings.HasPrefix(f.Func, "[")
}

// location makes the profile location of frame f: one line per source
// position, the calls inlined at its address first, innermost first, as
// Go's own profiles do.
func (b *builder) location(id uint64, f *symbolize.Frame) *profile.Location {
	l := &profile.Location{ID: id, Address: f.Addr}
	if m := mappingOf(f); m != nil {
		l.Mapping = b.mappings[m].m
	}
	l.Line = make([]profile.Line, 0, len(f.Inlined)+1)
	for _, in := range f.Inlined {
		l.Line = append(l.Line, b.line(in.Func, "", in.File, in.Line, in.Column))
	}
	l.Line = append(l.Line, b.line(f.Func, f.SystemName, f.File, f.Line, f.Column))
	return l
}

// line makes a profile line, adding its function if new.
func (b *builder) line(name, sys, file string, line, column uint32) profile.Line {
	if name == "" {
		name = "[unknown]"
	}
	if sys == "" {
		sys = name
	}
	key := funcKey{name: name, systemName: sys, file: file}
	fn := b.functions[key]
	if fn == nil {
		fn = &profile.Function{
			ID:         uint64(len(b.p.Function) + 1),
			Name:       name,
			SystemName: sys,
			Filename:   file,
		}
		b.functions[key] = fn
		b.p.Function = append(b.p.Function, fn)
	}
	if line > 0 && (fn.StartLine == 0 || int64(line) < fn.StartLine) {
		// BTF line info has no function start line: the lowest line seen
		// stands for it.
		fn.StartLine = int64(line)
	}
	return profile.Line{Function: fn, Line: int64(line), Column: int64(column)}
}
