package bpfprog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// DetailParts choose what ReadDetail reads besides a program's identity:
// each part costs copying from the kernel, and BTF parts a read of the
// program's BTF.
type DetailParts uint

// The parts of a Detail.
const (
	// DetailJIT reads JitedKsyms and JitedFuncLens.
	DetailJIT DetailParts = 1 << iota
	// DetailFuncs reads Funcs, named from the program's BTF.
	DetailFuncs
	// DetailLines reads Lines and JitedLines.
	DetailLines
	// DetailXlated reads Xlated.
	DetailXlated
	// DetailJITImage reads JITImage.
	DetailJITImage
	// DetailMaps reads MapIDs.
	DetailMaps
	// DetailFuncTypes reads Funcs with their BTF types (FuncInfo.Type),
	// decoded by cilium/ebpf/btf: slower than names alone.
	DetailFuncTypes

	// DetailAll reads every part.
	DetailAll = DetailJIT | DetailFuncs | DetailLines | DetailXlated | DetailJITImage | DetailMaps | DetailFuncTypes
)

// Detail is what the kernel tells about one loaded program beyond a
// listing's facts: its code and where each function and source line of it
// is. Parts not asked for, not reported by the kernel or hidden from this
// process are empty.
type Detail struct {
	ID   ID
	Type Type
	// Name is the kernel's name: at most 15 bytes, possibly empty.
	Name string
	// FullName is the BTF name of the main function where Name is
	// truncated or empty (with DetailFuncs), else Name.
	FullName string
	// Tag is the hex hash of the program's instructions.
	Tag string
	// JitedKsyms are the kernel addresses of the JIT images of the main
	// program and each subprogram, in the order of their instructions;
	// JitedFuncLens their lengths. Empty when the program is not JIT
	// compiled or kernel.kptr_restrict hides addresses from this process.
	JitedKsyms    []uint64
	JitedFuncLens []uint32
	// Funcs is the BTF func info: one entry per function, in the order of
	// their instructions. Empty for a program loaded without BTF.
	Funcs []FuncInfo
	// Lines is the BTF line info, in instruction order. Empty for a
	// program loaded without BTF.
	Lines []LineInfo
	// JitedLines, parallel to Lines, is the JIT address where each line's
	// machine code starts. Nil where Lines is, or when the program is not
	// JIT compiled or kptr_restrict hides addresses.
	JitedLines []uint64
	// Xlated is the program's instructions as the verifier rewrote them
	// (struct bpf_insn records in host byte order), sanitized by the
	// kernel. Empty when bpf_jit_harden blinded them and kptr_restrict
	// hides them.
	Xlated []byte
	// JITImage is the machine code of all the program's functions, one
	// after another as JitedFuncLens says. Empty where JitedKsyms is.
	JITImage []byte
	// MapIDs lists the maps the program uses.
	MapIDs []uint32

	jitHidden bool
}

// JITHidden reports whether the program is JIT compiled but the kernel
// hid its addresses and machine code from this process
// (kernel.kptr_restrict): JitedKsyms, JitedLines and JITImage are then
// empty although the program has an image.
func (d *Detail) JITHidden() bool { return d.jitHidden }

// FuncInfo is one BTF func info record: where a function starts.
type FuncInfo struct {
	// Insn is the function's first instruction, counted in Xlated's
	// 8-byte records.
	Insn uint32
	// Name is the function's name in the program's BTF; empty if the BTF
	// could not be read.
	Name string
	// Type is the function's BTF type, with DetailFuncTypes; nil
	// otherwise or if the BTF could not be decoded.
	Type *btf.Func
}

// LineInfo is one BTF line info record: where a source line's code starts.
type LineInfo struct {
	// Insn is the line's first instruction, counted in Xlated's 8-byte
	// records.
	Insn uint32
	// File is the source file's name as the compiler saw it.
	File string
	// Line and Col are 1-based; Col is 0 when the compiler gave none.
	Line, Col uint32
	// Source is the text of the line.
	Source string
}

// ReadDetail reads the parts of program id that parts choose, with
// BPF_OBJ_GET_INFO_BY_FD: one call for the counts, one for the arrays
// (and one more for Xlated, which the kernel may refuse alone), plus the
// program's BTF for Funcs and Lines. A program that is not loaded gives an
// error matching ErrNotFound. Requires CAP_SYS_ADMIN (ErrPermission
// otherwise); kernel addresses and JIT code need kernel.kptr_restrict to
// allow them (see JITHidden).
func ReadDetail(id ID, parts DetailParts) (*Detail, error) {
	fd, err := bpfabi.FDByID(unix.BPF_PROG_GET_FD_BY_ID, uint32(id))
	if errors.Is(err, unix.ENOENT) {
		return nil, errs.New(ErrNotFound, fmt.Sprintf("BPF program %d is not loaded", id))
	}
	if err != nil {
		return nil, kernelError(fmt.Sprintf("opening BPF program %d", id), err)
	}
	defer closeFD(fd)
	d, err := readDetail(fd, parts)
	if err != nil {
		return nil, kernelError(fmt.Sprintf("reading BPF program %d", id), err)
	}
	return d, nil
}

