package symbolize

import (
	"github.com/bpfprof/bpfprof/bpfprog"
)

// nextProgID returns the id of the loaded program after id, ok false when
// there is none. Requires CAP_SYS_ADMIN.
func nextProgID(id uint32) (next uint32, ok bool, err error) {
	n, ok, err := bpfprog.NextID(bpfprog.ID(id))
	return uint32(n), ok, err
}

// progDetail is what symbolizing reads of a program: its JIT images and
// BTF func and line info with the JIT line table; not its code.
const progDetail = bpfprog.DetailJIT | bpfprog.DetailFuncs | bpfprog.DetailLines

// readProgInfo reads what symbolizing needs of program id from the kernel
// through bpfprog. A program that has vanished gives an error matching
// errs.ErrNotFound. Requires CAP_SYS_ADMIN (BTF), and kptr_restrict
// allowing kernel addresses.
func readProgInfo(id uint32) (*progInfo, error) {
	d, err := bpfprog.ReadDetail(bpfprog.ID(id), progDetail)
	if err != nil {
		return nil, err
	}
	return progInfoOf(d), nil
}

// progInfoOf converts bpfprog's detail of a program. Programs loaded
// without BTF have neither func nor line info: their functions keep the
// names of their kernel symbols. Lines without their JIT addresses
// (kptr_restrict, not JITed) place nothing and are left out.
func progInfoOf(d *bpfprog.Detail) *progInfo {
	info := &progInfo{
		ID:        uint32(d.ID),
		Tag:       d.Tag,
		Type:      d.Type.Name(),
		Name:      d.FullName,
		KsymAddrs: d.JitedKsyms,
		FuncLens:  d.JitedFuncLens,
	}
	for _, f := range d.Funcs {
		info.Funcs = append(info.Funcs, progFunc{Insn: f.Insn, Name: f.Name})
	}
	if len(d.JitedLines) == len(d.Lines) && len(d.Lines) > 0 {
		info.Lines = make([]progLine, len(d.Lines))
		for i, l := range d.Lines {
			info.Lines[i] = progLine{Insn: l.Insn, File: l.File, Line: l.Line, Col: l.Col, Source: l.Source}
		}
		info.JitedLines = d.JitedLines
	}
	return info
}
