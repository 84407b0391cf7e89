package annotate

import (
	"bytes"
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// Insn is one xlated BPF instruction of a listing.
type Insn struct {
	// Index is its slot in the xlated program (a 64-bit immediate load
	// takes two slots; the second is not listed).
	Index int `json:"index"`
	// Opcode is the instruction's opcode byte, shown as "(bf)" by bpftool.
	Opcode uint8 `json:"opcode"`
	// Text is the instruction in bpftool's notation, without the opcode:
	// "r1 = *(u32 *)(r6 +32)", "call bpf_map_lookup_elem#1",
	// "r1 = map[id:12]", "goto pc+3".
	Text string `json:"text"`
	// Target is the slot a jump or BPF-to-BPF call goes to, -1 for other
	// instructions.
	Target int `json:"target"`
	// Comment adds what bpftool does not print: the map's name, the
	// subprogram a call enters.
	Comment string `json:"comment,omitempty"`
}

// xlatedRenderer renders decoded xlated instructions in bpftool's notation
// with the names a Program knows.
type xlatedRenderer struct {
	maps  map[uint32]string
	calls map[int32]string
	// kfuncs names kfuncs by BTF ID.
	kfuncs map[int32]string
	// funcs names BPF functions by their first slot.
	funcs map[int]string
	buf   []byte
}

func newXlatedRenderer(p *Program) *xlatedRenderer {
	r := &xlatedRenderer{maps: map[uint32]string{}, calls: p.Calls, kfuncs: p.Kfuncs, funcs: map[int]string{}}
	for _, m := range p.Maps {
		if m.Name != "" {
			r.maps[m.ID] = m.Name
		}
	}
	for _, f := range p.Funcs {
		r.funcs[int(f.Insn)] = f.Name
	}
	return r
}

// decodeXlated decodes xlated instructions with cilium/ebpf's asm package,
// one per listed slot. Bytes asm refuses (a truncated 64-bit load, a
// helper immediate it cannot tag) are decoded field by field instead, so
// every slot is shown; a trailing partial record is dropped.
func decodeXlated(b []byte) []decoded {
	out := make([]decoded, 0, len(b)/asm.InstructionSize)
	rd := bytes.NewReader(nil)
	for i := 0; i+asm.InstructionSize <= len(b); {
		var d decoded
		d.index = i / asm.InstructionSize
		rd.Reset(b[i:])
		if err := d.ins.Unmarshal(rd, hostEndian, "linux"); err != nil {
			d.ins = rawInstruction(b[i : i+asm.InstructionSize])
			d.ins.OpCode &= 0xff
			if d.ins.OpCode.IsDWordLoad() {
				d.broken = true // second half missing or not zero
			}
		}
		out = append(out, d)
		i += int(d.ins.Size())
		if d.broken {
			i = d.index*asm.InstructionSize + asm.InstructionSize
		}
	}
	return out
}

// decoded is one decoded xlated instruction at its slot.
type decoded struct {
	index  int
	ins    asm.Instruction
	broken bool
}

// rawInstruction takes the fields of one 8-byte record as they are.
func rawInstruction(b []byte) asm.Instruction {
	regs := b[1]
	var dst, src asm.Register
	if hostEndian.Uint16([]byte{1, 0}) == 1 {
		dst, src = asm.Register(regs&0xf), asm.Register(regs>>4)
	} else {
		dst, src = asm.Register(regs>>4), asm.Register(regs&0xf)
	}
	return asm.Instruction{
		OpCode:   asm.OpCode(b[0]),
		Dst:      dst,
		Src:      src,
		Offset:   int16(hostEndian.Uint16(b[2:4])),
		Constant: int64(int32(hostEndian.Uint32(b[4:8]))),
	}
}

// render gives d in bpftool's notation.
func (r *xlatedRenderer) render(d decoded) Insn {
	ins := &d.ins
	out := Insn{Index: d.index, Opcode: uint8(ins.OpCode), Target: -1}
	b := r.buf[:0]
	op := ins.OpCode
	class := op.Class()
	switch {
	case d.broken:
		b = append(b, "BUG_ld_"...)
		b = appendHex2(b, uint8(op))
	case class.IsALU():
		b = r.alu(b, ins)
	case class == asm.StXClass:
		b = r.stx(b, ins)
	case class == asm.StClass:
		switch op.Mode() {
		case asm.MemMode:
			b = append(b, "*("...)
			b = append(b, sizeName(op.Size(), false)...)
			b = append(b, " *)("...)
			b = appendMem(b, ins.Dst, ins.Offset)
			b = append(b, ") = "...)
			b = strconv.AppendInt(b, int64(int32(ins.Constant)), 10)
		case 0xc0: // BPF_NOSPEC, not in UAPI
			b = append(b, "nospec"...)
		default:
			b = append(b, "BUG_st_"...)
			b = appendHex2(b, uint8(op))
		}
	case class == asm.LdXClass:
		mode := op.Mode()
		if mode != asm.MemMode && mode != asm.MemSXMode {
			b = append(b, "BUG_ldx_"...)
			b = appendHex2(b, uint8(op))
			break
		}
		b = appendReg(b, 'r', ins.Dst)
		b = append(b, " = *("...)
		b = append(b, sizeName(op.Size(), mode == asm.MemSXMode)...)
		b = append(b, " *)("...)
		b = appendMem(b, ins.Src, ins.Offset)
		b = append(b, ')')
	case class == asm.LdClass:
		b, out.Comment = r.ld(b, ins)
	case class.IsJump():
		b, out.Target, out.Comment = r.jump(b, ins, d.index)
	default:
		b = append(b, "BUG_"...)
		b = appendHex2(b, uint8(op))
	}
	out.Text = string(b)
	r.buf = b
	return out
}

// alu renders an ALU or ALU64 instruction.
func (r *xlatedRenderer) alu(b []byte, ins *asm.Instruction) []byte {
	op := ins.OpCode
	reg := byte('r')
	if op.Class() == asm.ALUClass {
		reg = 'w'
	}
	aluOp := op.ALUOp()
	switch {
	case aluOp == asm.Swap:
		b = appendReg(b, 'r', ins.Dst)
		b = append(b, " = "...)
		switch {
		case op.Class() == asm.ALU64Class:
			b = append(b, "bswap"...)
		case op.Endianness() == asm.BE:
			b = append(b, "be"...)
		default:
			b = append(b, "le"...)
		}
		b = strconv.AppendInt(b, int64(int32(ins.Constant)), 10)
		b = append(b, ' ')
		return appendReg(b, 'r', ins.Dst)
	case aluOp == asm.Neg:
		b = appendReg(b, reg, ins.Dst)
		b = append(b, " = -"...)
		return appendReg(b, reg, ins.Dst)
	case op.Class() == asm.ALU64Class && aluOp == asm.Mov && op.Source() == asm.RegSource && ins.Offset == addrSpaceCast:
		b = appendReg(b, 'r', ins.Dst)
		b = append(b, " = addr_space_cast("...)
		b = appendReg(b, 'r', ins.Src)
		b = append(b, ", "...)
		b = strconv.AppendUint(b, uint64(uint32(ins.Constant)>>16), 10)
		b = append(b, ", "...)
		b = strconv.AppendUint(b, uint64(uint16(ins.Constant)), 10)
		return append(b, ')')
	case op.Class() == asm.ALU64Class && aluOp == asm.Mov && op.Source() == asm.RegSource && ins.Offset == addrPercpu:
		b = appendReg(b, 'r', ins.Dst)
		b = append(b, " = &(void __percpu *)("...)
		b = appendReg(b, 'r', ins.Src)
		return append(b, ')')
	}
	b = appendReg(b, reg, ins.Dst)
	b = append(b, ' ')
	b = append(b, aluOpString(aluOp)...)
	b = append(b, ' ')
	if op.Source() == asm.RegSource {
		switch aluOp {
		case asm.MovSX8:
			b = append(b, "(s8)"...)
		case asm.MovSX16:
			b = append(b, "(s16)"...)
		case asm.MovSX32:
			b = append(b, "(s32)"...)
		}
		return appendReg(b, reg, ins.Src)
	}
	return strconv.AppendInt(b, int64(int32(ins.Constant)), 10)
}

// Special offsets of ALU64 MOV from a register (UAPI BPF_ADDR_SPACE_CAST
// and the kernel-internal BPF_ADDR_PERCPU).
const (
	addrSpaceCast = 1
	addrPercpu    = -1
)

// aluOpString is bpftool's spelling of an ALU operation.
func aluOpString(op asm.ALUOp) string {
	switch op {
	case asm.Add:
		return "+="
	case asm.Sub:
		return "-="
	case asm.Mul:
		return "*="
	case asm.Div:
		return "/="
	case asm.SDiv:
		return "s/="
	case asm.Or:
		return "|="
	case asm.And:
		return "&="
	case asm.LSh:
		return "<<="
	case asm.RSh:
		return ">>="
	case asm.Mod:
		return "%="
	case asm.SMod:
		return "s%="
	case asm.Xor:
		return "^="
	case asm.Mov, asm.MovSX8, asm.MovSX16, asm.MovSX32:
		return "="
	case asm.ArSh:
		return "s>>="
	}
	return "BUG"
}

// stx renders a store from a register or an atomic operation.
func (r *xlatedRenderer) stx(b []byte, ins *asm.Instruction) []byte {
	op := ins.OpCode
	size := op.Size()
	mem := func(b []byte) []byte {
		b = append(b, '(')
		b = append(b, sizeName(size, false)...)
		b = append(b, " *)("...)
		b = appendMem(b, ins.Dst, ins.Offset)
		return append(b, ')')
	}
	width := ""
	if size == asm.DWord {
		width = "64"
	}
	switch op.Mode() {
	case asm.MemMode:
		b = append(b, '*')
		b = mem(b)
		b = append(b, " = "...)
		return appendReg(b, 'r', ins.Src)
	case asm.AtomicMode:
	default:
		b = append(b, "BUG_"...)
		return appendHex2(b, uint8(op))
	}
	switch a := op.AtomicOp(); a {
	case asm.AddAtomic, asm.AndAtomic, asm.OrAtomic, asm.XorAtomic:
		b = append(b, "lock *"...)
		b = mem(b)
		b = append(b, ' ')
		b = append(b, aluOpString(asm.ALUOp(a>>8))...)
		b = append(b, ' ')
		return appendReg(b, 'r', ins.Src)
	case asm.FetchAdd, asm.FetchAnd, asm.FetchOr, asm.FetchXor:
		b = appendReg(b, 'r', ins.Src)
		b = append(b, " = atomic"...)
		b = append(b, width...)
		b = append(b, "_fetch_"...)
		switch a {
		case asm.FetchAdd:
			b = append(b, "add"...)
		case asm.FetchAnd:
			b = append(b, "and"...)
		case asm.FetchOr:
			b = append(b, "or"...)
		default:
			b = append(b, "xor"...)
		}
		b = append(b, '(')
		b = mem(b)
		b = append(b, ", "...)
		b = appendReg(b, 'r', ins.Src)
		return append(b, ')')
	case asm.CmpXchg:
		b = append(b, "r0 = atomic"...)
		b = append(b, width...)
		b = append(b, "_cmpxchg("...)
		b = mem(b)
		b = append(b, ", r0, "...)
		b = appendReg(b, 'r', ins.Src)
		return append(b, ')')
	case asm.Xchg:
		b = appendReg(b, 'r', ins.Src)
		b = append(b, " = atomic"...)
		b = append(b, width...)
		b = append(b, "_xchg("...)
		b = mem(b)
		b = append(b, ", "...)
		b = appendReg(b, 'r', ins.Src)
		return append(b, ')')
	case loadAcquire:
		b = appendReg(b, 'r', ins.Dst)
		b = append(b, " = load_acquire(("...)
		b = append(b, sizeName(size, false)...)
		b = append(b, " *)("...)
		b = appendMem(b, ins.Src, ins.Offset)
		return append(b, "))"...)
	case storeRelease:
		b = append(b, "store_release("...)
		b = mem(b)
		b = append(b, ", "...)
		b = appendReg(b, 'r', ins.Src)
		return append(b, ')')
	}
	b = append(b, "BUG_"...)
	return appendHex2(b, uint8(op))
}

// The atomic operations cilium/ebpf does not export (BPF_LOAD_ACQ and
// BPF_STORE_REL shifted as asm.AtomicOp keeps them).
const (
	loadAcquire  asm.AtomicOp = 0x100 << 8
	storeRelease asm.AtomicOp = 0x110 << 8
)

// ld renders a legacy packet load or a 64-bit immediate load, with the
// map's name as comment.
func (r *xlatedRenderer) ld(b []byte, ins *asm.Instruction) ([]byte, string) {
	op := ins.OpCode
	switch op.Mode() {
	case asm.AbsMode:
		b = append(b, "r0 = *("...)
		b = append(b, sizeName(op.Size(), false)...)
		b = append(b, " *)skb["...)
		b = strconv.AppendInt(b, int64(int32(ins.Constant)), 10)
		return append(b, ']'), ""
	case asm.IndMode:
		b = append(b, "r0 = *("...)
		b = append(b, sizeName(op.Size(), false)...)
		b = append(b, " *)skb["...)
		b = appendReg(b, 'r', ins.Src)
		b = append(b, " + "...)
		b = strconv.AppendInt(b, int64(int32(ins.Constant)), 10)
		return append(b, ']'), ""
	}
	if !op.IsDWordLoad() {
		b = append(b, "BUG_ld_"...)
		return appendHex2(b, uint8(op)), ""
	}
	b = appendReg(b, 'r', ins.Dst)
	b = append(b, " = "...)
	lo, hi := uint32(ins.Constant), uint32(uint64(ins.Constant)>>32)
	switch ins.Src {
	case asm.PseudoMapFD:
		b = append(b, "map[id:"...)
		b = strconv.AppendUint(b, uint64(lo), 10)
		return append(b, ']'), r.maps[lo]
	case asm.PseudoMapValue:
		b = append(b, "map[id:"...)
		b = strconv.AppendUint(b, uint64(lo), 10)
		b = append(b, "][0]+"...)
		b = strconv.AppendUint(b, uint64(hi), 10)
		return b, r.maps[lo]
	case pseudoMapIdxValue:
		b = append(b, "map[idx:"...)
		b = strconv.AppendUint(b, uint64(lo), 10)
		b = append(b, "]+"...)
		return strconv.AppendUint(b, uint64(hi), 10), ""
	case asm.PseudoFunc:
		b = append(b, "subprog["...)
		b = appendSigned(b, int64(int32(lo)))
		return append(b, ']'), ""
	}
	b = append(b, "0x"...)
	return strconv.AppendUint(b, uint64(ins.Constant), 16), ""
}

// pseudoMapIdxValue is BPF_PSEUDO_MAP_IDX_VALUE.
const pseudoMapIdxValue = asm.R6

// jump renders a jump, call or exit; it returns the target slot for jumps
// and BPF-to-BPF calls, and the callee's name as comment.
func (r *xlatedRenderer) jump(b []byte, ins *asm.Instruction, index int) ([]byte, int, string) {
	op := ins.OpCode
	class := op.Class()
	reg := byte('r')
	if class == asm.Jump32Class {
		reg = 'w'
	}
	switch jop := op.JumpOp(); {
	case jop == asm.Call:
		imm := int32(ins.Constant)
		switch ins.Src {
		case asm.PseudoCall:
			rel := pseudoCallOffset(ins.Offset, imm)
			target := index + rel + 1
			b = append(b, "call pc"...)
			b = appendSigned(b, int64(rel))
			return b, target, r.funcs[target]
		case asm.PseudoKfuncCall:
			b = append(b, "call "...)
			if name, ok := r.kfuncs[imm]; ok && ins.Offset == 0 {
				b = append(b, name...)
			} else {
				b = append(b, "kernel-function"...)
			}
		default:
			b = append(b, "call "...)
			b = append(b, r.helperName(imm)...)
		}
		b = append(b, '#')
		return strconv.AppendInt(b, int64(imm), 10), -1, ""
	case jop == asm.Exit && class == asm.JumpClass:
		return append(b, "exit"...), -1, ""
	case jop == asm.Ja && class == asm.JumpClass:
		b = append(b, "goto pc"...)
		return appendSigned(b, int64(ins.Offset)), index + int(ins.Offset) + 1, ""
	case jop == asm.Ja: // JMP32|JA: gotol, the offset in imm
		b = append(b, "gotol pc"...)
		return appendSigned(b, int64(int32(ins.Constant))), index + int(int32(ins.Constant)) + 1, ""
	case jop == asm.JCOND && class == asm.JumpClass && ins.Src == mayGoto:
		b = append(b, "may_goto pc"...)
		return appendSigned(b, int64(ins.Offset)), index + int(ins.Offset) + 1, ""
	}
	b = append(b, "if "...)
	b = appendReg(b, reg, ins.Dst)
	b = append(b, ' ')
	b = append(b, jumpOpString(op.JumpOp())...)
	b = append(b, ' ')
	if op.Source() == asm.RegSource {
		b = appendReg(b, reg, ins.Src)
	} else {
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(uint32(ins.Constant)), 16)
	}
	b = append(b, " goto pc"...)
	return appendSigned(b, int64(ins.Offset)), index + int(ins.Offset) + 1, ""
}

