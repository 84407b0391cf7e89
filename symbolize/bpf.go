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
	// Name is the program's full name: the BTF name of its main function
	// where the kernel's 15-byte name is truncated or empty (bpfprog's
	// Detail.FullName), else the kernel's name.
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
// time, so a lookup does not slow down with the number of reloads. Groups
// and the images of a group are persistent trees (ptree): a change to the
// images makes the next snapshot in time logarithmic in the images held,
// sharing the rest with the snapshots before it.
type bpfTable struct {
	// groups is by start, then end; a node's summary is the largest end
	// in its subtree, so that the search for the groups holding an
	// address skips the subtrees that end below it.
	groups *pnode[*bpfGroup, uint64]
}

// bpfGroup is the images that held one address range, by time.
type bpfGroup struct {
	start, end uint64
	// ranges is by from, then the order the images joined the group; a
	// node's summary is the image of its subtree that ended last (the
	// later one on ties).
	ranges *pnode[bpfRange, lastEnded]
}

// lastEnded is an image of a group, with its key there and its until (a
// copy, so that a search reads it without following r).
type lastEnded struct {
	r     *bpfRange
	until uint64
	key   pkey
}

// later returns the one of a and b that ended last; on ties, the one
// later in the group.
func (a lastEnded) later(b lastEnded) lastEnded {
	switch {
	case a.r == nil:
		return b
	case b.r == nil:
		return a
	case a.until != b.until:
		if a.until > b.until {
			return a
		}
		return b
	case a.key.cmp(b.key) > 0:
		return a
	}
	return b
}

// groupsSum summarizes a subtree of groups by its largest end.
func groupsSum(n *pnode[*bpfGroup, uint64]) uint64 {
	m := n.val.end
	if n.left != nil {
		m = max(m, n.left.sum)
	}
	if n.right != nil {
		m = max(m, n.right.sum)
	}
	return m
}

// rangesSum summarizes a subtree of a group by the image that ended last.
func rangesSum(n *pnode[bpfRange, lastEnded]) lastEnded {
	m := lastEnded{&n.val, n.val.until, n.key}
	if n.left != nil {
		m = m.later(n.left.sum)
	}
	if n.right != nil {
		m = m.later(n.right.sum)
	}
	return m
}

func newGroupsTree() ptree[*bpfGroup, uint64]   { return ptree[*bpfGroup, uint64]{sum: groupsSum} }
func newRangesTree() ptree[bpfRange, lastEnded] { return ptree[bpfRange, lastEnded]{sum: rangesSum} }

// newBPFTable makes a snapshot of ranges; images of one group registered
// at the same time keep their order in ranges.
func newBPFTable(ranges []bpfRange) *bpfTable {
	groups := map[groupKey]*ptree[bpfRange, lastEnded]{}
	for i, r := range ranges {
		k := groupKey{r.start, r.end}
		g := groups[k]
		if g == nil {
			t := newRangesTree()
			g = &t
			groups[k] = g
		}
		g.set(pkey{r.from, uint64(i)}, r)
	}
	top := newGroupsTree()
	for k, g := range groups {
		top.set(pkey{k.start, k.end}, &bpfGroup{start: k.start, end: k.end, ranges: g.root})
	}
	return &bpfTable{groups: top.root}
}

// lookup finds the image holding addr at time: of the images that held
// addr, the one whose interval contains time, else the one nearest in time
// if within timeSlack, and among equals the latest registered. time 0
// means now: the image loaded last of those still loaded.
func (t *bpfTable) lookup(addr, time uint64) *bpfRange {
	if t == nil {
		return nil
	}
	var best *bpfRange
	var bestD uint64
	stabGroups(t.groups, addr, time, &best, &bestD)
	if bestD > timeSlack {
		return nil
	}
	return best
}

// stabGroups considers the groups of n holding addr, from the last one by
// start and end down, for lookup.
func stabGroups(n *pnode[*bpfGroup, uint64], addr, time uint64, best **bpfRange, bestD *uint64) {
	for n != nil && n.sum > addr {
		g := n.val
		if g.start <= addr {
			stabGroups(n.right, addr, time, best, bestD)
			if addr < g.end {
				r, d := g.at(time)
				if *best == nil || d < *bestD || (d == *bestD && r.from > (*best).from) {
					*best, *bestD = r, d
				}
			}
		}
		n = n.left
	}
}

// at picks the group's image for time, with its distance, by the rule of
// lookup.
func (g *bpfGroup) at(time uint64) (*bpfRange, uint64) {
	if time == 0 {
		r := g.ranges.sum.r
		return r, r.distance(0)
	}
	// The latest registered of those holding time, if any.
	if r := holding(g.ranges, time); r != nil {
		return r, 0
	}
	// Else the one that ended last of those registered before time, or
	// the first registered after it, whichever is nearer (the later one
	// on ties).
	best, next := around(g.ranges, time)
	var bestD uint64
	if best != nil {
		bestD = best.distance(time)
	}
	if next != nil && (best == nil || next.distance(time) <= bestD) {
		best, bestD = next, next.distance(time)
	}
	return best, bestD
}

// holding returns the last image of n registered at or before time that
// had not ended by then.
func holding(n *pnode[bpfRange, lastEnded], time uint64) *bpfRange {
	for n != nil && n.sum.until > time {
		if n.key.a > time {
			n = n.left
			continue
		}
		if r := holding(n.right, time); r != nil {
			return r
		}
		if n.val.until > time {
			return &n.val
		}
		n = n.left
	}
	return nil
}

// around returns, of the images of n registered at or before time, the
// one that ended last (the later one on ties), and the first image
// registered after time: both lie along the one path down to time.
func around(n *pnode[bpfRange, lastEnded], time uint64) (ended, next *bpfRange) {
	var m lastEnded
	for n != nil {
		if n.key.a > time {
			next = &n.val
			n = n.left
			continue
		}
		m = m.later(lastEnded{&n.val, n.val.until, n.key})
		if n.left != nil {
			m = m.later(n.left.sum)
		}
		n = n.right
	}
	return m.r, next
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
