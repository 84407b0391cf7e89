package annotate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf/btf"

	"github.com/bpfprof/bpfprof/bpfprog"
)

// KernelSymbols names kernel addresses: the symbolizer's kallsyms table in
// a live session, the file's kallsyms in a perf.data reader. It is asked
// for helper call targets at capture time and for JIT call targets when a
// listing is built.
type KernelSymbols interface {
	// KernelSymbol returns the name of the kernel symbol containing addr
	// and addr's offset into it; ok false when none does.
	KernelSymbol(addr uint64) (name string, off uint64, ok bool)
}

// CaptureOptions give FromDetail what a program's detail does not hold.
// Each is optional: what is missing shows as IDs and numbers instead of
// names.
type CaptureOptions struct {
	// MapNames gives the names of the program's maps by ID (the caller
	// reads them, e.g. with ebpf.NewMapFromID and Map.Info).
	MapNames map[uint32]string
	// Kernel and CallBase name the helpers the program calls: a call's
	// target is CallBase (the address of __bpf_call_base in kallsyms) plus
	// its immediate.
	Kernel   KernelSymbols
	CallBase uint64
	// KernelTypeName names a type of the kernel's BTF (vmlinux) by ID, to
	// name the kfuncs the program calls (bpfprog.KernelTypeName does).
	KernelTypeName func(id uint32) (string, bool)
}

// FromDetail captures what a listing of the program needs from the detail
// bpfprog.ReadDetail read of it (bpfprog.DetailAll), so that the program
// can be annotated after it unloads; it only converts values. What the
// kernel did not give (no BTF, JIT image hidden by kptr_restrict) is left
// empty; Build says so. The error is reserved for a detail that is present
// but corrupt.
func FromDetail(d *bpfprog.Detail, opts CaptureOptions) (*Program, error) {
	if d == nil {
		return nil, errors.New("capture BPF program: no program detail")
	}
	p := &Program{ID: uint32(d.ID), Tag: d.Tag, Name: d.FullName, Type: d.Type.Name()}
	if len(d.Xlated)%insnSize != 0 {
		return nil, fmt.Errorf("capture BPF program %d: %d bytes of xlated instructions, not a multiple of %d", d.ID, len(d.Xlated), insnSize)
	}
	p.Xlated = d.Xlated

	for _, fi := range d.Funcs {
		p.Funcs = append(p.Funcs, Func{Insn: fi.Insn, Name: fi.Name, Signature: Signature(fi.Type)})
	}
	jl := d.JitedLines
	if len(jl) != len(d.Lines) {
		jl = nil
	}
	for i, li := range d.Lines {
		l := Line{Insn: li.Insn, File: li.File, Line: li.Line, Col: li.Col, Text: li.Source}
		if jl != nil {
			l.JITAddr = jl[i]
		}
		p.Lines = append(p.Lines, l)
	}

	if len(d.JITImage) > 0 {
		p.JIT = &JIT{Image: d.JITImage, Ksyms: d.JitedKsyms, FuncLens: d.JitedFuncLens}
	}

	for _, mid := range d.MapIDs {
		p.Maps = append(p.Maps, Map{ID: mid, Name: opts.MapNames[mid]})
	}

	if opts.Kernel != nil && opts.CallBase != 0 {
		p.Calls = helperCalls(p.Xlated, opts.Kernel, opts.CallBase)
	}
	if opts.KernelTypeName != nil {
		p.Kfuncs = kfuncCalls(p.Xlated, opts.KernelTypeName)
	}
	return p, nil
}

// insnSize is the size of a struct bpf_insn.
const insnSize = 8

