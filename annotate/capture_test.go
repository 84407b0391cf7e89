package annotate

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// testPrograms are the bundled objects with their functions, in address
// order.
var testPrograms = []struct {
	name  string
	funcs []string
}{
	{testprogs.Hot, []string{testprogs.HotFunc}},
	{testprogs.Subprog, []string{testprogs.SubprogFunc, testprogs.SubprogSubFunc}},
	{testprogs.Maps, []string{testprogs.MapsFunc}},
	{testprogs.Tracepoint, []string{testprogs.TracepointFunc}},
}

// loadInfo loads a bundled object and returns its main program's detail
// as bpfprog reads it for a capture; the object is closed when the test
// ends.
func loadInfo(t testing.TB, name string) (*testprogs.Object, *bpfprog.Detail) {
	t.Helper()
	o, id := progtest.Load(t, name)
	d, err := bpfprog.ReadDetail(bpfprog.ID(id), bpfprog.DetailAll)
	if err != nil {
		t.Fatal(err)
	}
	return o, d
}

// mapNames names the maps of a loaded object by ID.
func mapNames(o *testprogs.Object) map[uint32]string {
	names := map[uint32]string{}
	for name, m := range o.Collection().Maps {
		if mi, err := m.Info(); err == nil {
			if id, ok := mi.ID(); ok {
				names[uint32(id)] = name
			}
		}
	}
	return names
}

func TestFromDetail(t *testing.T) {
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			o, info := loadInfo(t, tp.name)
			p, err := FromDetail(info, CaptureOptions{MapNames: mapNames(o)})
			if err != nil {
				t.Fatal(err)
			}
			if p.ID == 0 || p.Tag == "" || p.Name != tp.funcs[0] {
				t.Errorf("id %d tag %q name %q, want an id, a tag and name %q", p.ID, p.Tag, p.Name, tp.funcs[0])
			}
			if len(p.Xlated) == 0 || len(p.Xlated)%8 != 0 {
				t.Errorf("xlated %d bytes, want a non-empty multiple of 8", len(p.Xlated))
			}
			var got []string
			for _, f := range p.Funcs {
				got = append(got, f.Name)
				if f.Signature == "" {
					t.Errorf("func %s without signature", f.Name)
				}
			}
			if len(got) != len(tp.funcs) {
				t.Fatalf("funcs %v, want %v", got, tp.funcs)
			}
			for i := range got {
				if got[i] != tp.funcs[i] {
					t.Errorf("funcs %v, want %v", got, tp.funcs)
				}
			}
			if len(p.Lines) == 0 {
				t.Fatal("no line info")
			}
			// Compilers emit line 0 for code of no particular line.
			numbered := 0
			for _, l := range p.Lines {
				if l.File != "testdata/"+tp.name+".bpf.c" || l.JITAddr == 0 {
					t.Errorf("line record %+v: want the testdata file and a JIT address", l)
				}
				if l.Line > 0 {
					numbered++
				}
			}
			if numbered == 0 {
				t.Error("no line record has a line number")
			}
			if p.JIT == nil || len(p.JIT.Image) == 0 || len(p.JIT.Ksyms) != len(tp.funcs) {
				t.Fatalf("JIT %+v: want an image and %d symbols", p.JIT, len(tp.funcs))
			}
			for _, m := range p.Maps {
				if m.Name == "" {
					t.Errorf("map %d without name", m.ID)
				}
			}
		})
	}
}

func TestSignature(t *testing.T) {
	u32 := &btf.Typedef{Name: "__u32", Type: &btf.Int{Name: "unsigned int", Size: 4}}
	for _, tc := range []struct {
		fn   *btf.Func
		want string
	}{
		{&btf.Func{Name: "f", Linkage: btf.StaticFunc, Type: &btf.FuncProto{
			Return: u32, Params: []btf.FuncParam{{Name: "len", Type: u32}}}},
			"static __u32 f(__u32 len)"},
		{&btf.Func{Name: "main", Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
			Return: &btf.Int{Name: "int", Size: 4},
			Params: []btf.FuncParam{{Name: "ctx", Type: &btf.Pointer{Target: &btf.Struct{Name: "xdp_md"}}}}}},
			"int main(struct xdp_md *ctx)"},
		{&btf.Func{Name: "g", Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
			Params: []btf.FuncParam{
				{Name: "s", Type: &btf.Pointer{Target: &btf.Const{Type: &btf.Int{Name: "char", Size: 1}}}},
				{Name: "buf", Type: &btf.Array{Type: u32, Nelems: 4}},
				{Name: "pp", Type: &btf.Pointer{Target: &btf.Pointer{Target: &btf.Void{}}}},
			}}},
			"void g(const char *s, __u32 buf[4], void **pp)"},
		{&btf.Func{Name: "v", Linkage: btf.GlobalFunc, Type: &btf.FuncProto{Return: &btf.Void{}}}, "void v(void)"},
		{nil, ""},
	} {
		if got := Signature(tc.fn); got != tc.want {
			t.Errorf("Signature = %q, want %q", got, tc.want)
		}
	}
}

func TestKfuncCalls(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no kernel BTF: %v", err) // CONFIG_DEBUG_INFO_BTF=n: nothing to test
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "bpf_rcu_read_lock"
	var fn *btf.Func
	if err := spec.TypeByName(want, &fn); err != nil {
		t.Skipf("kernel BTF has no %s: %v", want, err)
	}
	id, err := spec.TypeID(fn)
	if err != nil {
		t.Fatal(err)
	}
	xl := append(raw(0x85, 0, 2, 0, int32(id)), raw(0x85, 0, 2, 1, int32(id))...)
	got := kfuncCalls(xl, func(id uint32) (string, bool) {
		t, err := spec.TypeByID(btf.TypeID(id))
		if err != nil {
			return "", false
		}
		return t.TypeName(), true
	})
	if len(got) != 1 || got[int32(id)] != want {
		t.Errorf("kfuncs %v, want %d: %s", got, id, want)
	}
}

// TestNoBTF lists a program loaded without BTF: its instructions and
// machine code, with a note saying why there are no source lines.
func TestNoBTF(t *testing.T) {
	testutil.RequireRoot(t, "load BPF programs")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bpfprof_nobtf", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Add.Imm(asm.R0, 1), asm.Return()},
	})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	d, err := bpfprog.ReadDetail(bpfprog.ID(id), bpfprog.DetailAll)
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromDetail(d, CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Funcs) != 0 || len(p.Lines) != 0 || len(p.Xlated) != 3*8 {
		t.Fatalf("captured %d funcs, %d lines, %d bytes of xlated", len(p.Funcs), len(p.Lines), len(p.Xlated))
	}
	l, err := Build(p, Counts{}, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(l, "no BTF line info") || len(l.Functions) != 1 || l.Functions[0].Name != "bpfprof_nobtf" {
		t.Fatalf("notes %q, functions %+v", l.Notes, l.Functions)
	}
	blk := l.Functions[0].Blocks[0]
	if blk.Source != nil || len(blk.Insns) != 3 || blk.Insns[1].Text != "r0 += 1" || (l.JITed && len(blk.JIT) == 0) {
		t.Errorf("block %+v", blk)
	}
}
