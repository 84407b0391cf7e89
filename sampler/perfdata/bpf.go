package perfdata

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf/btf"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
)

// BPFProg is the info perf stored of one BPF program (HEADER_BPF_PROG_INFO):
// the fields of struct bpf_prog_info and the arrays perf asked for.
type BPFProg struct {
	ID    uint32
	Type  uint32 // enum bpf_prog_type
	Tag   [8]byte
	Name  string // the kernel's name, at most 15 bytes
	BTFID uint32 // the program's BTF, in Header.BTF
	// JitedKsyms and JitedFuncLens give the JIT image of each function,
	// main program first.
	JitedKsyms    []uint64
	JitedFuncLens []uint32
	// FuncInfo and LineInfo are the BTF func and line info records;
	// JitedLineInfo, parallel to LineInfo, the JIT address of each line.
	FuncInfo      []FuncInfo
	LineInfo      []LineInfo
	JitedLineInfo []uint64
	// ProgTags are the tags of the functions, main program first.
	ProgTags [][8]byte
	// JitedInsns is the JIT image, the functions one after the other;
	// XlatedInsns the translated instructions. Either may be absent:
	// perf stores the JIT image but not the translated code.
	JitedInsns  []byte
	XlatedInsns []byte
	MapIDs      []uint32
}

// FuncInfo is struct bpf_func_info: where a function starts, in
// instructions, and its BTF_KIND_FUNC.
type FuncInfo struct {
	InsnOff, TypeID uint32
}

// LineInfo is struct bpf_line_info: the source line of the instructions
// from InsnOff on, as offsets into the BTF string table.
type LineInfo struct {
	InsnOff, FileNameOff, LineOff, LineCol uint32
}

// Line is the line number in LineCol.
func (l LineInfo) Line() uint32 { return l.LineCol >> 10 }

// Column is the column in LineCol (0 when unknown).
func (l LineInfo) Column() uint32 { return l.LineCol & 0x3ff }

// HexTag is the program's tag as bpftool prints it.
func (p *BPFProg) HexTag() string { return hex.EncodeToString(p.Tag[:]) }

// Offsets of struct bpf_prog_info's fields, from the kernel ABI struct.
var (
	piType            = int(unsafe.Offsetof(bpfabi.ProgInfo{}.Type))
	piID              = int(unsafe.Offsetof(bpfabi.ProgInfo{}.ID))
	piTag             = int(unsafe.Offsetof(bpfabi.ProgInfo{}.Tag))
	piJitedLen        = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedProgLen))
	piXlatedLen       = int(unsafe.Offsetof(bpfabi.ProgInfo{}.XlatedProgLen))
	piJitedInsns      = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedProgInsns))
	piXlatedInsns     = int(unsafe.Offsetof(bpfabi.ProgInfo{}.XlatedProgInsns))
	piNrMapIDs        = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrMapIDs))
	piMapIDs          = int(unsafe.Offsetof(bpfabi.ProgInfo{}.MapIDs))
	piName            = int(unsafe.Offsetof(bpfabi.ProgInfo{}.Name))
	piNrJitedKsyms    = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrJitedKsyms))
	piNrJitedFuncLens = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrJitedFuncLens))
	piJitedKsyms      = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedKsyms))
	piJitedFuncLens   = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedFuncLens))
	piBTFID           = int(unsafe.Offsetof(bpfabi.ProgInfo{}.BTFID))
	piFuncInfoRecSize = int(unsafe.Offsetof(bpfabi.ProgInfo{}.FuncInfoRecSize))
	piFuncInfo        = int(unsafe.Offsetof(bpfabi.ProgInfo{}.FuncInfo))
	piNrFuncInfo      = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrFuncInfo))
	piNrLineInfo      = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrLineInfo))
	piLineInfo        = int(unsafe.Offsetof(bpfabi.ProgInfo{}.LineInfo))
	piJitedLineInfo   = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedLineInfo))
	piNrJitedLineInfo = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrJitedLineInfo))
	piLineInfoRecSize = int(unsafe.Offsetof(bpfabi.ProgInfo{}.LineInfoRecSize))
	piJitedLineRecSz  = int(unsafe.Offsetof(bpfabi.ProgInfo{}.JitedLineInfoRecSize))
	piNrProgTags      = int(unsafe.Offsetof(bpfabi.ProgInfo{}.NrProgTags))
	piProgTags        = int(unsafe.Offsetof(bpfabi.ProgInfo{}.ProgTags))
	progInfoSize      = int(unsafe.Sizeof(bpfabi.ProgInfo{}))
)

// bpilArray describes one array of struct perf_bpil: where its offset
// (into the data) and its count are in bpf_prog_info, and its element size,
// fixed or read from sizeOff.
type bpilArray struct {
	ptrOff, countOff int
	size             int // fixed size; 0: read from sizeOff
	sizeOff          int
}

