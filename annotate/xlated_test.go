package annotate

import (
	"testing"

	"github.com/cilium/ebpf/asm"
)

// raw builds one xlated record from its fields.
func raw(code uint8, dst, src uint8, off int16, imm int32) []byte {
	b := make([]byte, 8)
	b[0] = code
	if hostEndian.Uint16([]byte{1, 0}) == 1 {
		b[1] = src<<4 | dst
	} else {
		b[1] = dst<<4 | src
	}
	hostEndian.PutUint16(b[2:], uint16(off))
	hostEndian.PutUint32(b[4:], uint32(imm))
	return b
}

// TestRenderXlated checks bpftool's notation for each kind of instruction,
// as the kernel's disassembler (kernel/bpf/disasm.c) prints it.
func TestRenderXlated(t *testing.T) {
	p := &Program{Maps: []Map{{ID: 12, Name: "counts"}}, Calls: map[int32]string{12345: "__htab_map_lookup_elem"},
		Kfuncs: map[int32]string{88: "bpf_rcu_read_lock"},
		Funcs:  []Func{{Insn: 0, Name: "main"}, {Insn: 5, Name: "sub"}}}
	for _, tc := range []struct {
		b       []byte
		want    string
		target  int
		comment string
	}{
		{raw(0xbf, 1, 6, 0, 0), "r1 = r6", -1, ""},
		{raw(0xb7, 0, 0, 0, -1), "r0 = -1", -1, ""},
		{raw(0xb4, 2, 0, 0, 5), "w2 = 5", -1, ""},
		{raw(0x07, 10, 0, 0, -8), "r10 += -8", -1, ""},
		{raw(0x3f, 1, 2, 1, 0), "r1 s/= r2", -1, ""},
		{raw(0x9c, 1, 2, 1, 0), "w1 s%= w2", -1, ""},
		{raw(0xbf, 1, 2, 8, 0), "r1 = (s8)r2", -1, ""},
		{raw(0xbc, 1, 2, 32, 0), "w1 = (s32)w2", -1, ""},
		{raw(0x87, 3, 0, 0, 0), "r3 = -r3", -1, ""},
		{raw(0xc7, 3, 0, 0, 4), "r3 s>>= 4", -1, ""},
		{raw(0xdc, 4, 0, 0, 16), "r4 = be16 r4", -1, ""},
		{raw(0xd4, 4, 0, 0, 32), "r4 = le32 r4", -1, ""},
		{raw(0xd7, 4, 0, 0, 64), "r4 = bswap64 r4", -1, ""},
		{raw(0xbf, 1, 2, 1, 1<<16), "r1 = addr_space_cast(r2, 1, 0)", -1, ""},
		{raw(0xbf, 1, 1, -1, 0), "r1 = &(void __percpu *)(r1)", -1, ""},
		{raw(0x61, 1, 6, 32, 0), "r1 = *(u32 *)(r6 +32)", -1, ""},
		{raw(0x91, 1, 6, -2, 0), "r1 = *(s8 *)(r6 -2)", -1, ""},
		{raw(0x7b, 10, 1, -16, 0), "*(u64 *)(r10 -16) = r1", -1, ""},
		{raw(0x62, 10, 0, -4, 0), "*(u32 *)(r10 -4) = 0", -1, ""},
		{raw(0xdb, 0, 1, 0, 0x00), "lock *(u64 *)(r0 +0) += r1", -1, ""},
		{raw(0xc3, 0, 1, 8, 0x50), "lock *(u32 *)(r0 +8) &= r1", -1, ""},
		{raw(0xdb, 0, 1, 0, 0x01), "r1 = atomic64_fetch_add((u64 *)(r0 +0), r1)", -1, ""},
		{raw(0xc3, 0, 1, 0, 0xa1), "r1 = atomic_fetch_xor((u32 *)(r0 +0), r1)", -1, ""},
		{raw(0xdb, 2, 3, 0, 0xf1), "r0 = atomic64_cmpxchg((u64 *)(r2 +0), r0, r3)", -1, ""},
		{raw(0xdb, 2, 3, 0, 0xe1), "r3 = atomic64_xchg((u64 *)(r2 +0), r3)", -1, ""},
		{raw(0xd3, 1, 2, 4, 0x100), "r1 = load_acquire((u8 *)(r2 +4))", -1, ""},
		{raw(0xdb, 1, 2, 4, 0x110), "store_release((u64 *)(r1 +4), r2)", -1, ""},
		{raw(0x30, 0, 0, 0, 14), "r0 = *(u8 *)skb[14]", -1, ""},
		{raw(0x48, 0, 3, 0, 2), "r0 = *(u16 *)skb[r3 + 2]", -1, ""},
		{append(raw(0x18, 1, 1, 0, 12), raw(0, 0, 0, 0, 0)...), "r1 = map[id:12]", -1, "counts"},
		{append(raw(0x18, 1, 2, 0, 12), raw(0, 0, 0, 0, 40)...), "r1 = map[id:12][0]+40", -1, "counts"},
		{append(raw(0x18, 2, 0, 0, -32), raw(0, 0, 0, 0, 0)...), "r2 = 0xffffffe0", -1, ""},
		{append(raw(0x18, 2, 0, 0, 1), raw(0, 0, 0, 0, 1)...), "r2 = 0x100000001", -1, ""},
		{append(raw(0x18, 2, 4, 0, 3), raw(0, 0, 0, 0, 0)...), "r2 = subprog[+3]", -1, ""},
		{raw(0x85, 0, 0, 0, 1), "call bpf_map_lookup_elem#1", -1, ""},
		{raw(0x85, 0, 0, 0, 12345), "call __htab_map_lookup_elem#12345", -1, ""},
		{raw(0x85, 0, 0, 0, -99999), "call unknown#-99999", -1, ""},
		{raw(0x85, 0, 2, 0, 77), "call kernel-function#77", -1, ""},
		{raw(0x85, 0, 2, 0, 88), "call bpf_rcu_read_lock#88", -1, ""},
		{raw(0x85, 0, 2, 1, 88), "call kernel-function#88", -1, ""},
		{raw(0x85, 0, 1, 4, 1), "call pc+4", 5, "sub"},
		{raw(0x95, 0, 0, 0, 0), "exit", -1, ""},
		{raw(0x05, 0, 0, 3, 0), "goto pc+3", 4, ""},
		{raw(0x06, 0, 0, 0, -1), "gotol pc-1", 0, ""},
		{raw(0xe5, 0, 0, 2, 0), "may_goto pc+2", 3, ""},
		{raw(0x15, 1, 0, 2, 0), "if r1 == 0x0 goto pc+2", 3, ""},
		{raw(0x55, 3, 0, -11, 256), "if r3 != 0x100 goto pc-11", -10, ""},
		{raw(0x2d, 1, 2, 1, 0), "if r1 > r2 goto pc+1", 2, ""},
		{raw(0x66, 1, 0, 1, -1), "if w1 s> 0xffffffff goto pc+1", 2, ""},
		{raw(0xc6, 1, 0, 0, 0), "BUG_jmp32", -1, ""},
		{raw(0xc2, 0, 0, 0, 0), "nospec", -1, ""},
		{raw(0x82, 1, 0, 0, 0), "BUG_st_82", -1, ""},
		{raw(0x18, 1, 0, 0, 0), "BUG_ld_18", -1, ""},
	} {
		r := newXlatedRenderer(p)
		dec := decodeXlated(tc.b)
		if len(dec) != 1 {
			t.Errorf("%x: %d instructions decoded, want 1", tc.b, len(dec))
			continue
		}
		got := r.render(dec[0])
		if tc.want == "BUG_jmp32" {
			// JMP32 has no CALL: the kernel never emits it; any text
			// without a panic will do.
			continue
		}
		if got.Text != tc.want || got.Target != tc.target || got.Comment != tc.comment || got.Opcode != tc.b[0] {
			t.Errorf("%x: %q target %d comment %q opcode %02x, want %q %d %q", tc.b, got.Text, got.Target, got.Comment, got.Opcode, tc.want, tc.target, tc.comment)
		}
	}
}