// kfuncCalls names the kfuncs that xlated code calls from the kernel's
// BTF. A call with a non-zero offset goes to a module's BTF: left out.
func kfuncCalls(xlated []byte, typeName func(uint32) (string, bool)) map[int32]string {
	calls := map[int32]string{}
	for i := 0; i+8 <= len(xlated); i += 8 {
		ins := rawInstruction(xlated[i : i+8])
		if xlated[i] != callCode || ins.Src != 2 || ins.Offset != 0 { // BPF_PSEUDO_KFUNC_CALL into vmlinux
			continue
		}
		imm := int32(ins.Constant)
		if _, done := calls[imm]; done || imm <= 0 {
			continue
		}
		if name, ok := typeName(uint32(imm)); ok {
			calls[imm] = name
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return calls
}

// helperCalls names the targets of the helper calls in xlated code.
func helperCalls(xlated []byte, ks KernelSymbols, base uint64) map[int32]string {
	calls := map[int32]string{}
	for i := 0; i+8 <= len(xlated); i += 8 {
		code, regs := xlated[i], xlated[i+1]
		if code != callCode || regs>>4 != 0 { // src_reg 0: a helper
			continue
		}
		imm := int32(binary.NativeEndian.Uint32(xlated[i+4:]))
		if _, done := calls[imm]; done {
			continue
		}
		if name, off, ok := ks.KernelSymbol(base + uint64(int64(imm))); ok && off == 0 {
			calls[imm] = name
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return calls
}

// hostEndian is the byte order of the kernel's bpf_insn records, as a
// concrete ByteOrder (cilium/ebpf's asm rejects binary.NativeEndian).
var hostEndian = func() binary.ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

// callCode is BPF_JMP|BPF_CALL.
const callCode = 0x85

// Signature renders fn's C declaration from its BTF type, e.g.
// "static __u32 bpfprof_xdp_sub(__u32 len)".
func Signature(fn *btf.Func) string {
	if fn == nil {
		return ""
	}
	var b []byte
	if fn.Linkage == btf.StaticFunc {
		b = append(b, "static "...)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return string(append(b, fn.Name...))
	}
	b = appendDecl(b, proto.Return, fn.Name+"(", 0)
	for i, p := range proto.Params {
		if i > 0 {
			b = append(b, ", "...)
		}
		if p.Type == nil && p.Name == "" {
			b = append(b, "..."...)
			continue
		}
		b = appendDecl(b, p.Type, p.Name, 0)
	}
	if len(proto.Params) == 0 {
		b = append(b, "void"...)
	}
	return string(append(b, ')'))
}

// maxTypeDepth bounds the walk through BTF types, which may be cyclic
// only through named types but can be deep when corrupt.
const maxTypeDepth = 16

// appendDecl appends a C declaration of name with type t ("int x",
// "struct xdp_md *ctx", "__u8 buf[16]").
func appendDecl(b []byte, t btf.Type, name string, depth int) []byte {
	base, suffix := cType(t, depth)
	b = append(b, base...)
	if name != "" {
		if len(base) > 0 && base[len(base)-1] != '*' {
			b = append(b, ' ')
		}
		b = append(b, name...)
	}
	return append(b, suffix...)
}

// cType returns the C spelling of t split around where a declared name
// goes: "unsigned int", ""; "char *", ""; "__u8", "[16]".
func cType(t btf.Type, depth int) (string, string) {
	if depth > maxTypeDepth {
		return "...", ""
	}
	switch t := t.(type) {
	case nil, *btf.Void:
		return "void", ""
	case *btf.Int:
		return t.Name, ""
	case *btf.Float:
		return t.Name, ""
	case *btf.Typedef:
		return t.Name, ""
	case *btf.Struct:
		return "struct " + t.Name, ""
	case *btf.Union:
		return "union " + t.Name, ""
	case *btf.Enum:
		return "enum " + t.Name, ""
	case *btf.Fwd:
		return t.Kind.String() + " " + t.Name, ""
	case *btf.Const:
		base, suf := cType(t.Type, depth+1)
		return "const " + base, suf
	case *btf.Volatile:
		base, suf := cType(t.Type, depth+1)
		return "volatile " + base, suf
	case *btf.Restrict:
		base, suf := cType(t.Type, depth+1)
		return base + " restrict", suf
	case *btf.TypeTag:
		return cType(t.Type, depth+1)
	case *btf.Pointer:
		if _, ok := t.Target.(*btf.FuncProto); ok {
			return "void *", "" // function pointers are rare in signatures
		}
		base, suf := cType(t.Target, depth+1)
		if len(base) > 0 && base[len(base)-1] != '*' {
			base += " "
		}
		return base + "*", suf
	case *btf.Array:
		base, suf := cType(t.Type, depth+1)
		return base, "[" + strconv.FormatUint(uint64(t.Nelems), 10) + "]" + suf
	}
	return t.TypeName(), ""
}
