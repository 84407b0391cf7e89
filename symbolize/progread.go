package symbolize

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// progTypeName names a program type as bpftool does, from bpfprog's
// table of types: the one table of them.
func progTypeName(t ebpf.ProgramType) string {
	if bt := bpfprog.Type(t); bt.Known() {
		return bt.String()
	}
	return "type_" + strconv.FormatUint(uint64(t), 10)
}

// classifyBPFErr makes a vanished program match errs.ErrNotFound and a
// missing privilege errs.ErrPermission, keeping err's text and chain.
func classifyBPFErr(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %w", errs.ErrNotFound, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (needs CAP_SYS_ADMIN): %w", errs.ErrPermission, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w: %w", errs.ErrNotSupported, err)
	}
	return err
}

// nextProgID returns the id of the loaded program after id, ok false when
// there is none. Requires CAP_SYS_ADMIN.
func nextProgID(id uint32) (next uint32, ok bool, err error) {
	n, err := ebpf.ProgramGetNextID(ebpf.ProgramID(id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("list BPF programs after id %d: %w", id, classifyBPFErr(err))
	}
	return uint32(n), true, nil
}

// readProgInfo reads what symbolizing needs of program id from the kernel:
// its JIT images, BTF func and line info, and the JIT line table. A program
// that has vanished gives an error matching errs.ErrNotFound. Requires
// CAP_SYS_ADMIN (BTF), and kptr_restrict allowing kernel addresses.
func readProgInfo(id uint32) (*progInfo, error) {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Errorf("open BPF program %d: %w", id, classifyBPFErr(err))
	}
	defer p.Close()
	pi, err := p.Info()
	if err != nil {
		return nil, fmt.Errorf("read info of BPF program %d: %w", id, classifyBPFErr(err))
	}
	info := &progInfo{ID: id, Tag: pi.Tag, Type: progTypeName(pi.Type), Name: pi.Name}
	if ksyms, ok := pi.JitedKsymAddrs(); ok {
		for _, a := range ksyms {
			info.KsymAddrs = append(info.KsymAddrs, uint64(a))
		}
	}
	info.FuncLens, _ = pi.JitedFuncLens()
	// Programs loaded without BTF have neither func nor line info: their
	// functions keep the names of their kernel symbols.
	if fis, err := pi.FuncInfos(); err == nil {
		for _, fi := range fis {
			name := ""
			if fi.Func != nil {
				name = fi.Func.Name
			}
			info.Funcs = append(info.Funcs, progFunc{Insn: uint32(fi.Offset), Name: name})
		}
	}
	if lis, err := pi.LineInfos(); err == nil {
		for _, li := range lis {
			if li.Line == nil {
				continue
			}
			info.Lines = append(info.Lines, progLine{
				Insn:   uint32(li.Offset),
				File:   li.Line.FileName(),
				Line:   li.Line.LineNumber(),
				Col:    li.Line.LineColumn(),
				Source: li.Line.Line(),
			})
		}
		if jl, ok := pi.JitedLineInfos(); ok && len(jl) == len(lis) && len(info.Lines) == len(lis) {
			info.JitedLines = jl
		} else {
			info.Lines = nil
		}
	}
	return info, nil
}
