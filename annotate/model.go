package annotate

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bpfprof/bpfprof/internal/errs"
)

// Options shape a listing.
type Options struct {
	// JIT adds the x86-64 disassembly of each line's JIT range.
	JIT bool
	// Syntax is the notation of the disassembly.
	Syntax Syntax
	// Function limits the listing to the BPF function of that name.
	Function string
	// Kernel names the kernel functions JIT code calls; nil leaves them
	// as addresses. Build asks it from several goroutines at once.
	Kernel KernelSymbols
	// HotLines is how many of the hottest source lines are marked hot;
	// 0 means 3. Only lines with at least 1% of the program's samples are.
	HotLines int
}

// Listing is the annotated listing of one program: functions, their source
// lines, the instructions of each line, with sample counts. Build makes
// it; WriteText and WriteJSON render it.
type Listing struct {
	// ID, Tag, Name and Type identify the program.
	ID   uint32 `json:"id"`
	Tag  string `json:"tag,omitempty"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
	// Event is the sampled event; Period how long it was sampled.
	Event  string        `json:"event,omitempty"`
	Period time.Duration `json:"period_ns,omitempty"`
	// Samples are the samples in this program, TotalSamples all samples
	// taken; Share is Samples as a percentage of TotalSamples.
	Samples      uint64  `json:"samples"`
	TotalSamples uint64  `json:"total_samples"`
	Share        float64 `json:"share"`
	// Unattributed are samples of the program that no function or line
	// of it covers (its JIT address map is incomplete).
	Unattributed uint64 `json:"unattributed,omitempty"`
	// RunCount and RunTimeNs are the program's runs and run time over the
	// period; NsPerRun their ratio, 0 when unknown.
	RunCount  uint64  `json:"run_count,omitempty"`
	RunTimeNs uint64  `json:"run_time_ns,omitempty"`
	NsPerRun  float64 `json:"ns_per_run,omitempty"`
	// JITed says the program has a JIT image; Syntax is the notation of
	// its disassembly when listed.
	JITed  bool   `json:"jited"`
	Syntax string `json:"syntax,omitempty"`
	// Notes say, one line each, what the listing lacks and why.
	Notes []string `json:"notes,omitempty"`
	// Functions are the BPF functions listed, in address order.
	Functions []Function `json:"functions"`
}

// Function is one BPF function (main program or subprogram) of a listing.
type Function struct {
	Name      string `json:"name"`
	Signature string `json:"signature,omitempty"`
	// Insn is its first xlated slot; Addr and Size its JIT image (0
	// without JIT).
	Insn int    `json:"insn"`
	Addr uint64 `json:"addr,omitempty"`
	Size uint32 `json:"size,omitempty"`
	// Samples fell in this function; Percent is their share of the
	// program's samples.
	Samples uint64  `json:"samples"`
	Percent float64 `json:"percent"`
	// Blocks are its runs of instructions from one BTF line record each,
	// in instruction order; one block without Source when the program has
	// no line info.
	Blocks []Block `json:"blocks"`
	// Lines sums the blocks by source line, in source order: per-line
	// Percent of a function adds up to 100 (± rounding) when it has
	// samples.
	Lines []LineStat `json:"lines,omitempty"`
}

// Source locates a source line.
type Source struct {
	File string `json:"file"`
	Line uint32 `json:"line"`
	Col  uint32 `json:"col,omitempty"`
	Text string `json:"text,omitempty"`
}

// String gives "file:line".
func (s *Source) String() string { return s.File + ":" + strconv.FormatUint(uint64(s.Line), 10) }

// Block is the instructions of one BTF line record.
type Block struct {
	// Source is the line the instructions came from; nil for
	// instructions before the function's first line record, or without
	// line info.
	Source *Source `json:"source,omitempty"`
	// Insns are its xlated instructions.
	Insns []Insn `json:"insns,omitempty"`
	// JITStart and JITEnd bound its machine code [start, end); JIT lists
	// it when Options.JIT is set.
	JITStart uint64    `json:"jit_start,omitempty"`
	JITEnd   uint64    `json:"jit_end,omitempty"`
	JIT      []JITInsn `json:"jit,omitempty"`
	// Samples fell in this block's machine code; Percent is their share
	// of the function's samples.
	Samples uint64  `json:"samples"`
	Percent float64 `json:"percent"`
	// Hot marks a block of one of the program's hottest lines; HotRank is
	// that line's rank (1 the hottest), 0 when not hot.
	Hot     bool `json:"hot,omitempty"`
	HotRank int  `json:"hot_rank,omitempty"`
}

// LineStat is the samples of one source line within a function.
type LineStat struct {
	Source
	Samples uint64  `json:"samples"`
	Percent float64 `json:"percent"`
	// HotRank is the line's rank among the program's hottest lines (1 the
	// hottest), 0 when it is not marked hot.
	HotRank int `json:"hot_rank,omitempty"`
}

// ErrNoFunction is returned by Build when Options.Function names no
// function of the program; it matches errs.ErrNotFound.
var ErrNoFunction = errs.New(errs.ErrNotFound, "no such BPF function")

// Build makes the listing of p heated by c. It fails only for a nil
// program or an unknown Options.Function; whatever p lacks (line info,
// JIT image, xlated instructions) is listed without and said in Notes.
func Build(p *Program, c Counts, opts Options) (*Listing, error) {
	if p == nil {
		return nil, errors.New("annotate: no program")
	}
	l := &Listing{
		ID: p.ID, Tag: p.Tag, Name: p.Name, Type: p.Type,
		Event: c.Event, Period: c.Period,
		TotalSamples: c.Total, RunCount: c.RunCount, RunTimeNs: c.RunTimeNs,
		JITed: p.JIT != nil && len(p.JIT.Image) > 0,
	}
	if c.RunCount > 0 {
		l.NsPerRun = float64(c.RunTimeNs) / float64(c.RunCount)
	}
	if opts.JIT && l.JITed {
		l.Syntax = opts.Syntax.String()
	}
	b := builder{p: p, c: &c, opts: &opts, l: l}
	b.functions()
	if opts.Function != "" {
		var names []string
		kept := l.Functions[:0]
		for _, f := range l.Functions {
			names = append(names, f.Name)
			if f.Name == opts.Function {
				kept = append(kept, f)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%w: %q in program %d (it has %s)", ErrNoFunction, opts.Function, p.ID, strings.Join(names, ", "))
		}
		l.Functions = kept
	}
	b.instructions()
	b.heat()
	b.notes()
	return l, nil
}

// builder holds the state of one Build.
type builder struct {
	p    *Program
	c    *Counts
	opts *Options
	l    *Listing
	// ranges are the JIT ranges of the functions, parallel to
	// l.Functions before filtering: found by address.
	funcs []funcRange
	// disasmFailed names functions whose JIT image could not be listed.
	disasmFailed []string
}

// funcRange is one function's place in the xlated code and JIT image.
type funcRange struct {
	insnStart, insnEnd int // xlated slots [start, end)
	addr               uint64
	size               uint32
	imageOff           int // offset of its code in JIT.Image; -1 if unknown
	lines              []Line
}

// functions lays out the functions and their blocks from func and line
// info and the JIT symbols.
func (b *builder) functions() {
	p := b.p
	slots := len(p.Xlated) / 8
	funcs := p.Funcs
	if len(funcs) == 0 {
		// Without BTF, subprograms start where BPF-to-BPF calls go.
		funcs = []Func{{Insn: 0, Name: p.Name}}
		for _, t := range callTargets(p.Xlated) {
			if t > 0 && t < len(p.Xlated)/8 {
				funcs = append(funcs, Func{Insn: uint32(t)})
			}
		}
	}
	lines := p.Lines
	if !slices.IsSortedFunc(lines, func(a, b Line) int { return cmp.Compare(a.Insn, b.Insn) }) {
		lines = slices.Clone(lines)
		slices.SortStableFunc(lines, func(a, b Line) int { return cmp.Compare(a.Insn, b.Insn) })
	}
	if slots == 0 && len(lines) > 0 {
		slots = int(lines[len(lines)-1].Insn) + 1
	}
	var ksyms []uint64
	var lens []uint32
	if b.l.JITed {
		ksyms, lens = p.JIT.Ksyms, p.JIT.FuncLens
		if len(lens) == 0 && len(ksyms) <= 1 {
			lens = []uint32{uint32(len(p.JIT.Image))}
		}
	}
	imageOff := 0
	for i, f := range funcs {
		r := funcRange{insnStart: int(f.Insn), insnEnd: slots, imageOff: -1}
		if i+1 < len(funcs) {
			r.insnEnd = int(funcs[i+1].Insn)
		}
		r.insnEnd = max(r.insnEnd, r.insnStart)
		if i < len(ksyms) && i < len(lens) {
			r.addr, r.size = ksyms[i], lens[i]
			if imageOff+int(lens[i]) <= len(p.JIT.Image) {
				r.imageOff = imageOff
			}
			imageOff += int(lens[i])
		}
		for _, ln := range lines {
			if int(ln.Insn) >= r.insnStart && int(ln.Insn) < r.insnEnd {
				r.lines = append(r.lines, ln)
			}
		}
		b.funcs = append(b.funcs, r)
		fn := Function{Name: f.Name, Signature: f.Signature, Insn: r.insnStart, Addr: r.addr, Size: r.size}
		if fn.Name == "" {
			fn.Name = "func_" + strconv.Itoa(i)
		}
		fn.Blocks = b.blocks(&r)
		b.l.Functions = append(b.l.Functions, fn)
	}
}

// callTargets returns the sorted, distinct targets of the BPF-to-BPF calls
// in xlated code.
func callTargets(xlated []byte) []int {
	var out []int
	for i := 0; i+8 <= len(xlated); i += 8 {
		if ins := rawInstruction(xlated[i : i+8]); xlated[i] == callCode && ins.Src == 1 { // BPF_PSEUDO_CALL
			out = append(out, i/8+pseudoCallOffset(ins.Offset, int32(ins.Constant))+1)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// blocks makes a function's blocks from its line records.
func (b *builder) blocks(r *funcRange) []Block {
	end := r.addr + uint64(r.size)
	if len(r.lines) == 0 {
		return []Block{{JITStart: r.addr, JITEnd: end}}
	}
	var out []Block
	if int(r.lines[0].Insn) > r.insnStart {
		out = append(out, Block{JITStart: r.addr})
	}
	for _, ln := range r.lines {
		out = append(out, Block{
			Source:   &Source{File: ln.File, Line: ln.Line, Col: ln.Col, Text: strings.TrimSpace(ln.Text)},
			JITStart: ln.JITAddr,
		})
	}
	// A block's machine code runs to the next block's start; line records
	// without a JIT address in the function (none, or out of order) get
	// an empty range, and are skipped as the next start.
	next := end
	for i := len(out) - 1; i >= 0; i-- {
		start := out[i].JITStart
		if start == 0 || start < r.addr || start > next {
			out[i].JITStart, out[i].JITEnd = 0, 0
			continue
		}
		out[i].JITEnd = next
		next = start
	}
	// Line records without JIT addresses leave the machine code to a
	// last block of its own, without source.
	if r.size > 0 && !slices.ContainsFunc(out, func(b Block) bool { return b.JITEnd > b.JITStart }) {
		out = append(out, Block{JITStart: r.addr, JITEnd: end})
	}
	return out
}

// instructions fills the blocks with xlated instructions and, with
// Options.JIT, machine code.
func (b *builder) instructions() {
	keep := map[string]bool{}
	for _, f := range b.l.Functions {
		keep[f.Name] = true
	}
	if len(b.p.Xlated) > 0 {
		r := newXlatedRenderer(b.p)
		dec := decodeXlated(b.p.Xlated)
		for fi := range b.l.Functions {
			f := &b.l.Functions[fi]
			fr := b.rangeOf(f)
			lo, _ := slices.BinarySearchFunc(dec, fr.insnStart, func(d decoded, i int) int { return cmp.Compare(d.index, i) })
			for bi := range f.Blocks {
				hi := fr.insnEnd
				if bi+1 < len(f.Blocks) {
					hi = b.blockInsn(fr, f, bi+1)
				}
				blk := &f.Blocks[bi]
				for ; lo < len(dec) && dec[lo].index < hi; lo++ {
					blk.Insns = append(blk.Insns, r.render(dec[lo]))
				}
			}
		}
	}
	if !b.opts.JIT || !b.l.JITed {
		return
	}
	// Functions are disassembled in parallel: decoding and formatting
	// machine code is most of the cost of a JIT listing.
	failed := make([]bool, len(b.l.Functions))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for fi := range b.l.Functions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			failed[fi] = !b.disassemble(&b.l.Functions[fi])
		}()
	}
	wg.Wait()
	for fi, bad := range failed {
		if bad {
			b.disasmFailed = append(b.disasmFailed, b.l.Functions[fi].Name)
		}
	}
}

// disassemble lists f's machine code under its blocks; false when its
// code was not captured. It may run concurrently for different functions.
func (b *builder) disassemble(f *Function) bool {
	fr := b.rangeOf(f)
	if fr.imageOff < 0 || fr.size == 0 {
		return false
	}
	code := b.p.JIT.Image[fr.imageOff : fr.imageOff+int(fr.size)]
	insns, err := Disassemble(code, fr.addr, b.opts.Syntax, b.symbol)
	if err != nil {
		return false
	}
	// Each machine instruction goes to the block whose range holds it;
	// blocks without a range get none. Ranges follow each other in
	// address order, so each block gets a run of insns, shared, not
	// copied.
	x := newBlockIndex(f.Blocks)
	for i := 0; i < len(insns); {
		bi := x.at(insns[i].Addr)
		j := i + 1
		for j < len(insns) && x.at(insns[j].Addr) == bi {
			j++
		}
		if bi >= 0 {
			blk := &f.Blocks[bi]
			if blk.JIT == nil {
				blk.JIT = insns[i:j:j]
			} else {
				blk.JIT = append(blk.JIT, insns[i:j]...)
			}
		}
		i = j
	}
	return true
}

// rangeOf returns the layout of a listed function.
func (b *builder) rangeOf(f *Function) *funcRange {
	for i := range b.funcs {
		if b.funcs[i].insnStart == f.Insn {
			return &b.funcs[i]
		}
	}
	return &funcRange{imageOff: -1}
}

// blockInsn is the first slot of block bi of f.
func (b *builder) blockInsn(fr *funcRange, f *Function, bi int) int {
	// Blocks follow fr.lines, after one leading block without source
	// when the first record starts late; a trailing block of machine
	// code alone holds no instructions.
	lead := 0
	if len(fr.lines) > 0 && int(fr.lines[0].Insn) > fr.insnStart {
		lead = 1
	}
	if li := bi - lead; li >= 0 && li < len(fr.lines) {
		return int(fr.lines[li].Insn)
	}
	return fr.insnEnd
}

// blockIndex finds blocks by JIT address.
type blockIndex struct {
	starts []uint64
	ends   []uint64
	idx    []int
}

// newBlockIndex indexes the blocks that have a JIT range.
func newBlockIndex(blocks []Block) *blockIndex {
	x := &blockIndex{}
	for i := range blocks {
		if blocks[i].JITEnd > blocks[i].JITStart {
			x.idx = append(x.idx, i)
		}
	}
	slices.SortStableFunc(x.idx, func(a, b int) int { return cmp.Compare(blocks[a].JITStart, blocks[b].JITStart) })
	for _, i := range x.idx {
		x.starts = append(x.starts, blocks[i].JITStart)
		x.ends = append(x.ends, blocks[i].JITEnd)
	}
	return x
}

// at returns the index of the block whose JIT range holds addr, -1 for
// none.
func (x *blockIndex) at(addr uint64) int {
	i, found := slices.BinarySearch(x.starts, addr)
	if !found {
		i--
	}
	if i < 0 || addr >= x.ends[i] {
		return -1
	}
	return x.idx[i]
}

// symbol names a JIT call target: one of the program's own functions, or a
// kernel symbol.
func (b *builder) symbol(addr uint64) (string, uint64, bool) {
	for i, fr := range b.funcs {
		if fr.size > 0 && addr >= fr.addr && addr < fr.addr+uint64(fr.size) {
			if addr != fr.addr {
				return "", 0, false // a jump inside a function: its address says enough
			}
			return b.funcName(i), fr.addr, true
		}
	}
	if b.opts.Kernel == nil {
		return "", 0, false
	}
	name, off, ok := b.opts.Kernel.KernelSymbol(addr)
	if !ok || off > addr {
		return "", 0, false
	}
	return name, addr - off, true
}

// funcName names function i of the program (before any filtering) by its
// BPF name: a call to a subprogram shows which one it is. kallsyms would
// call it bpf_prog_<its own tag>_<name>.
func (b *builder) funcName(i int) string {
	if i < len(b.p.Funcs) && b.p.Funcs[i].Name != "" {
		return b.p.Funcs[i].Name
	}
	if i == 0 && b.p.Name != "" {
		return b.p.Name
	}
	return "func_" + strconv.Itoa(i)
}

// heat attributes the samples to instructions, blocks, lines and
// functions, and marks the hottest lines.
func (b *builder) heat() {
	l, c := b.l, b.c
	var inProg uint64
	switch {
	case len(c.ByAddr) > 0 && l.JITed:
		inProg = b.heatByAddr()
	case len(c.ByLine) > 0:
		inProg = b.heatByLine()
	}
	l.Samples = c.Program
	if l.Samples == 0 {
		l.Samples = inProg
	}
	if l.TotalSamples > 0 {
		l.Share = pct(l.Samples, l.TotalSamples)
	}
	for fi := range l.Functions {
		f := &l.Functions[fi]
		f.Percent = pct(f.Samples, l.Samples)
		for bi := range f.Blocks {
			blk := &f.Blocks[bi]
			blk.Percent = pct(blk.Samples, f.Samples)
			for ji := range blk.JIT {
				blk.JIT[ji].Percent = pct(blk.JIT[ji].Samples, f.Samples)
			}
		}
		f.Lines = lineStats(f)
	}
	b.markHot()
}

// heatByAddr counts samples by exact JIT address; it returns the samples
// that fell anywhere in the program's image.
func (b *builder) heatByAddr() uint64 {
	var total uint64
	idx := make([]*blockIndex, len(b.l.Functions))
	for addr, n := range b.c.ByAddr {
		fi := -1
		for i := range b.l.Functions {
			f := &b.l.Functions[i]
			if f.Size > 0 && addr >= f.Addr && addr < f.Addr+uint64(f.Size) {
				fi = i
				break
			}
		}
		if fi < 0 {
			if b.inAnyFunc(addr) {
				total += n // a function left out by Options.Function
			}
			continue
		}
		total += n
		f := &b.l.Functions[fi]
		f.Samples += n
		if idx[fi] == nil {
			idx[fi] = newBlockIndex(f.Blocks)
		}
		bi := idx[fi].at(addr)
		if bi < 0 {
			b.l.Unattributed += n
			continue
		}
		blk := &f.Blocks[bi]
		blk.Samples += n
		if ji, ok := slices.BinarySearchFunc(blk.JIT, addr, func(in JITInsn, a uint64) int {
			switch {
			case a < in.Addr:
				return 1
			case a >= in.Addr+uint64(in.Len):
				return -1
			}
			return 0
		}); ok {
			blk.JIT[ji].Samples += n
		}
	}
	return total
}

// inAnyFunc reports whether addr lies in any function of the program.
func (b *builder) inAnyFunc(addr uint64) bool {
	for _, fr := range b.funcs {
		if fr.size > 0 && addr >= fr.addr && addr < fr.addr+uint64(fr.size) {
			return true
		}
	}
	return false
}

// heatByLine counts samples by source line: each line's count goes to its
// first block in the function (a line split over several blocks shows its
// count once).
func (b *builder) heatByLine() uint64 {
	var total uint64
	for k, n := range b.c.ByLine {
		total += n
		placed := false
		for fi := range b.l.Functions {
			f := &b.l.Functions[fi]
			if k.Func != "" && k.Func != f.Name {
				continue
			}
			for bi := range f.Blocks {
				s := f.Blocks[bi].Source
				if s != nil && s.Line == k.Line && s.File == k.File {
					f.Blocks[bi].Samples += n
					f.Samples += n
					placed = true
					break
				}
			}
			if placed {
				break
			}
		}
		if !placed {
			b.l.Unattributed += n
		}
	}
	return total
}

// lineStats sums a function's blocks by source line, in source order.
func lineStats(f *Function) []LineStat {
	idx := map[Source]int{}
	var out []LineStat
	for _, blk := range f.Blocks {
		if blk.Source == nil {
			continue
		}
		key := Source{File: blk.Source.File, Line: blk.Source.Line}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, LineStat{Source: Source{File: key.File, Line: key.Line, Text: blk.Source.Text}})
		}
		out[i].Samples += blk.Samples
		if out[i].Text == "" {
			out[i].Text = blk.Source.Text
		}
	}
	slices.SortStableFunc(out, func(a, b LineStat) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	for i := range out {
		out[i].Percent = pct(out[i].Samples, f.Samples)
	}
	return out
}

// markHot ranks the program's source lines by samples and marks the top
// Options.HotLines of them with at least 1% of the program's samples.
func (b *builder) markHot() {
	n := b.opts.HotLines
	if n <= 0 {
		n = 3
	}
	type ref struct{ f, i int }
	var all []ref
	for fi := range b.l.Functions {
		for i, ls := range b.l.Functions[fi].Lines {
			if ls.Samples > 0 && ls.Line > 0 && ls.Samples*100 >= b.l.Samples {
				all = append(all, ref{fi, i})
			}
		}
	}
	line := func(r ref) *LineStat { return &b.l.Functions[r.f].Lines[r.i] }
	slices.SortStableFunc(all, func(x, y ref) int { return cmp.Compare(line(y).Samples, line(x).Samples) })
	for rank, r := range all[:min(n, len(all))] {
		ls := line(r)
		ls.HotRank = rank + 1
		f := &b.l.Functions[r.f]
		for bi := range f.Blocks {
			if s := f.Blocks[bi].Source; s != nil && s.File == ls.File && s.Line == ls.Line {
				f.Blocks[bi].Hot, f.Blocks[bi].HotRank = true, rank+1
			}
		}
	}
}

// notes says what the listing lacks.
func (b *builder) notes() {
	p, l := b.p, b.l
	if len(p.Xlated) == 0 {
		l.Notes = append(l.Notes, "no xlated instructions: they were not captured (reading them needs CAP_SYS_ADMIN; perf.data does not keep them)")
	}
	if len(p.Lines) == 0 {
		l.Notes = append(l.Notes, "no BTF line info: the program was loaded without it, so instructions are listed without source lines")
	}
	if !l.JITed {
		l.Notes = append(l.Notes, "not JITed (interpreter, or JIT image unreadable): sample heat needs the JIT image (net.core.bpf_jit_enable=1, kptr_restrict allowing addresses)")
	}
	if len(b.disasmFailed) > 0 {
		l.Notes = append(l.Notes, "no JIT disassembly for "+strings.Join(b.disasmFailed, ", ")+": its machine code was not captured")
	}
	if l.Unattributed > 0 {
		l.Notes = append(l.Notes, strconv.FormatUint(l.Unattributed, 10)+" samples of the program fell outside its line records")
	}
}

// pct is n as a percentage of of, 0 when of is 0.
func pct(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