// FuzzXlated decodes and renders arbitrary bytes as xlated code: every slot
// is listed once, nothing panics.
func FuzzXlated(f *testing.F) {
	f.Add(encode(f, asm.Mov.Imm(asm.R0, 0), asm.Return()))
	f.Add(append(raw(0x18, 1, 1, 0, 12), raw(0, 0, 0, 0, 0)...))
	f.Add(raw(0x85, 0, 1, 4, 1))
	f.Add(raw(0x18, 1, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &Program{ID: 1, Xlated: b, Funcs: []Func{{Insn: 0, Name: "f"}}}
		l, err := Build(p, Counts{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		last := -1
		for _, f := range l.Functions {
			for _, blk := range f.Blocks {
				for _, in := range blk.Insns {
					if in.Index <= last || in.Text == "" {
						t.Fatalf("slot %d after %d, text %q", in.Index, last, in.Text)
					}
					last = in.Index
					n++
				}
			}
		}
		if n > len(b)/8 {
			t.Fatalf("%d instructions from %d bytes", n, len(b))
		}
	})
}

// FuzzDisassemble disassembles arbitrary bytes: an error comes with a nil
// result; otherwise the instructions cover the code exactly.
func FuzzDisassemble(f *testing.F) {
	f.Add([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0xc3}, uint64(0xffffffffa0000000))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0x90}, uint64(maxAddr))
	f.Fuzz(func(t *testing.T, code []byte, addr uint64) {
		for _, syntax := range []Syntax{ATT, Intel} {
			insns, err := Disassemble(code, addr, syntax, func(a uint64) (string, uint64, bool) { return "sym", a &^ 0xff, a&1 == 0 })
			if err != nil {
				if insns != nil {
					t.Fatalf("error %v with a result", err)
				}
				continue
			}
			next := addr
			for _, in := range insns {
				if in.Addr != next || in.Len <= 0 || in.Text == "" {
					t.Fatalf("instruction %+v, want one at %#x", in, next)
				}
				next += uint64(in.Len)
			}
			if next-addr != uint64(len(code)) {
				t.Fatalf("instructions cover %d bytes of %d", next-addr, len(code))
			}
		}
	})
}

const maxAddr = ^uint64(0)

func TestParseSyntax(t *testing.T) {
	for in, want := range map[string]Syntax{"att": ATT, "GNU": ATT, "intel": Intel} {
		if got, err := ParseSyntax(in); err != nil || got != want || (got.String() != "att" && got.String() != "intel") {
			t.Errorf("ParseSyntax(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSyntax("masm"); err == nil {
		t.Error("ParseSyntax(masm): no error")
	}
}
