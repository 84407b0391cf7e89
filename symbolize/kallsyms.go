package symbolize

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// File names of kernel mappings.
const (
	kernelFile = "[kernel.kallsyms]"
	// unknownFunc names what no table knows.
	unknownFunc = "[unknown]"
)

// regionSlack is how far past its last symbol the code of the kernel or of
// a module may reach when nothing better says where it ends: kallsyms has
// no symbol sizes.
const regionSlack = 4096

// kernelTable is the kernel's text symbols, sorted by address, held
// compactly: one address, one name end and one module index per symbol, and
// every name in one string. It is immutable once built, so readers on any
// goroutine may share it.
type kernelTable struct {
	addrs []uint64
	// ends[i] is where the name of symbol i ends in names; it starts
	// where the name of symbol i-1 ends.
	ends  []uint32
	names string
	// mods[i] indexes regions: 0 is the kernel itself, then one per
	// module (and per built-in pseudo-module such as __builtin__ftrace).
	mods    []uint16
	regions []kernelRegion
	// bpf holds the "[bpf]" entries: JIT images of BPF programs,
	// trampolines and dispatchers. They belong to the BPF table, which
	// knows when they come and go.
	bpf []kallsymsBPF
	// restricted is set when every address read was zero: kptr_restrict
	// hides kernel addresses from this reader.
	restricted bool
	// lines and skipped count the lines read and those that could not be
	// parsed.
	lines, skipped int
	// text is the address of _text, the start of the kernel's image;
	// shift is added to addresses before lookups, to resolve those of a
	// recording made in another boot of this kernel (KASLR).
	text, shift uint64
}

// kernelRegion is where the code of the kernel or of one module lies.
type kernelRegion struct {
	name         string // module name; "" for the kernel
	start, limit uint64
	mapping      *Mapping
}

// kallsymsBPF is one "[bpf]" line of kallsyms.
type kallsymsBPF struct {
	addr uint64
	name string
}

// rawSym is a text symbol while the table is built.
type rawSym struct {
	addr uint64
	off  uint32 // name in the scratch buffer
	n    uint16 // name length
	mod  uint16
	rank uint8 // 3 global, 2 weak, 1 local
}

