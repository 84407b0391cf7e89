package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ntGNUBuildID is the type of the GNU build ID note.
const ntGNUBuildID = 3

// maxNotes bounds how much note data is read from one file.
const maxNotes = 1 << 20

// parseBuildIDNote finds the GNU build ID in ELF note data (records of
// namesz, descsz, type, then name and desc each padded to 4 bytes) and
// returns it in hex.
func parseBuildIDNote(data []byte, order binary.ByteOrder) (string, bool) {
	for len(data) >= 12 {
		namesz := uint64(order.Uint32(data[0:]))
		descsz := uint64(order.Uint32(data[4:]))
		typ := order.Uint32(data[8:])
		data = data[12:]
		nameEnd := align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(data)) || descEnd > uint64(len(data)) || nameEnd+descsz > uint64(len(data)) {
			return "", false
		}
		name := data[:namesz]
		if typ == ntGNUBuildID && string(name) == "GNU\x00" && descsz > 0 {
			return hex.EncodeToString(data[nameEnd : nameEnd+descsz]), true
		}
		data = data[descEnd:]
	}
	return "", false
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// elfBuildID reads the build ID of an ELF file from its note segments or
// sections.
func elfBuildID(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p.Open(), maxNotes))
		if err != nil {
			continue
		}
		if id, ok := parseBuildIDNote(data, f.ByteOrder); ok {
			return id
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(s.Open(), maxNotes))
		if err != nil {
			continue
		}
		if id, ok := parseBuildIDNote(data, f.ByteOrder); ok {
			return id
		}
	}
	return ""
}

// elfLoad is one PT_LOAD segment: file offsets [off, off+filesz) are
// loaded at vaddr.
type elfLoad struct {
	off, vaddr, filesz uint64
	exec               bool
}

// objSyms is the symbol table of one ELF file, shared by every mapping of
// that file in every process. Like kernelTable it holds one address, one
// size and one name end per symbol, and all names in one string.
type objSyms struct {
	buildID string
	loads   []elfLoad
	addrs   []uint64
	sizes   []uint64
	ends    []uint32
	names   string
	// gotab resolves Go functions with file and line from the pclntab.
	gotab *gosym.Table
}

// rawELFSym is a function symbol while the table is built.
type rawELFSym struct {
	addr, size uint64
	name       string
	rank       uint8
}

// loadELF reads the function symbols (.symtab, else .dynsym), the Go
// pclntab if there is one, the load segments and the build ID of an ELF
// file. If cached (may be nil) knows the build ID, it returns what cached
// gives without reading further.
func loadELF(r io.ReaderAt, cached func(buildID string) *objSyms) (*objSyms, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	o := &objSyms{buildID: elfBuildID(f)}
	if o.buildID != "" && cached != nil {
		if c := cached(o.buildID); c != nil {
			return c, nil
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			o.loads = append(o.loads, elfLoad{off: p.Off, vaddr: p.Vaddr, filesz: p.Filesz, exec: p.Flags&elf.PF_X != 0})
		}
	}
	syms, err := f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) || len(syms) == 0 {
		syms, err = f.DynamicSymbols()
	}
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("read ELF symbols: %w", err)
	}
	o.setSymbols(syms)
	if s := f.Section(".gopclntab"); s != nil && s.Type != elf.SHT_NOBITS {
		if tab, err := loadGoTable(f, s); err == nil {
			o.gotab = tab
		}
	}
	return o, nil
}

// loadGoTable reads a Go binary's function table from its pclntab.
func loadGoTable(f *elf.File, pcln *elf.Section) (*gosym.Table, error) {
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	var text uint64
	if s := f.Section(".text"); s != nil {
		text = s.Addr
	}
	var symtab []byte
	if s := f.Section(".gosymtab"); s != nil && s.Type != elf.SHT_NOBITS {
		symtab, _ = s.Data()
	}
	return gosym.NewTable(symtab, gosym.NewLineTable(data, text))
}

// setSymbols keeps the defined function symbols, one per address, sorted.
func (o *objSyms) setSymbols(syms []elf.Symbol) {
	var raw []rawELFSym
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || s.Value == 0 || s.Section == elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		var rank uint8
		switch elf.ST_BIND(s.Info) {
		case elf.STB_GLOBAL:
			rank = 3
		case elf.STB_WEAK:
			rank = 2
		default:
			rank = 1
		}
		raw = append(raw, rawELFSym{addr: s.Value, size: s.Size, name: s.Name, rank: rank})
	}
	slices.SortStableFunc(raw, func(a, b rawELFSym) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	keep := raw[:0]
	size := 0
	for _, s := range raw {
		if n := len(keep); n > 0 && keep[n-1].addr == s.addr {
			k := &keep[n-1]
			if s.rank > k.rank || (s.rank == k.rank && leadingUnderscores(s.name) < leadingUnderscores(k.name)) {
				size += len(s.name) - len(k.name)
				k.name, k.rank = s.name, s.rank
			}
			k.size = max(k.size, s.size)
			continue
		}
		keep = append(keep, s)
		size += len(s.name)
	}
	if size > math.MaxUint32 {
		return
	}
	o.addrs = make([]uint64, len(keep))
	o.sizes = make([]uint64, len(keep))
	o.ends = make([]uint32, len(keep))
	var names strings.Builder
	names.Grow(size)
	for i, s := range keep {
		names.WriteString(s.name)
		o.addrs[i], o.sizes[i], o.ends[i] = s.addr, s.size, uint32(names.Len())
	}
	o.names = names.String()
}

// vaddr converts a file offset to the ELF virtual address it is loaded at.
func (o *objSyms) vaddr(off uint64) uint64 {
	for _, l := range o.loads {
		if off >= l.off && off-l.off < l.filesz {
			return off - l.off + l.vaddr
		}
	}
	return off
}

// sym finds the function symbol holding vaddr.
func (o *objSyms) sym(vaddr uint64) (name string, start uint64, ok bool) {
	lo, hi := 0, len(o.addrs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if o.addrs[m] <= vaddr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < 0 {
		return "", 0, false
	}
	if sz := o.sizes[i]; sz != 0 && vaddr-o.addrs[i] >= sz {
		return "", 0, false
	}
	begin := uint32(0)
	if i > 0 {
		begin = o.ends[i-1]
	}
	return o.names[begin:o.ends[i]], o.addrs[i], true
}
