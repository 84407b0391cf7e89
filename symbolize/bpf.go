package symbolize

import (
	"cmp"
	"encoding/hex"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// progInfo is what the kernel tells about a loaded BPF program, in a form
// that can be saved as JSON (the fixtures in testdata/) and turned into a
// progImage by the pure function buildImage.
type progInfo struct {
	ID   uint32 `json:"id"`
	Tag  string `json:"tag"`  // hex
	Type string `json:"type"` // bpftool's name: xdp, socket_filter, ...
	// Name is the kernel's name of the program, at most 15 characters.
	Name string `json:"name"`
	// KsymAddrs and FuncLens give the JIT image of each function, main
	// program first, in the order of the functions' instructions.
	KsymAddrs []uint64 `json:"ksym_addrs"`
	FuncLens  []uint32 `json:"func_lens"`
	// Funcs is the BTF func info: one entry per function, same order.
	Funcs []progFunc `json:"funcs,omitempty"`
	// Lines is the BTF line info and JitedLines, parallel to it, the JIT
	// address where each line's code starts.
	Lines      []progLine `json:"lines,omitempty"`
	JitedLines []uint64   `json:"jited_lines,omitempty"`
}

// progFunc is one BTF func info record.
type progFunc struct {
	Insn uint32 `json:"insn"`
	Name string `json:"name"`
}

// progLine is one BTF line info record.
type progLine struct {
	Insn   uint32 `json:"insn"`
	File   string `json:"file"`
	Line   uint32 `json:"line"`
	Col    uint32 `json:"col"`
	Source string `json:"source"`
}

// progImage is one BPF program as the symbolizer holds it: the program and
// the JIT image of each of its functions.
type progImage struct {
	prog    *Prog
	mapping *Mapping
	funcs   []*bpfFunc
	// entries is the Symbolizer's images of the functions (guarded by
	// its mutex).
	entries []*bpfEntry
}

// bpfFunc is one JIT image: a BPF function with its source lines, or code
// known only by its kernel symbol (a trampoline, a dispatcher, a program
// whose info could not be read). It is immutable once published.
type bpfFunc struct {
	name    string // Func of frames: the BTF name of the function
	sysName string // the kernel's symbol: bpf_prog_<tag>_<func>
	addr    uint64
	size    uint64
	lines   []bpfLine // sorted by address
	prog    *Prog     // nil for code of no program
	mapping *Mapping
	// guessed is set when sysName was made up from the program's tag,
	// not read from a kernel symbol.
	guessed bool
	// tag is the tag in sysName, if hasTag: bpf_prog_<tag>_<name>.
	tag    [8]byte
	hasTag bool
}

// bpfLine is the source line whose code starts at addr.
type bpfLine struct {
	addr      uint64
	file      string
	source    string
	line, col uint32
}

// buildImage makes the image of a program from its info. sysName gives the
// kernel's symbol name of the function at an address if one is known (from
// kallsyms or KSYMBOL records): a subprogram's name carries its own tag,
// which the info does not say.
func buildImage(info *progInfo, sysName func(addr uint64) string) *progImage {
	prog := &Prog{ID: info.ID, Tag: info.Tag, Type: info.Type, Name: info.Name}
	if len(info.Funcs) > 0 && info.Funcs[0].Name != "" {
		prog.Name = info.Funcs[0].Name // the kernel truncates its name to 15 bytes
	}
	if prog.Name == "" {
		prog.Name = "bpf_prog_" + prog.Tag
	}
	img := &progImage{prog: prog}
	start, limit := uint64(math.MaxUint64), uint64(0)
	for i, addr := range info.KsymAddrs {
		if addr == 0 {
			continue // hidden by kptr_restrict
		}
		f := &bpfFunc{addr: addr, prog: prog}
		if i < len(info.FuncLens) {
			f.size = uint64(info.FuncLens[i])
		}
		if sysName != nil {
			f.sysName = sysName(addr)
		}
		switch {
		case len(info.Funcs) == len(info.KsymAddrs) && info.Funcs[i].Name != "":
			f.name = info.Funcs[i].Name
		case i == 0:
			f.name = prog.Name
		default:
			if _, n, ok := splitProgSym(f.sysName); ok && n != "" {
				f.name = n
			} else {
				f.name = prog.Name + ".sub" + strconv.Itoa(i)
			}
		}
		if f.sysName == "" {
			// Exact for the main program; a subprogram's own tag is
			// unknown without its symbol.
			f.sysName = "bpf_prog_" + prog.Tag + "_" + f.name
			f.guessed = true
		}
		img.funcs = append(img.funcs, f)
		start = min(start, addr)
		limit = max(limit, addr+max(f.size, 1))
	}
	if len(img.funcs) == 0 {
		start = 0
	}
	img.mapping = &Mapping{Kind: KindBPF, Start: start, Limit: limit, File: "[bpf] " + prog.Name, BuildID: prog.Tag}
	for _, f := range img.funcs {
		f.mapping = img.mapping
	}
	if len(info.JitedLines) == len(info.Lines) {
		files := map[string]string{}
		byAddr := slices.SortedFunc(slices.Values(img.funcs), func(a, b *bpfFunc) int { return cmp.Compare(a.addr, b.addr) })
		for i, l := range info.Lines {
			jit := info.JitedLines[i]
			f := funcAt(byAddr, jit)
			if f == nil {
				continue
			}
			file, ok := files[l.File]
			if !ok {
				file = cleanBTFPath(l.File)
				files[l.File] = file
			}
			f.lines = append(f.lines, bpfLine{addr: jit, file: file, source: l.Source, line: l.Line, col: l.Col})
		}
		for _, f := range img.funcs {
			slices.SortStableFunc(f.lines, func(a, b bpfLine) int {
				return cmp.Compare(a.addr, b.addr)
			})
		}
	}
	return img
}

// cleanBTFPath drops the "./" that -fdebug-compilation-dir=. leaves on file
// names, so they read as repository paths (testdata/hot.bpf.c).
func cleanBTFPath(file string) string {
	if file == "" {
		return ""
	}
	return path.Clean(file)
}

// funcAt returns the function of funcs, sorted by address, whose JIT
// image holds addr.
func funcAt(funcs []*bpfFunc, addr uint64) *bpfFunc {
	i, _ := slices.BinarySearchFunc(funcs, addr, func(f *bpfFunc, addr uint64) int {
		return cmp.Compare(f.addr, addr+1)
	})
	if i == 0 {
		return nil
	}
	if f := funcs[i-1]; addr-f.addr < max(f.size, 1) {
		return f
	}
	return nil
}

// splitProgSym splits a kernel symbol bpf_prog_<tag>_<name> into its tag
// and name (name may be empty: bpf_prog_<tag>).
func splitProgSym(sym string) (tag, name string, ok bool) {
	rest, found := strings.CutPrefix(sym, "bpf_prog_")
	if !found || len(rest) < 16 {
		return "", "", false
	}
	tag = rest[:16]
	if _, err := hex.DecodeString(tag); err != nil {
		return "", "", false
	}
	rest = rest[16:]
	if rest == "" {
		return tag, "", true
	}
	if rest[0] != '_' {
		return "", "", false
	}
	return tag, rest[1:], true
}

// newSymFunc makes the function of a JIT image known only by its kernel
// symbol name (from kallsyms or a KSYMBOL record).
func newSymFunc(addr, size uint64, sym string, prog *Prog) *bpfFunc {
	f := &bpfFunc{name: sym, sysName: sym, addr: addr, size: size, prog: prog}
	tag := ""
	if t, n, ok := splitProgSym(sym); ok {
		tag = t
		if n != "" {
			f.name = n
		}
		_, err := hex.Decode(f.tag[:], []byte(t))
		f.hasTag = err == nil
	}
	if f.name == "" {
		f.name, f.sysName = "[bpf]", "[bpf]"
	}
	file := "[bpf] " + f.name
	if prog != nil {
		file = "[bpf] " + prog.Name
		tag = prog.Tag
	}
	f.mapping = &Mapping{Kind: KindBPF, Start: addr, Limit: addr + max(size, 1), File: file, BuildID: tag}
	return f
}

// line returns the source line in effect at addr: the last one starting at
// or below it, or the first line for the function's prologue. nil if the
// function has no line info.
func (f *bpfFunc) line(addr uint64) *bpfLine {
	if len(f.lines) == 0 {
		return nil
	}
	lo := searchAfter(f.lines, addr, func(e *bpfLine) uint64 { return e.addr })
	return &f.lines[max(lo-1, 0)]
}

// frame resolves addr, which lies in f's image.
func (f *bpfFunc) frame(addr uint64) Frame {
	fr := Frame{
		Kind:       KindBPF,
		Addr:       addr,
		Func:       f.name,
		SystemName: f.sysName,
		Offset:     addr - f.addr,
		Mapping:    f.mapping,
		Prog:       f.prog,
	}
	if l := f.line(addr); l != nil {
		fr.File, fr.Line, fr.Column, fr.Source = l.file, l.line, l.col, l.source
	}
	return fr
}

// openEnd is the end of the time interval of an image still loaded.
const openEnd = math.MaxUint64

// bpfRange is one JIT image over the time it occupied its addresses:
// [start, end) from the time registered until unregistered.
type bpfRange struct {
	start, end  uint64
	from, until uint64
	fn          *bpfFunc
	img         *progImage // nil when known by symbol only
	// hit is set once a sample resolves into the image; the copies in
	// snapshots share it. nil in tables built directly by tests.
	hit *atomic.Bool
}

// bpfTable is an immutable snapshot of every JIT image seen, for readers
// on any goroutine. Images of the same address range (a JIT slot reused by
// the same program loaded again and again) form one group, searched by
// time, so a lookup does not slow down with the number of reloads.
type bpfTable struct {
	groups []*bpfGroup // sorted by start, then end
	// maxEnd[i] is the largest end among groups[:i+1]: the search walks
	// back from the last start at or below an address while a group
	// could still reach it.
	maxEnd []uint64
}

// bpfGroup is the images that held one address range, by time.
type bpfGroup struct {
	start, end uint64
	ranges     []bpfRange // sorted by from
	// lastUntil[i] indexes, among ranges[:i+1], the one that ended last
	// (the later one on ties).
	lastUntil []int32
}

// newBPFTable sorts a copy of ranges into a snapshot.
func newBPFTable(ranges []bpfRange) *bpfTable {
	sorted := slices.Clone(ranges)
	slices.SortStableFunc(sorted, func(a, b bpfRange) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
	})
	t := &bpfTable{}
	var m uint64
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].start == sorted[i].start && sorted[j].end == sorted[i].end {
			j++
		}
		t.groups = append(t.groups, newBPFGroup(sorted[i:j:j]))
		m = max(m, sorted[i].end)
		t.maxEnd = append(t.maxEnd, m)
		i = j
	}
	return t
}