// pseudoCallOffset is the slot offset of a BPF-to-BPF call. The kernel
// keeps it in the offset field of xlated code (the immediate then holds
// the callee's function index); a call as compiled has it in the
// immediate.
func pseudoCallOffset(off int16, imm int32) int {
	if off != 0 {
		return int(off)
	}
	return int(imm)
}

// mayGoto is BPF_MAY_GOTO, the src_reg of a JCOND jump.
const mayGoto = asm.R0

// helperName names the target of a helper call: as captured from kallsyms,
// else the helper with that ID, else "unknown".
func (r *xlatedRenderer) helperName(imm int32) string {
	if name, ok := r.calls[imm]; ok {
		return name
	}
	if imm >= 0 && int(imm) < len(helperNames) && helperNames[imm] != "" {
		return helperNames[imm]
	}
	return "unknown"
}

// jumpOpString is bpftool's spelling of a comparison.
func jumpOpString(op asm.JumpOp) string {
	switch op {
	case asm.JEq:
		return "=="
	case asm.JGT:
		return ">"
	case asm.JGE:
		return ">="
	case asm.JSet:
		return "&"
	case asm.JNE:
		return "!="
	case asm.JSGT:
		return "s>"
	case asm.JSGE:
		return "s>="
	case asm.JLT:
		return "<"
	case asm.JLE:
		return "<="
	case asm.JSLT:
		return "s<"
	case asm.JSLE:
		return "s<="
	}
	return "BUG"
}

// sizeName is bpftool's name of an access size.
func sizeName(s asm.Size, signed bool) string {
	switch s {
	case asm.DWord:
		if signed {
			return "BUG"
		}
		return "u64"
	case asm.Word:
		if signed {
			return "s32"
		}
		return "u32"
	case asm.Half:
		if signed {
			return "s16"
		}
		return "u16"
	case asm.Byte:
		if signed {
			return "s8"
		}
		return "u8"
	}
	return "BUG"
}

func appendReg(b []byte, prefix byte, r asm.Register) []byte {
	b = append(b, prefix)
	return strconv.AppendUint(b, uint64(r), 10)
}

// appendMem appends "r6 +32" or "r10 -8".
func appendMem(b []byte, r asm.Register, off int16) []byte {
	b = appendReg(b, 'r', r)
	b = append(b, ' ')
	return appendSigned(b, int64(off))
}

// appendSigned appends v with its sign always shown, as printf's %+d.
func appendSigned(b []byte, v int64) []byte {
	if v >= 0 {
		b = append(b, '+')
	}
	return strconv.AppendInt(b, v, 10)
}

func appendHex2(b []byte, v uint8) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>4], digits[v&0xf])
}
