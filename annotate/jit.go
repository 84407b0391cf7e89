package annotate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// Syntax is the notation of x86-64 disassembly.
type Syntax uint8

// Syntaxes of x86-64 disassembly.
const (
	// ATT is the AT&T (GNU as, objdump, perf) notation: "mov %rdi,%rbx".
	ATT Syntax = iota
	// Intel is Intel's notation: "mov rbx, rdi".
	Intel
)

// String names the syntax as the --syntax flag spells it.
func (s Syntax) String() string {
	if s == Intel {
		return "intel"
	}
	return "att"
}

// ParseSyntax reads a syntax as a flag spells it: "att" (or "gnu") or
// "intel".
func ParseSyntax(s string) (Syntax, error) {
	switch strings.ToLower(s) {
	case "att", "at&t", "gnu":
		return ATT, nil
	case "intel":
		return Intel, nil
	}
	return ATT, fmt.Errorf("unknown disassembly syntax %q: use att or intel", s)
}

// JITInsn is one machine instruction of a JIT image.
type JITInsn struct {
	// Addr is its kernel address; Len its length in bytes.
	Addr uint64 `json:"addr"`
	Len  int    `json:"len"`
	// Text is the instruction in the chosen syntax, with call and jump
	// targets named where a symbol is known.
	Text string `json:"text"`
	// Target names the symbol a call or jump goes to, "" when it stays
	// inside its function or is unknown.
	Target string `json:"target,omitempty"`
	// Samples counts the samples whose instruction pointer lies in this
	// instruction; Percent is their share of the function's samples.
	Samples uint64  `json:"samples"`
	Percent float64 `json:"percent"`
}

// SymbolFunc names an address for a disassembly: the symbol's name and its
// start, ok false when unknown.
type SymbolFunc func(addr uint64) (name string, start uint64, ok bool)

// errEmptyCode is Disassemble's answer to no code at all.
var errEmptyCode = errors.New("disassemble: no code")

// Disassemble decodes x86-64 machine code that starts at kernel address
// addr. Bytes that do not decode become one-byte ".byte 0xNN"
// instructions, as objdump shows them, so the rest still lines up. sym, if
// not nil, names call and jump targets. The error is for input that is no
// code at all (empty, or running past the end of the address space); it
// comes with a nil result.
func Disassemble(code []byte, addr uint64, syntax Syntax, sym SymbolFunc) ([]JITInsn, error) {
	if len(code) == 0 {
		return nil, errEmptyCode
	}
	if addr+uint64(len(code)) < addr {
		return nil, errors.New("disassemble: code runs past the end of the address space")
	}
	d := disassembler{syntax: syntax, sym: sym}
	out := make([]JITInsn, 0, len(code)/4)
	for off := 0; off < len(code); {
		in := d.decode(code[off:], addr+uint64(off))
		out = append(out, in)
		off += in.Len
	}
	return out, nil
}

// disassembler decodes one image; its symname callback reports the last
// target it named.
type disassembler struct {
	syntax Syntax
	sym    SymbolFunc
	target string
	cache  map[string]string
}

// maxTextCache bounds the formatted instructions one disassembly keeps.
const maxTextCache = 1 << 14

// pcRelative reports whether an instruction's text depends on its address:
// a relative branch, or a RIP-relative memory operand.
func pcRelative(inst *x86asm.Inst) bool {
	for _, a := range inst.Args {
		switch a := a.(type) {
		case nil:
			return false
		case x86asm.Rel:
			return true
		case x86asm.Mem:
			if a.Base == x86asm.RIP {
				return true
			}
		}
	}
	return false
}

// endbr64 is the IBT landing pad the JIT puts at function entries; x86asm
// does not know it.
var endbr64 = [4]byte{0xf3, 0x0f, 0x1e, 0xfa}

// decode decodes the instruction at the start of code.
func (d *disassembler) decode(code []byte, pc uint64) JITInsn {
	if len(code) >= 4 && [4]byte(code[:4]) == endbr64 {
		return JITInsn{Addr: pc, Len: 4, Text: "endbr64"}
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Len <= 0 || inst.Len > len(code) {
		return JITInsn{Addr: pc, Len: 1, Text: string(appendHex2([]byte(".byte 0x"), code[0]))}
	}
	d.target = ""
	// JIT code repeats itself (register moves, prologues, epilogues):
	// the text of an instruction that does not depend on its address is
	// formatted once per image.
	cacheable := !pcRelative(&inst)
	if cacheable {
		if text, ok := d.cache[string(code[:inst.Len])]; ok {
			return JITInsn{Addr: pc, Len: inst.Len, Text: text}
		}
	}
	// Only branch targets are named: x86asm would also name immediates
	// (masks, constants) that happen to fall in kernel text.
	var symname x86asm.SymLookup
	if _, rel := inst.Args[0].(x86asm.Rel); rel {
		symname = d.symname
	}
	var text string
	if d.syntax == Intel {
		text = x86asm.IntelSyntax(inst, pc, symname)
	} else {
		text = x86asm.GNUSyntax(inst, pc, symname)
	}
	if cacheable && d.target == "" && len(d.cache) < maxTextCache {
		if d.cache == nil {
			d.cache = map[string]string{}
		}
		d.cache[string(code[:inst.Len])] = text
	}
	return JITInsn{Addr: pc, Len: inst.Len, Text: text, Target: d.target}
}

// symname adapts SymbolFunc to x86asm; it is asked for relative targets
// and for absolute immediates, and remembers only branch targets.
func (d *disassembler) symname(addr uint64) (string, uint64) {
	if d.sym == nil {
		return "", 0
	}
	name, start, ok := d.sym(addr)
	if !ok {
		return "", 0
	}
	if addr == start {
		d.target = name
	} else {
		d.target = name + "+0x" + strconv.FormatUint(addr-start, 16)
	}
	return name, start
}
