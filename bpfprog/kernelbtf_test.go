package bpfprog

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestKernelTypeName names vmlinux BTF types as cilium's full parse of the
// kernel's BTF does: every function, and IDs past the last type.
func TestKernelTypeName(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no kernel BTF: %v", err) // CONFIG_DEBUG_INFO_BTF=n: nothing to name
	}
	if err != nil {
		t.Fatal(err)
	}
	funcs, last := 0, btf.TypeID(0)
	for typ, err := range spec.All() {
		if err != nil {
			t.Fatal(err)
		}
		id, err := spec.TypeID(typ)
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, id)
		fn, ok := typ.(*btf.Func)
		if !ok {
			continue
		}
		funcs++
		if got, ok := KernelTypeName(uint32(id)); !ok || got != fn.Name {
			t.Fatalf("type %d: %q, %v; want %q", id, got, ok, fn.Name)
		}
	}
	if funcs < 1000 {
		t.Errorf("only %d functions in the kernel's BTF", funcs)
	}
	for _, id := range []uint32{0, uint32(last) + 1, 1 << 31} {
		if name, ok := KernelTypeName(id); ok {
			t.Errorf("type %d: %q, want none", id, name)
		}
	}
}

// BenchmarkKernelBTFNames: what naming a live program's kfuncs costs on
// first use, against parsing the kernel's BTF with cilium's btf package.
func BenchmarkKernelBTFNames(b *testing.B) {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		b.Skip(err)
	}
	b.Run("bpfprog-names", func(b *testing.B) {
		for b.Loop() {
			if _, err := readBTFNamesFile(vmlinuxBTF); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cilium-btf-spec", func(b *testing.B) {
		for b.Loop() {
			if _, err := btf.LoadSpec(vmlinuxBTF); err != nil {
				b.Fatal(err)
			}
		}
	})
}
