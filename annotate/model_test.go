package annotate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/bpfprof/bpfprof/internal/errs"
)

// encode marshals instructions as the kernel's xlated bytes.
func encode(t testing.TB, insns ...asm.Instruction) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, ins := range insns {
		if _, err := ins.Marshal(&buf, hostEndian); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// synthetic is a two-function program: main (slots 0-3) calls sub (slots
// 4-7), JITed at fake addresses with one-byte NOPs per line record.
func synthetic(t testing.TB) *Program {
	call := asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call), Src: asm.PseudoCall, Offset: 2, Constant: 1}
	xl := encode(t,
		asm.Mov.Imm(asm.R1, 7),      // 0 main: line 10
		call,                        // 1        line 11 -> 4
		asm.Add.Reg(asm.R0, asm.R1), // 2        line 12
		asm.Return(),                // 3
		asm.Mov.Reg(asm.R0, asm.R1), // 4 sub: line 20
		asm.Mul.Imm(asm.R0, 3),      // 5        line 21 (hot)
		asm.JNE.Imm(asm.R0, 0, "").WithSymbol(""), // 6        line 21
		asm.Return(), // 7        line 22
	)
	// Fix the jump offset (asm leaves it 0 without a reference): -3 goes back to 4.
	xl[6*8+2] = 0xfd
	xl[6*8+3] = 0xff
	const a, s = 0xffffffffa0000000, 0xffffffffa0001000
	img := bytes.Repeat([]byte{0x90}, 16) // main: 16 NOPs
	img = append(img, bytes.Repeat([]byte{0x90}, 8)...)
	return &Program{
		ID: 9, Tag: "0123456789abcdef", Name: "main", Type: "xdp",
		Xlated: xl,
		Funcs:  []Func{{Insn: 0, Name: "main", Signature: "int main(void *ctx)"}, {Insn: 4, Name: "sub", Signature: "static int sub(int x)"}},
		Lines: []Line{
			{Insn: 0, File: "p.c", Line: 10, Text: "int x = 7;", JITAddr: a},
			{Insn: 1, File: "p.c", Line: 11, Text: "x = sub(x);", JITAddr: a + 8},
			{Insn: 2, File: "p.c", Line: 12, Text: "return x;", JITAddr: a + 12},
			{Insn: 4, File: "p.c", Line: 20, Text: "{", JITAddr: s},
			{Insn: 5, File: "p.c", Line: 21, Text: "x *= 3;", JITAddr: s + 2},
			{Insn: 6, File: "p.c", Line: 21, Text: "x *= 3;", JITAddr: s + 4},
			{Insn: 7, File: "p.c", Line: 22, Text: "}", JITAddr: s + 6},
		},
		JIT:  &JIT{Image: img, Ksyms: []uint64{a, s}, FuncLens: []uint32{16, 8}},
		Maps: []Map{{ID: 3, Name: "m"}},
	}
}