var bpilArrays = [...]bpilArray{
	bpilArrayJitedInsns:    {piJitedInsns, piJitedLen, 1, 0},
	bpilArrayXlatedInsns:   {piXlatedInsns, piXlatedLen, 1, 0},
	bpilArrayMapIDs:        {piMapIDs, piNrMapIDs, 4, 0},
	bpilArrayJitedKsyms:    {piJitedKsyms, piNrJitedKsyms, 8, 0},
	bpilArrayJitedFuncLens: {piJitedFuncLens, piNrJitedFuncLens, 4, 0},
	bpilArrayFuncInfo:      {piFuncInfo, piNrFuncInfo, 0, piFuncInfoRecSize},
	bpilArrayLineInfo:      {piLineInfo, piNrLineInfo, 0, piLineInfoRecSize},
	bpilArrayJitedLineInfo: {piJitedLineInfo, piNrJitedLineInfo, 0, piJitedLineRecSz},
	bpilArrayProgTags:      {piProgTags, piNrProgTags, 8, 0},
}

// parseBPFProgInfo reads the BPF program info section: u32 count, then per
// program struct perf_bpil (info_len, data_len, arrays, bpf_prog_info of
// info_len bytes, data of data_len bytes), the arrays' pointers in the info
// turned into offsets into the data.
func (h *Header) parseBPFProgInfo(c *cursor) error {
	n := c.u32()
	if uint64(n) > uint64(len(c.b))/bpilHeaderSize {
		return formatErr(c.base, "%d BPF programs in %d bytes", n, len(c.b))
	}
	if h.Programs == nil {
		h.Programs = map[uint32]*BPFProg{}
	}
	for i := uint32(0); i < n; i++ {
		at := c.where()
		infoLen, dataLen := c.u32(), c.u32()
		arrays := c.u64()
		info := c.bytes(int(infoLen))
		data := c.bytes(int(dataLen))
		if c.bad {
			return formatErr(at, "BPF program info %d (%d + %d bytes) is cut short", i, infoLen, dataLen)
		}
		p, err := parseBPFProg(info, data, arrays)
		if err != nil {
			return formatErr(at, "BPF program info %d: %v", i, err)
		}
		h.Programs[p.ID] = p
	}
	return nil
}

// parseBPFProg decodes one struct bpf_prog_info and its arrays. A shorter
// info (an older perf) has zeroes for what it lacks; a longer one's extra
// fields are ignored.
func parseBPFProg(infoB, data []byte, arrays uint64) (*BPFProg, error) {
	info := make([]byte, progInfoSize)
	copy(info, infoB)
	u32 := func(off int) uint32 { return ne.Uint32(info[off:]) }
	p := &BPFProg{
		ID:    u32(piID),
		Type:  u32(piType),
		Name:  cstring(info[piName : piName+16]),
		BTFID: u32(piBTFID),
	}
	copy(p.Tag[:], info[piTag:])
	arr := func(kind int) ([]byte, int, error) {
		if arrays&(1<<kind) == 0 {
			return nil, 0, nil
		}
		d := bpilArrays[kind]
		off := ne.Uint64(info[d.ptrOff:])
		count := uint64(u32(d.countOff))
		size := uint64(d.size)
		if size == 0 {
			size = uint64(u32(d.sizeOff))
		}
		if count == 0 {
			return nil, int(size), nil
		}
		if size == 0 || size > 1<<16 {
			return nil, 0, fmt.Errorf("array %d has records of %d bytes", kind, size)
		}
		if off > uint64(len(data)) || count > (uint64(len(data))-off)/size {
			return nil, 0, fmt.Errorf("array %d (%d records of %d bytes at %d) is outside its %d bytes of data", kind, count, size, off, len(data))
		}
		return data[off : off+count*size], int(size), nil
	}
	b, _, err := arr(bpilArrayJitedInsns)
	if err != nil {
		return nil, err
	}
	p.JitedInsns = bytes.Clone(b)
	if b, _, err = arr(bpilArrayXlatedInsns); err != nil {
		return nil, err
	}
	p.XlatedInsns = bytes.Clone(b)
	if b, _, err = arr(bpilArrayMapIDs); err != nil {
		return nil, err
	}
	for ; len(b) >= 4; b = b[4:] {
		p.MapIDs = append(p.MapIDs, ne.Uint32(b))
	}
	if b, _, err = arr(bpilArrayJitedKsyms); err != nil {
		return nil, err
	}
	for ; len(b) >= 8; b = b[8:] {
		p.JitedKsyms = append(p.JitedKsyms, ne.Uint64(b))
	}
	if b, _, err = arr(bpilArrayJitedFuncLens); err != nil {
		return nil, err
	}
	for ; len(b) >= 4; b = b[4:] {
		p.JitedFuncLens = append(p.JitedFuncLens, ne.Uint32(b))
	}
	b, size, err := arr(bpilArrayFuncInfo)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && size < 8 {
		return nil, fmt.Errorf("func info records of %d bytes", size)
	}
	for ; len(b) >= size && size >= 8; b = b[size:] {
		p.FuncInfo = append(p.FuncInfo, FuncInfo{ne.Uint32(b), ne.Uint32(b[4:])})
	}
	if b, size, err = arr(bpilArrayLineInfo); err != nil {
		return nil, err
	}
	if len(b) > 0 && size < 16 {
		return nil, fmt.Errorf("line info records of %d bytes", size)
	}
	for ; len(b) >= size && size >= 16; b = b[size:] {
		p.LineInfo = append(p.LineInfo, LineInfo{ne.Uint32(b), ne.Uint32(b[4:]), ne.Uint32(b[8:]), ne.Uint32(b[12:])})
	}
	if b, size, err = arr(bpilArrayJitedLineInfo); err != nil {
		return nil, err
	}
	if len(b) > 0 && size < 8 {
		return nil, fmt.Errorf("JIT line info records of %d bytes", size)
	}
	for ; len(b) >= size && size >= 8; b = b[size:] {
		p.JitedLineInfo = append(p.JitedLineInfo, ne.Uint64(b))
	}
	if b, _, err = arr(bpilArrayProgTags); err != nil {
		return nil, err
	}
	for ; len(b) >= 8; b = b[8:] {
		p.ProgTags = append(p.ProgTags, [8]byte(b[:8]))
	}
	return p, nil
}

