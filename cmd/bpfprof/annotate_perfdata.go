package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler/perfdata"
)

// isPerfData reports whether the file at path is a perf.data file (its
// magic number), rather than a pprof profile.
func isPerfData(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [8]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return bytes.Equal(magic[:], []byte("PERFILE2"))
}

// perfDataProgram reads a perf.data file and returns the program sel picks
// among those recorded in it, as stored there (no program need be loaded),
// with the heat of the file's samples and the symbols that name the kernel
// functions its JIT code calls (nil unless the file's kernel is the
// running one; the caller closes them). event chooses the samples, as convert's -e ("" for the
// first sampling event).
func perfDataProgram(path string, sel bpfprog.Selector, event string) (*annotate.Program, annotate.Counts, annotate.KernelSymbols, error) {
	rd, closeIn, err := openPerfData(path, os.Stdin)
	if err != nil {
		return nil, annotate.Counts{}, nil, err
	}
	defer closeIn()
	hdr := rd.Header()
	if !hdr.Pipe {
		// Fail on the selector before reading the records.
		if _, err := selectRecorded(hdr, sel, path); err != nil {
			return nil, annotate.Counts{}, nil, err
		}
	}
	pl, err := runPerfData(rd, path, event, false)
	if err != nil {
		return nil, annotate.Counts{}, nil, err
	}
	// The symbolizer stays open for the kernel symbols.
	p, err := selectRecorded(hdr, sel, path)
	if err != nil {
		pl.sym.Close()
		return nil, annotate.Counts{}, nil, err
	}
	prog, err := annotateProgram(p)
	if err != nil {
		pl.sym.Close()
		return nil, annotate.Counts{}, nil, err
	}
	snap := pl.agg.Snapshot()
	counts := annotate.CountsFromSnapshot(snap, p.ID)
	counts.Event = hdr.Events[pl.event].BaseName()
	if !pl.kernel.use {
		pl.sym.Close()
		return prog, counts, nil, nil
	}
	return prog, counts, pl.sym, nil
}

// selectRecorded finds the one program of the file that sel picks: by id,
// by name (the kernel's or the full BTF one) or by tag.
func selectRecorded(hdr *perfdata.Header, sel bpfprog.Selector, path string) (*perfdata.Program, error) {
	if sel.Kind == bpfprog.SelectPinned {
		return nil, fmt.Errorf("%s: a pinned path names no program of a recording; use id, name or tag", sel)
	}
	ids := make([]uint32, 0, len(hdr.Programs))
	for id := range hdr.Programs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var found []*perfdata.Program
	var names []string
	for _, id := range ids {
		p, _, err := hdr.Program(id)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		names = append(names, fmt.Sprintf("%d %s", p.ID, p.FullName))
		if recordedMatch(p, sel) {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var ids []string
		for _, p := range found {
			ids = append(ids, strconv.FormatUint(uint64(p.ID), 10))
		}
		return nil, fmt.Errorf("%s matches %d programs recorded in %s (ids %s); annotate one, by id ID", sel, len(found), path, strings.Join(ids, ", "))
	case len(names) == 0:
		return nil, errs.New(errs.ErrNotFound, fmt.Sprintf("%s holds no BPF program info (perf without libbpf, or recorded with -o -); record to a file with a perf built with libbpf", path))
	}
	return nil, errs.New(errs.ErrNotFound, fmt.Sprintf("no program matching %s in %s; it has %s", sel, path, strings.Join(names, ", ")))
}

func recordedMatch(p *perfdata.Program, sel bpfprog.Selector) bool {
	switch sel.Kind {
	case bpfprog.SelectID:
		return uint32(sel.ID) == p.ID
	case bpfprog.SelectName:
		return sel.Name == p.Name || sel.Name == p.FullName
	case bpfprog.SelectTag:
		return strings.EqualFold(sel.Tag, p.HexTag())
	}
	return false
}

// annotateProgram fills annotate's input from a program's stored info:
// BTF functions and lines, the JIT image (perf stores no xlated code).
func annotateProgram(p *perfdata.Program) (*annotate.Program, error) {
	out := &annotate.Program{
		ID:     p.ID,
		Tag:    p.HexTag(),
		Name:   p.FullName,
		Type:   bpfprog.Type(p.Type).Name(),
		Xlated: p.XlatedInsns,
	}
	for i, fi := range p.FuncInfo {
		f := annotate.Func{Insn: fi.InsnOff}
		if i < len(p.Funcs) {
			f.Name = p.Funcs[i]
		}
		if p.BTF != nil {
			if t, err := p.BTF.TypeByID(btf.TypeID(fi.TypeID)); err == nil {
				if fn, ok := t.(*btf.Func); ok {
					f.Signature = annotate.Signature(fn)
				}
			}
		}
		out.Funcs = append(out.Funcs, f)
	}
	if len(p.Lines) == len(p.LineInfo) {
		for i, l := range p.Lines {
			line := annotate.Line{Insn: p.LineInfo[i].InsnOff, File: l.File, Line: l.Line, Col: l.Column, Text: l.Source}
			if len(p.JitedLineInfo) == len(p.LineInfo) {
				line.JITAddr = p.JitedLineInfo[i]
			}
			out.Lines = append(out.Lines, line)
		}
	}
	if len(p.JitedInsns) > 0 {
		out.JIT = &annotate.JIT{Image: p.JitedInsns, Ksyms: p.JitedKsyms, FuncLens: p.JitedFuncLens}
	}
	for _, id := range p.MapIDs {
		out.Maps = append(out.Maps, annotate.Map{ID: id})
	}
	return out, nil
}