func TestBuildSynthetic(t *testing.T) {
	p := synthetic(t)
	const a, s = 0xffffffffa0000000, 0xffffffffa0001000
	c := Counts{ByAddr: map[uint64]uint64{
		a + 1: 5,                        // main line 10
		s + 2: 40, s + 3: 20, s + 5: 30, // sub line 21 (two records)
		s + 7:      5,    // sub line 22
		0xdeadbeef: 1000, // elsewhere: not this program
	}, Total: 200, RunCount: 10, RunTimeNs: 1000, Event: "cpu-clock"}
	l, err := Build(p, c, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Samples != 100 || l.Share != 50 || l.NsPerRun != 100 {
		t.Errorf("samples %d share %v ns/run %v, want 100, 50, 100", l.Samples, l.Share, l.NsPerRun)
	}
	if len(l.Functions) != 2 || l.Functions[0].Samples != 5 || l.Functions[1].Samples != 95 {
		t.Fatalf("functions %+v", l.Functions)
	}
	sub := l.Functions[1]
	var sum float64
	for _, ls := range sub.Lines {
		sum += ls.Percent
	}
	if math.Abs(sum-100) > 0.01 {
		t.Errorf("line percentages of sub sum to %v", sum)
	}
	if len(sub.Lines) != 3 || sub.Lines[1].Line != 21 || sub.Lines[1].Samples != 90 || sub.Lines[1].HotRank != 1 {
		t.Errorf("sub lines %+v: want line 21 hottest with 90", sub.Lines)
	}
	for _, blk := range sub.Blocks {
		// Line 21 is the hottest; 22 and main's 10 (5% each) follow; 20
		// has nothing.
		wantRank := map[uint32]int{20: 0, 21: 1, 22: 3}[blk.Source.Line]
		if blk.HotRank != wantRank || blk.Hot != (wantRank > 0) {
			t.Errorf("block of line %d: hot %v rank %d, want rank %d", blk.Source.Line, blk.Hot, blk.HotRank, wantRank)
		}
		for _, in := range blk.JIT {
			if want := c.ByAddr[in.Addr]; in.Samples != want {
				t.Errorf("JIT %#x: %d samples, want %d", in.Addr, in.Samples, want)
			}
		}
	}
	// The call names the subprogram, by slot and by JIT symbol.
	callInsn := l.Functions[0].Blocks[1].Insns[0]
	if callInsn.Text != "call pc+2" || callInsn.Target != 4 || callInsn.Comment != "sub" {
		t.Errorf("call %+v", callInsn)
	}
	jmp := sub.Blocks[2].Insns[0]
	if jmp.Text != "if r0 != 0x0 goto pc-3" || jmp.Target != 4 {
		t.Errorf("jump %+v", jmp)
	}

	var text bytes.Buffer
	if err := WriteText(&text, l, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{">1", "static int sub(int x):", "; x *= 3; [p.c:21]", "    5: (27) r0 *= 3", "ffffffffa0001002:  nop"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	// Past the ninth hot line the marker keeps its width.
	many, err := Build(p, c, Options{JIT: true, HotLines: 50})
	if err != nil {
		t.Fatal(err)
	}
	many.Functions[1].Blocks[1].HotRank = 12
	var wide bytes.Buffer
	if err := WriteText(&wide, many, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wide.String(), ">+   ") {
		t.Errorf("rank 12 not marked >+:\n%s", wide.String())
	}

	var colored bytes.Buffer
	if err := WriteText(&colored, l, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(colored.String(), colorRed) || strings.Contains(text.String(), "\x1b[") {
		t.Error("colour only in the colour variant")
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, l); err != nil {
		t.Fatal(err)
	}
	var back Listing
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Functions[1].Lines[1].HotRank != 1 || back.Samples != 100 {
		t.Errorf("JSON round trip lost the heat: %+v", back.Functions[1].Lines)
	}
}

func TestBuildFunctionFilter(t *testing.T) {
	p := synthetic(t)
	l, err := Build(p, Counts{ByAddr: map[uint64]uint64{0xffffffffa0000001: 4, 0xffffffffa0001002: 6}}, Options{Function: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Functions) != 1 || l.Functions[0].Name != "sub" || l.Samples != 10 || l.Functions[0].Percent != 60 {
		t.Errorf("filtered listing %+v", l)
	}
	_, err = Build(p, Counts{}, Options{Function: "nope"})
	if !errors.Is(err, ErrNoFunction) || !errors.Is(err, errs.ErrNotFound) || !strings.Contains(err.Error(), "main, sub") {
		t.Errorf("unknown function: %v", err)
	}
	// One statement, not "no such BPF function: not found: ...".
	if err != nil && !strings.HasPrefix(err.Error(), `no such BPF function: "nope" in program `) {
		t.Errorf("unknown function: %q", err)
	}
	if _, err := Build(nil, Counts{}, Options{}); err == nil {
		t.Error("nil program: no error")
	}
}

func TestBuildDegraded(t *testing.T) {
	p := synthetic(t)
	p.Funcs, p.Lines = nil, nil
	l, err := Build(p, Counts{ByAddr: map[uint64]uint64{0xffffffffa0001003: 3}}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	// Without BTF the subprogram is found from the call.
	if len(l.Functions) != 2 || l.Functions[1].Insn != 4 || l.Functions[1].Samples != 3 {
		t.Errorf("functions without BTF: %+v", l.Functions)
	}
	if !hasNote(l, "no BTF line info") {
		t.Errorf("notes %q", l.Notes)
	}

	// Line records without JIT addresses: the machine code and its
	// samples go to a block of their own.
	p = synthetic(t)
	for i := range p.Lines {
		p.Lines[i].JITAddr = 0
	}
	l, err = Build(p, Counts{ByAddr: map[uint64]uint64{0xffffffffa0001003: 3}}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	last := l.Functions[1].Blocks[len(l.Functions[1].Blocks)-1]
	if last.Source != nil || len(last.Insns) != 0 || len(last.JIT) != 8 || last.Samples != 3 || l.Unattributed != 0 {
		t.Errorf("JIT without line addresses: last block %+v, unattributed %d", last, l.Unattributed)
	}
	if n := len(l.Functions[1].Blocks[0].Insns); n != 1 {
		t.Errorf("first block of sub has %d xlated instructions, want 1", n)
	}

	p = synthetic(t)
	p.JIT = nil
	l, err = Build(p, Counts{ByLine: map[LineKey]uint64{{File: "p.c", Line: 21}: 7, {File: "p.c", Line: 99}: 1}}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(l, "not JITed") || l.Functions[1].Samples != 7 || l.Unattributed != 1 || l.Samples != 8 {
		t.Errorf("interpreted program: notes %q, sub samples %d, unattributed %d", l.Notes, l.Functions[1].Samples, l.Unattributed)
	}

	l, err = Build(&Program{ID: 1}, Counts{}, Options{JIT: true})
	if err != nil || len(l.Functions) != 1 || !hasNote(l, "no xlated") {
		t.Errorf("empty program: %v %+v", err, l)
	}
}

func hasNote(l *Listing, prefix string) bool {
	for _, n := range l.Notes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// Unsorted line records list as sorted ones; a record without a JIT
// address leaves its machine code to the block before it.
func TestBuildLineOrder(t *testing.T) {
	p := synthetic(t)
	sorted, err := Build(p, Counts{}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(p.Lines)
	reversed, err := Build(p, Counts{}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	WriteText(&a, sorted, TextOptions{})
	WriteText(&b, reversed, TextOptions{})
	if a.String() != b.String() {
		t.Errorf("reversed line records list differently:\n%s\n---\n%s", b.String(), a.String())
	}

	p = synthetic(t)
	p.Lines[4].JITAddr = 0 // sub, line 21, first record
	l, err := Build(p, Counts{}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	blocks := l.Functions[1].Blocks
	if blocks[0].JITEnd != 0xffffffffa0001004 || blocks[1].JITEnd != 0 || len(blocks[0].JIT) != 4 || len(blocks[1].JIT) != 0 {
		t.Errorf("blocks around a record without address: %+v / %+v", blocks[0], blocks[1])
	}
}