// newBPFGroup makes the group of ranges, which share their addresses,
// sorting them by time in place (ties keep their order).
func newBPFGroup(ranges []bpfRange) *bpfGroup {
	slices.SortStableFunc(ranges, func(a, b bpfRange) int { return cmp.Compare(a.from, b.from) })
	g := &bpfGroup{start: ranges[0].start, end: ranges[0].end, ranges: ranges, lastUntil: make([]int32, len(ranges))}
	last := 0
	for k, r := range g.ranges {
		if r.until >= g.ranges[last].until {
			last = k
		}
		g.lastUntil[k] = int32(last)
	}
	return g
}

// lookup finds the image holding addr at time: of the images that held
// addr, the one whose interval contains time, else the one nearest in time
// if within timeSlack, and among equals the latest registered. time 0
// means now: the image loaded last of those still loaded.
func (t *bpfTable) lookup(addr, time uint64) *bpfRange {
	if t == nil {
		return nil
	}
	lo := searchAfter(t.groups, addr, func(e **bpfGroup) uint64 { return (*e).start })
	var best *bpfRange
	var bestD uint64
	for j := lo - 1; j >= 0 && t.maxEnd[j] > addr; j-- {
		g := t.groups[j]
		if addr >= g.end {
			continue
		}
		r, d := g.at(time)
		if best == nil || d < bestD || (d == bestD && r.from > best.from) {
			best, bestD = r, d
		}
	}
	if bestD > timeSlack {
		return nil
	}
	return best
}