// parseKallsyms reads /proc/kallsyms text ("ADDR TYPE NAME[\t[MODULE]]"
// lines) and keeps the text symbols (types t, T, w, W). Lines it cannot
// parse are counted in skipped. It returns an error only when reading
// fails or the input is too large to index; then the table is nil.
func parseKallsyms(r io.Reader) (*kernelTable, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		scratch  []byte
		syms     []rawSym
		modIndex = map[string]uint16{}
		t        = &kernelTable{regions: []kernelRegion{{}}}
		nonzero  bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than any kallsyms line: skip the rest of it.
			t.lines++
			t.skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read kallsyms: %w", err)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read kallsyms: %w", err)
		}
		if len(line) > 0 {
			t.lines++
			addr, typ, name, mod, ok := splitKallsymsLine(line)
			switch {
			case !ok:
				t.skipped++
			default:
				nonzero = nonzero || addr != 0
				if len(mod) == 0 && string(name) == "_text" {
					t.text = addr
				}
				rank := textRank(typ)
				if rank == 0 {
					break
				}
				if string(mod) == "bpf" {
					t.bpf = append(t.bpf, kallsymsBPF{addr: addr, name: string(name)})
					break
				}
				mi := uint16(0)
				if len(mod) > 0 {
					var seen bool
					if mi, seen = modIndex[string(mod)]; !seen {
						if len(t.regions) > math.MaxUint16 {
							return nil, errors.New("read kallsyms: too many modules")
						}
						mi = uint16(len(t.regions))
						modIndex[string(mod)] = mi
						t.regions = append(t.regions, kernelRegion{name: string(mod)})
					}
				}
				if len(scratch)+len(name) > math.MaxUint32 {
					return nil, errors.New("read kallsyms: symbol names exceed 4 GiB")
				}
				// Doubling: append grows big slices by a quarter, which
				// copies a 120k-symbol table many times over.
				if len(syms) == cap(syms) {
					syms = slices.Grow(syms, max(len(syms), 1024))
				}
				if len(scratch)+len(name) > cap(scratch) {
					scratch = slices.Grow(scratch, max(len(scratch), len(name), 16<<10))
				}
				syms = append(syms, rawSym{addr: addr, off: uint32(len(scratch)), n: uint16(len(name)), mod: mi, rank: rank})
				scratch = append(scratch, name...)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if t.lines > t.skipped && !nonzero {
		t.restricted = true
		t.bpf = nil
		t.regions = t.regions[:1]
		t.regions[0].mapping = &Mapping{Kind: KindKernel, File: kernelFile}
		return t, nil
	}
	t.build(syms, scratch)
	return t, nil
}

// splitKallsymsLine splits one line; name and mod alias line.
func splitKallsymsLine(line []byte) (addr uint64, typ byte, name, mod []byte, ok bool) {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > 16 || len(line) < sp+4 || line[sp+2] != ' ' {
		return 0, 0, nil, nil, false
	}
	for _, c := range line[:sp] {
		d, good := hexDigit(c)
		if !good {
			return 0, 0, nil, nil, false
		}
		addr = addr<<4 | uint64(d)
	}
	typ = line[sp+1]
	name = line[sp+3:]
	if tab := bytes.IndexByte(name, '\t'); tab >= 0 {
		m := name[tab+1:]
		name = name[:tab]
		if len(m) < 3 || m[0] != '[' || m[len(m)-1] != ']' {
			return 0, 0, nil, nil, false
		}
		mod = m[1 : len(m)-1]
	}
	if len(name) == 0 || len(name) > math.MaxUint16 || bytes.IndexByte(name, ' ') >= 0 {
		return 0, 0, nil, nil, false
	}
	return addr, typ, name, mod, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// textRank ranks the types of text symbols, 0 for other symbols: of the
// names sharing an address, a global one is the best.
func textRank(typ byte) uint8 {
	switch typ {
	case 'T':
		return 3
	case 'W', 'w':
		return 2
	case 't':
		return 1
	}
	return 0
}

// better reports whether a names the address better than b: global over
// weak over local, then fewer leading underscores (alias_foo rather than
// __alias_foo), then the first listed.
func better(a, b rawSym, scratch []byte) bool {
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	ua := leadingUnderscores(scratch[a.off : a.off+uint32(a.n)])
	ub := leadingUnderscores(scratch[b.off : b.off+uint32(b.n)])
	return ua < ub
}

func leadingUnderscores[S ~string | ~[]byte](b S) int {
	n := 0
	for n < len(b) && b[n] == '_' {
		n++
	}
	return n
}

// build sorts the symbols, keeps one name per address and lays the table
// out compactly.
func (t *kernelTable) build(syms []rawSym, scratch []byte) {
	byAddr := func(a, b rawSym) int {
		return cmp.Compare(a.addr, b.addr)
	}
	if !slices.IsSortedFunc(syms, byAddr) {
		// Stable: among aliases, the first listed wins ties.
		slices.SortStableFunc(syms, byAddr)
	}
	keep := syms[:0]
	size := 0
	for _, s := range syms {
		if n := len(keep); n > 0 && keep[n-1].addr == s.addr {
			if better(s, keep[n-1], scratch) {
				size += int(s.n) - int(keep[n-1].n)
				keep[n-1] = s
			}
			continue
		}
		keep = append(keep, s)
		size += int(s.n)
	}
	t.addrs = make([]uint64, len(keep))
	t.ends = make([]uint32, len(keep))
	t.mods = make([]uint16, len(keep))
	var names strings.Builder
	names.Grow(size)
	for i, s := range keep {
		names.Write(scratch[s.off : s.off+uint32(s.n)])
		t.addrs[i] = s.addr
		t.ends[i] = uint32(names.Len())
		t.mods[i] = s.mod
		r := &t.regions[s.mod]
		if r.limit == 0 {
			r.start = s.addr
		}
		r.limit = s.addr + regionSlack
		if r.limit < s.addr {
			r.limit = math.MaxUint64
		}
	}
	t.names = names.String()
	t.makeMappings()
}

// makeMappings gives every region its Mapping, once its range is final.
func (t *kernelTable) makeMappings() {
	for i := range t.regions {
		r := &t.regions[i]
		file := kernelFile
		if i > 0 {
			file = "[" + r.name + "]"
		}
		r.mapping = &Mapping{Kind: KindKernel, Start: r.start, Limit: r.limit, File: file}
	}
}

// moduleInfo is one line of /proc/modules.
type moduleInfo struct {
	name       string
	base, size uint64
}

// parseModules reads /proc/modules ("NAME SIZE REFS DEPS STATE ADDR ...").
// Lines it cannot parse are skipped.
func parseModules(r io.Reader) ([]moduleInfo, error) {
	var mods []moduleInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		var m moduleInfo
		if _, err := fmt.Sscanf(f[1], "%d", &m.size); err != nil {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(f[5], "0x"), "%x", &m.base); err != nil {
			continue
		}
		m.name = f[0]
		mods = append(mods, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules: %w", err)
	}
	return mods, nil
}

// applyModules widens the regions of modules to what /proc/modules says
// they occupy (their whole core allocation: an upper bound of their code).
// It must be called before the table is shared.
func (t *kernelTable) applyModules(mods []moduleInfo) {
	for _, m := range mods {
		if m.base == 0 || m.size == 0 || m.base+m.size < m.base {
			continue
		}
		for i := 1; i < len(t.regions); i++ {
			r := &t.regions[i]
			if r.name != m.name {
				continue
			}
			r.start = min(r.start, m.base)
			r.limit = max(r.limit, m.base+m.size)
			r.mapping.Start, r.mapping.Limit = r.start, r.limit
		}
	}
}

// len returns the number of symbols.
func (t *kernelTable) len() int { return len(t.addrs) }

// name returns the name of symbol i, a substring of the shared names.
func (t *kernelTable) name(i int) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.names[start:t.ends[i]]
}

// lookup finds the symbol holding addr: the last one at or below it, if
// addr lies in the region of that symbol's module.
func (t *kernelTable) lookup(addr uint64) (int, bool) {
	lo := searchAfter(t.addrs, addr, func(e *uint64) uint64 { return *e })
	i := lo - 1
	if i < 0 {
		return 0, false
	}
	// A limit of MaxUint64 saturated: the region reaches the top.
	if r := &t.regions[t.mods[i]]; addr >= r.limit && r.limit != math.MaxUint64 {
		return 0, false
	}
	return i, true
}

// frame resolves addr to a kernel frame, ok false if no region holds it.
func (t *kernelTable) frame(addr uint64) (Frame, bool) {
	i, ok := t.lookup(addr)
	if !ok {
		return Frame{}, false
	}
	return Frame{
		Kind:    KindKernel,
		Addr:    addr,
		Func:    t.name(i),
		Offset:  addr - t.addrs[i],
		Mapping: t.regions[t.mods[i]].mapping,
	}, true
}

// kernelMapping is the mapping of the kernel itself.
func (t *kernelTable) kernelMapping() *Mapping { return t.regions[0].mapping }

// memSize estimates the bytes the table holds.
func (t *kernelTable) memSize() int {
	return 8*cap(t.addrs) + 4*cap(t.ends) + 2*cap(t.mods) + len(t.names)
}

// searchAfter returns the index just past the last element of s, sorted by
// key, whose key is at or below x. Small enough to be inlined with its key
// function: these searches are on the per-frame path.
func searchAfter[E any](s []E, x uint64, key func(*E) uint64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if key(&s[m]) <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
