package bpfprog

import (
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// objectBTF returns the .BTF section of a bundled object in ../testdata.
func objectBTF(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := elf.Open(filepath.Join("..", "testdata", name+".bpf.o"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".BTF")
	if sec == nil {
		tb.Fatalf("%s.bpf.o has no .BTF", name)
	}
	raw, err := sec.Data()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func btfAllNames(b *btfNames) []string {
	var names []string
	for id := uint32(1); id <= uint32(len(b.nameOff)); id++ {
		if n, ok := b.name(id); ok {
			names = append(names, n)
		}
	}
	return names
}

func TestParseBTFNamesObjects(t *testing.T) {
	for obj, funcs := range map[string][]string{
		"hot":        {"bpfprof_hot_loop_socket"},
		"subprog":    {"bpfprof_xdp_main", "bpfprof_xdp_sub"},
		"maps":       {"bpfprof_maps"},
		"tracepoint": {"bpfprof_sys_enter"},
	} {
		b, err := parseBTFNames(objectBTF(t, obj))
		if err != nil {
			t.Errorf("%s: %v", obj, err)
			continue
		}
		names := btfAllNames(b)
		for _, fn := range funcs {
			if !slices.Contains(names, fn) {
				t.Errorf("%s: no type named %s in %q", obj, fn, names)
			}
		}
		if _, ok := b.name(0); ok {
			t.Errorf("%s: type 0 (void) has a name", obj)
		}
		if _, ok := b.name(uint32(len(b.nameOff)) + 1); ok {
			t.Errorf("%s: a type past the last has a name", obj)
		}
	}
}

// The kernel's own BTF has every kind of type: the walk must get through
// all of it.
func TestParseBTFNamesVmlinux(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no kernel BTF: %v", err) // CONFIG_DEBUG_INFO_BTF=n: nothing to test
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseBTFNames(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.nameOff) < 1000 {
		t.Fatalf("only %d types in vmlinux BTF", len(b.nameOff))
	}
	if !slices.Contains(btfAllNames(b), "task_struct") {
		t.Error("no task_struct in vmlinux BTF")
	}
}

// The strings line info points to: every name is one, and offsets past
// the section are none.
func TestBTFStrings(t *testing.T) {
	b, err := parseBTFNames(objectBTF(t, "hot"))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := b.str(0); !ok || s != "" {
		t.Errorf("string 0 = %q, %v; want the empty string", s, ok)
	}
	if s, ok := b.str(uint32(len(b.strs))); ok {
		t.Errorf("string past the section = %q", s)
	}
	for id, off := range b.nameOff {
		s, ok := b.str(off)
		if n, _ := b.name(uint32(id + 1)); !ok || s != n {
			t.Errorf("string at name offset %d of type %d = %q, %v; want %q", off, id+1, s, ok, n)
		}
	}
}

func TestParseBTFNamesBad(t *testing.T) {
	good := objectBTF(t, "hot")
	for name, raw := range map[string][]byte{
		"empty":        nil,
		"short header": good[:10],
		"bad magic":    append([]byte{0, 0}, good[2:]...),
		"truncated":    good[:len(good)/2],
	} {
		if _, err := parseBTFNames(raw); !errors.Is(err, errBadBTF) {
			t.Errorf("%s: err = %v, want errBadBTF", name, err)
		}
	}
}

func FuzzParseBTFNames(f *testing.F) {
	f.Add(objectBTF(f, "hot"))
	f.Add(objectBTF(f, "subprog"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseBTFNames(raw)
		if err != nil {
			if b != nil {
				t.Fatal("error with a result")
			}
			return
		}
		for id := uint32(0); id <= uint32(len(b.nameOff))+1; id++ {
			b.name(id)
		}
		for _, off := range []uint32{0, uint32(len(b.strs)) - 1, uint32(len(b.strs)), ^uint32(0)} {
			b.str(off)
		}
	})
}