// at picks the group's image for time, with its distance, by the rule of
// lookup.
func (g *bpfGroup) at(time uint64) (*bpfRange, uint64) {
	n := len(g.ranges)
	if time == 0 {
		r := &g.ranges[g.lastUntil[n-1]]
		return r, r.distance(0)
	}
	// idx: the last image registered at or before time.
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g.ranges[m].from <= time {
			lo = m + 1
		} else {
			hi = m
		}
	}
	idx := lo - 1
	var best *bpfRange
	var bestD uint64
	if idx >= 0 {
		// The latest registered of those holding time, if any: the walk
		// stops at once unless an older image outlived a newer one.
		for j := idx; j >= 0 && g.ranges[g.lastUntil[j]].until > time; j-- {
			if g.ranges[j].until > time {
				return &g.ranges[j], 0
			}
		}
		best = &g.ranges[g.lastUntil[idx]]
		bestD = best.distance(time)
	}
	if idx+1 < n {
		if r := &g.ranges[idx+1]; best == nil || r.distance(time) <= bestD {
			best, bestD = r, r.distance(time)
		}
	}
	return best, bestD
}

// distance is how far time lies outside the range's interval. At time 0
// (now) only images still loaded count.
func (r *bpfRange) distance(time uint64) uint64 {
	switch {
	case time == 0:
		if r.until == openEnd {
			return 0
		}
		return math.MaxUint64
	case time < r.from:
		return r.from - time
	case time >= r.until:
		return time - r.until + 1
	}
	return 0
}

// timeSlack is how far outside an image's interval a sample may lie and
// still resolve to it: a program may still run on another CPU for an RCU
// grace period after its unregister record, and clocks and records may be
// a little off. Farther out, the sample is code of an image this
// Symbolizer never saw, and naming it after a neighbour in time would be
// wrong.
const timeSlack = uint64(50 * time.Millisecond)

// markHit records that a sample resolved into r's image.
func (r *bpfRange) markHit() {
	if r.hit != nil && !r.hit.Load() {
		r.hit.Store(true)
	}
}
