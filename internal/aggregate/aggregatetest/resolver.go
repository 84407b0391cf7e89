// Package aggregatetest provides a table-driven fake Resolver and a fixed set
// of records, so that aggregation and profile writing can be tested and
// measured without a kernel.
package aggregatetest

import (
	"fmt"
	"path"
	"sort"

	"github.com/bpfprof/bpfprof/symbolize"
)

// Sym is a named range of code: a kernel symbol, a BPF function or a user
// function.
type Sym struct {
	Addr, Size uint64
	Name       string
	// SystemName is bpf_prog_<tag>_<func> for BPF functions.
	SystemName string
	// File and Line locate the function's first line (user functions).
	File string
	Line uint32
	// Inlined are the calls inlined into every address of the function
	// (user functions; a user function with a File has its inlining
	// known unless InlineUnknown, as in a stripped Go binary).
	Inlined       []symbolize.Line
	InlineUnknown bool
	// NoLine says the binary's tables were read for the function but
	// give its code no source position, as a Go pclntab gives none to
	// the bytes between some assembly functions: no File, yet its
	// inlining is known.
	NoLine bool
}

// LineAt is one row of a BPF program's JIT line table: code from Addr up to
// the next row belongs to File:Line:Column.
type LineAt struct {
	Addr         uint64
	File         string
	Line, Column uint32
	Source       string
}

// Program is one JITed BPF program, resolvable from Loaded until Unloaded
// (0: never unloaded) in perf clock time.
type Program struct {
	Prog     *symbolize.Prog
	Mapping  *symbolize.Mapping
	Funcs    []Sym
	Lines    []LineAt
	Loaded   uint64
	Unloaded uint64
}

// Image is an object file mapped by a process.
type Image struct {
	Mapping *symbolize.Mapping
	Syms    []Sym
}

// Resolver is a fake aggregate.Resolver over fixed tables. Its frames share
// Mapping and Prog pointers as the real symbolizer's do. It is not safe for
// concurrent use.
type Resolver struct {
	KernelMapping *symbolize.Mapping
	KernelSyms    []Sym
	Programs      []Program
	Images        map[uint32][]Image
	Comms         map[uint32]string

	unknown map[uint64]string // names of addresses without a symbol
}

func find(syms []Sym, addr uint64) (Sym, bool) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Addr > addr }) - 1
	if i < 0 || addr-syms[i].Addr >= syms[i].Size {
		return Sym{}, false
	}
	return syms[i], true
}

// Kernel resolves a kernel or BPF address.
func (r *Resolver) Kernel(addr, time uint64) symbolize.Frame {
	for i := range r.Programs {
		p := &r.Programs[i]
		if addr < p.Mapping.Start || addr >= p.Mapping.Limit || time < p.Loaded || (p.Unloaded != 0 && time >= p.Unloaded) {
			continue
		}
		f := symbolize.Frame{Kind: symbolize.KindBPF, Addr: addr, Func: "[bpf]", Mapping: p.Mapping, Prog: p.Prog}
		if s, ok := find(p.Funcs, addr); ok {
			f.Func, f.SystemName, f.Offset = s.Name, s.SystemName, addr-s.Addr
		}
		j := sort.Search(len(p.Lines), func(j int) bool { return p.Lines[j].Addr > addr }) - 1
		if j >= 0 {
			l := p.Lines[j]
			f.File, f.Line, f.Column, f.Source = l.File, l.Line, l.Column, l.Source
		}
		return f
	}
	f := symbolize.Frame{Kind: symbolize.KindKernel, Addr: addr, Func: "[unknown]", Mapping: r.KernelMapping}
	if s, ok := find(r.KernelSyms, addr); ok {
		f.Func, f.Offset = s.Name, addr-s.Addr
	}
	return f
}

// User resolves an address of process pid.
func (r *Resolver) User(pid uint32, addr, time uint64) symbolize.Frame {
	for _, im := range r.Images[pid] {
		m := im.Mapping
		if addr < m.Start || addr >= m.Limit {
			continue
		}
		f := symbolize.Frame{Kind: symbolize.KindUser, Addr: addr, Mapping: m}
		if s, ok := find(im.Syms, addr); ok {
			f.Func, f.Offset, f.File, f.Line = s.Name, addr-s.Addr, s.File, s.Line
			f.Inlined, f.InlineKnown = s.Inlined, (s.File != "" || s.NoLine) && !s.InlineUnknown
		} else {
			// As the symbolizer names an address without a symbol, and
			// as it does, once.
			if r.unknown == nil {
				r.unknown = make(map[uint64]string)
			}
			off := addr - m.Start + m.Offset
			if f.Func = r.unknown[off]; f.Func == "" {
				f.Func = fmt.Sprintf("%s+%#x", path.Base(m.File), off)
				r.unknown[off] = f.Func
			}
		}
		return f
	}
	return symbolize.Frame{Kind: symbolize.KindUser, Addr: addr, Func: "[unknown]"}
}

// Comm returns the name of pid.
func (r *Resolver) Comm(pid uint32) string { return r.Comms[pid] }