// NextID returns the ID of the loaded program after id (0 for the first),
// false when there is none. Requires CAP_SYS_ADMIN.
func NextID(id ID) (ID, bool, error) {
	next, ok, err := bpfabi.NextID(unix.BPF_PROG_GET_NEXT_ID, uint32(id))
	if err != nil {
		return 0, false, kernelError("listing BPF programs", err)
	}
	return ID(next), ok, nil
}

// IDFromFD returns the ID of the program fd refers to, as a loader that
// holds the fd (cilium/ebpf's Program.FD) needs it to tell its own
// programs. One BPF_OBJ_GET_INFO_BY_FD call.
func IDFromFD(fd int) (ID, error) {
	var in bpfabi.ProgInfo
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&in), unsafe.Sizeof(in)); err != nil {
		return 0, kernelError("reading BPF program info", err)
	}
	return ID(in.ID), nil
}

// jitSymbols returns the JIT symbols and function lengths the kernel
// gave, given false if it cleared the pointer to them; none, and hidden,
// where it hid the addresses: a cleared pointer, or a zero address.
func jitSymbols(ksyms []uint64, lens []uint32, given bool) (_ []uint64, _ []uint32, hidden bool) {
	if !given || len(ksyms) == 0 || slices.Contains(ksyms, 0) {
		return nil, nil, true
	}
	return ksyms, lens, false
}