// Program is a BPF program of the file with its BTF resolved: function
// names and source lines as text.
type Program struct {
	*BPFProg
	// FullName is the BTF name of the main function, or Name.
	FullName string
	// Funcs names the functions, parallel to FuncInfo ("" where BTF has
	// no name).
	Funcs []string
	// Lines are the source lines, parallel to LineInfo.
	Lines []SourceLine
	// BTF is the program's BTF, nil if the file has none for it.
	BTF *btf.Spec
}

// SourceLine is one line info record with its strings.
type SourceLine struct {
	File   string
	Line   uint32
	Column uint32
	Source string // the text of the line, as BTF carries it
}

// Program returns program id with its names and source lines resolved
// through the stored BTF. ok is false if the file has no info for id. A
// program whose BTF is missing or unreadable comes without names and
// lines, and err says why.
func (h *Header) Program(id uint32) (prog *Program, ok bool, err error) {
	p := h.Programs[id]
	if p == nil {
		return nil, false, nil
	}
	prog = &Program{BPFProg: p, FullName: p.Name}
	raw := h.BTF[p.BTFID]
	if p.BTFID == 0 || raw == nil {
		if p.BTFID != 0 && (len(p.FuncInfo) > 0 || len(p.LineInfo) > 0) {
			return prog, true, fmt.Errorf("BPF program %d: its BTF (id %d) is not in the file", id, p.BTFID)
		}
		return prog, true, nil
	}
	strs, err := btfStrings(raw)
	if err != nil {
		return prog, true, fmt.Errorf("BPF program %d: BTF %d: %w", id, p.BTFID, err)
	}
	spec, err := loadBTF(raw)
	if err != nil {
		return prog, true, fmt.Errorf("BPF program %d: BTF %d: %w", id, p.BTFID, err)
	}
	prog.BTF = spec
	for _, fi := range p.FuncInfo {
		name := ""
		if t, err := spec.TypeByID(btf.TypeID(fi.TypeID)); err == nil {
			if fn, ok := t.(*btf.Func); ok {
				name = fn.Name
			}
		}
		prog.Funcs = append(prog.Funcs, name)
	}
	if len(prog.Funcs) > 0 && prog.Funcs[0] != "" {
		prog.FullName = prog.Funcs[0]
	}
	for _, li := range p.LineInfo {
		prog.Lines = append(prog.Lines, SourceLine{
			File:   strs.at(li.FileNameOff),
			Line:   li.Line(),
			Column: li.Column(),
			Source: strs.at(li.LineOff),
		})
	}
	return prog, true, nil
}

// loadBTF parses raw BTF with cilium/ebpf. Its parser is fuzzed upstream,
// but the bytes here are from a file anyone could have written: a panic
// in it is turned into an error rather than taking the process down.
func loadBTF(raw []byte) (spec *btf.Spec, err error) {
	defer func() {
		if r := recover(); r != nil {
			spec, err = nil, fmt.Errorf("unreadable BTF: %v", r)
		}
	}()
	return btf.LoadSpecFromReader(bytes.NewReader(raw))
}

// btfStrs is the string section of a BTF blob.
type btfStrs []byte

// btfStrings finds the string section of raw BTF (struct btf_header).
func btfStrings(raw []byte) (btfStrs, error) {
	if len(raw) < btfHeaderMinSize || ne.Uint16(raw) != btfMagic {
		return nil, fmt.Errorf("not BTF (%d bytes)", len(raw))
	}
	hdrLen := uint64(ne.Uint32(raw[4:]))
	strOff, strLen := uint64(ne.Uint32(raw[16:])), uint64(ne.Uint32(raw[20:]))
	start := hdrLen + strOff
	if hdrLen < btfHeaderMinSize || start > uint64(len(raw)) || strLen > uint64(len(raw))-start {
		return nil, fmt.Errorf("string section [%d, +%d) outside its %d bytes", start, strLen, len(raw))
	}
	return btfStrs(raw[start : start+strLen]), nil
}

// at returns the NUL-terminated string at off, "" if off is outside.
func (s btfStrs) at(off uint32) string {
	if uint64(off) >= uint64(len(s)) {
		return ""
	}
	return cstring(s[off:])
}