// readDetail reads the parts of program fd; errors are the kernel's.
func readDetail(fd int, parts DetailParts) (d *Detail, err error) {
	defer func() {
		// Part of the JIT facts without the rest places nothing.
		if d != nil && d.jitHidden {
			d.JitedKsyms, d.JitedFuncLens, d.JitedLines, d.JITImage = nil, nil, nil, nil
		}
	}()
	// The first call, with no arrays, gives the counts.
	var in bpfabi.ProgInfo
	if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&in), unsafe.Sizeof(in)); err != nil {
		return nil, err
	}
	d = &Detail{
		ID:   ID(in.ID),
		Type: Type(in.Type),
		Name: unix.ByteSliceToString(in.Name[:]),
		Tag:  hex.EncodeToString(in.Tag[:]),
	}
	d.FullName = d.Name
	if parts&DetailFuncTypes != 0 {
		parts |= DetailFuncs
	}

	// The second asks for the arrays, in a struct that is zero but for
	// them: a length without its buffer is EFAULT.
	var (
		a        bpfabi.ProgInfo
		ksyms    []uint64
		funcLens []uint32
		funcs    []bpfabi.FuncInfo
		lines    []bpfabi.LineInfo
		jitLines []uint64
		image    []byte
		mapIDs   []uint32
		second   bool
	)
	jited := in.JitedProgLen > 0
	if parts&DetailJIT != 0 && jited && in.NrJitedKsyms > 0 {
		ksyms = make([]uint64, in.NrJitedKsyms)
		a.NrJitedKsyms, a.JitedKsyms = in.NrJitedKsyms, unsafe.Pointer(&ksyms[0])
		second = true
	}
	if parts&DetailJIT != 0 && jited && in.NrJitedFuncLens > 0 {
		funcLens = make([]uint32, in.NrJitedFuncLens)
		a.NrJitedFuncLens, a.JitedFuncLens = in.NrJitedFuncLens, unsafe.Pointer(&funcLens[0])
		second = true
	}
	if parts&DetailFuncs != 0 && in.NrFuncInfo > 0 && in.BTFID != 0 {
		funcs = make([]bpfabi.FuncInfo, in.NrFuncInfo)
		a.NrFuncInfo, a.FuncInfo = in.NrFuncInfo, unsafe.Pointer(&funcs[0])
		a.FuncInfoRecSize = uint32(unsafe.Sizeof(funcs[0]))
		second = true
	}
	if parts&DetailLines != 0 && in.NrLineInfo > 0 && in.BTFID != 0 {
		lines = make([]bpfabi.LineInfo, in.NrLineInfo)
		a.NrLineInfo, a.LineInfo = in.NrLineInfo, unsafe.Pointer(&lines[0])
		a.LineInfoRecSize = uint32(unsafe.Sizeof(lines[0]))
		if jited && in.NrJitedLineInfo == in.NrLineInfo {
			jitLines = make([]uint64, in.NrJitedLineInfo)
			a.NrJitedLineInfo, a.JitedLineInfo = in.NrJitedLineInfo, unsafe.Pointer(&jitLines[0])
			a.JitedLineInfoRecSize = uint32(unsafe.Sizeof(jitLines[0]))
		}
		second = true
	}
	if parts&DetailJITImage != 0 && jited {
		image = make([]byte, in.JitedProgLen)
		a.JitedProgLen, a.JitedProgInsns = in.JitedProgLen, unsafe.Pointer(&image[0])
		second = true
	}
	if parts&DetailMaps != 0 && in.NrMapIDs > 0 {
		mapIDs = make([]uint32, in.NrMapIDs)
		a.NrMapIDs, a.MapIDs = in.NrMapIDs, unsafe.Pointer(&mapIDs[0])
		second = true
	}
	if second {
		if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&a), unsafe.Sizeof(a)); err != nil {
			return nil, err
		}
	}

	// The kernel clears the pointer of an array whose addresses it hides
	// (kptr_restrict). Counts are rechecked: a program's maps may grow
	// (BPF_PROG_BIND_MAP), and the kernel copies only what fits.
	if ksyms != nil {
		ksyms = ksyms[:min(a.NrJitedKsyms, uint32(len(ksyms)))]
		if a.JitedFuncLens != nil {
			funcLens = funcLens[:min(a.NrJitedFuncLens, uint32(len(funcLens)))]
		} else {
			funcLens = nil
		}
		var hidden bool
		d.JitedKsyms, d.JitedFuncLens, hidden = jitSymbols(ksyms, funcLens, a.JitedKsyms != nil)
		d.jitHidden = d.jitHidden || hidden
	}
	if image != nil && a.JitedProgInsns != nil {
		d.JITImage = image[:min(a.JitedProgLen, uint32(len(image)))]
	} else if image != nil {
		d.jitHidden = true
	}
	if mapIDs != nil {
		d.MapIDs = mapIDs[:min(a.NrMapIDs, uint32(len(mapIDs)))]
	}

	if parts&DetailXlated != 0 && in.XlatedProgLen > 0 {
		// Alone: when bpf_jit_harden blinded the program and
		// kptr_restrict hides it, the kernel stops filling the info at
		// the instructions.
		xl := make([]byte, in.XlatedProgLen)
		x := bpfabi.ProgInfo{XlatedProgLen: in.XlatedProgLen, XlatedProgInsns: unsafe.Pointer(&xl[0])}
		if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&x), unsafe.Sizeof(x)); err != nil {
			return nil, err
		}
		if x.XlatedProgInsns != nil {
			d.Xlated = xl[:min(x.XlatedProgLen, uint32(len(xl)))]
		}
	}

	if funcs == nil && lines == nil {
		return d, nil
	}
	// Names and source text are in the program's BTF. Without it
	// (unreadable, corrupt), the records are left out: their offsets
	// alone name nothing.
	raw, ok := readBTF(in.BTFID)
	if !ok {
		return d, nil
	}
	names, err := parseBTFNames(raw)
	if err != nil {
		return d, nil
	}
	var spec *btf.Spec
	if parts&DetailFuncTypes != 0 {
		// Decoded lazily by cilium: only the types asked for.
		spec, _ = btf.LoadSpecFromReader(bytes.NewReader(raw))
	}
	funcs = funcs[:min(a.NrFuncInfo, uint32(len(funcs)))]
	if len(funcs) > 0 && mayBeTruncated(d.Name) {
		d.FullName = fullName(d.Name, funcs[0], names)
	}
	for _, f := range funcs {
		fi := FuncInfo{Insn: f.InsnOff}
		fi.Name, _ = names.name(f.TypeID)
		if spec != nil {
			if t, err := spec.TypeByID(btf.TypeID(f.TypeID)); err == nil {
				fi.Type, _ = t.(*btf.Func)
			}
		}
		d.Funcs = append(d.Funcs, fi)
	}
	if len(lines) > 0 {
		n := min(a.NrLineInfo, uint32(len(lines)))
		d.Lines = make([]LineInfo, n)
		files := map[uint32]string{} // a few files, many lines each
		for i, l := range lines[:n] {
			file, ok := files[l.FileNameOff]
			if !ok {
				file, _ = names.str(l.FileNameOff)
				files[l.FileNameOff] = file
			}
			src, _ := names.str(l.LineOff)
			d.Lines[i] = LineInfo{
				Insn:   l.InsnOff,
				File:   file,
				Line:   l.LineCol >> bpfabi.LineShift,
				Col:    l.LineCol & bpfabi.ColumnMask,
				Source: src,
			}
		}
		if jitLines != nil && a.JitedLineInfo != nil && a.NrJitedLineInfo == n {
			d.JitedLines = jitLines
		} else if jitLines != nil && a.JitedLineInfo == nil {
			d.jitHidden = true
		}
	}
	return d, nil
}
