package symbolize

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bpfprof/bpfprof/sampler"
)

func newOffline(tb testing.TB, o *Offline) *Symbolizer {
	tb.Helper()
	s, err := New(Options{ProcDir: fakeProc(tb), Offline: o})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestOfflineBPF resolves a recorded program from the info handed over,
// and one without info by its kernel symbols.
func TestOfflineBPF(t *testing.T) {
	fx := loadProgFixture(t, "subprog")
	other := otherProg(fx)
	s := newOffline(t, &Offline{Program: (&fakeProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}).info})
	feed(s, loadRecords(fx, 100))
	sub := fx.Info.KsymAddrs[1] + 10
	if f := s.Kernel(sub, 150); f.Func != "bpfprof_xdp_sub" || f.File != "testdata/subprog.bpf.c" || f.Line == 0 {
		t.Errorf("recorded subprogram: %+v", f)
	}
	feed(s, unloadRecords(fx, 200))
	feed(s, loadRecords(other, 300))
	if f := s.Kernel(other.Info.KsymAddrs[0], 350); f.Func != "other_main" || f.Line != 0 || f.Prog == nil || f.Prog.ID != other.Info.ID {
		t.Errorf("program without recorded info: %+v", f)
	}
	if st := s.BPFStats(); st.AtStart != 0 || st.Loaded != 2 {
		t.Errorf("stats %+v: nothing is listed from this machine", st)
	}
}

// TestOfflineKernel: without KernelSymbols kernel addresses stay unnamed;
// with them a recorded _text elsewhere moves addresses to this boot's.
func TestOfflineKernel(t *testing.T) {
	s := newOffline(t, &Offline{})
	if f := s.Kernel(0xffffffff81000020, 1); f.Func != unknownFunc || f.Kind != KindKernel {
		t.Errorf("kernel frame of another kernel: %+v", f)
	}
	same := newOffline(t, &Offline{KernelSymbols: true})
	moved := newOffline(t, &Offline{KernelSymbols: true, KernelText: 0xffffffff91000000})
	want := same.Kernel(0xffffffff81000020, 1)
	if want.Func == unknownFunc {
		t.Fatalf("fixture address unnamed: %+v", want)
	}
	if got := moved.Kernel(0xffffffff91000020, 1); got.Func != want.Func || got.Addr != 0xffffffff91000020 {
		t.Errorf("kernel frame of another boot: %+v, want %s", got, want.Func)
	}
}

// TestOfflineUser: a recorded pid is no process of this machine, even if
// one of this machine has it; files are opened by path, and only if their
// build ID is the recorded one.
func TestOfflineUser(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid := uint32(os.Getpid())
	for _, c := range []struct {
		name     string
		buildIDs map[string]string
		named    bool
	}{
		{"no build ID recorded", nil, true},
		{"another build ID", map[string]string{exe: "00112233"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newOffline(t, &Offline{BuildIDs: c.buildIDs})
			if name := s.Comm(pid); name != "" {
				t.Errorf("comm of a recorded pid read from this machine: %q", name)
			}
			addr := uint64(0x400000)
			if f := s.User(pid, addr, 1); f.Func != unknownFunc {
				t.Errorf("user frame before any MMAP2: %+v", f)
			}
			s.HandleRecord(&sampler.Comm{Common: sampler.Common{Time: 2}, PID: pid, TID: pid, Comm: "recorded", Exec: true})
			s.HandleRecord(&sampler.Mmap2{Common: sampler.Common{Time: 3}, PID: pid, TID: pid, Addr: addr, Len: 1 << 30, Prot: 5, Filename: exe})
			if name := s.Comm(pid); name != "recorded" {
				t.Errorf("comm %q, want the recorded one", name)
			}
			// A Go function is in the pclntab: named with a file
			// means the file was read. (The start of the text can be
			// runtime/cgo's C code, which has no file.)
			f := s.User(pid, addr+goFuncOffset(t), 4)
			if got := f.Mapping != nil && f.File != ""; got != c.named {
				t.Errorf("frame %+v: named %v, want %v", f, got, c.named)
			}
		})
	}
}

// TestOfflineDebugDir finds a binary gone from its recorded path in perf's
// build-ID cache, by the build ID recorded for it.
func TestOfflineDebugDir(t *testing.T) {
	lib, err := os.ReadFile("testdata/libtiny.so")
	if err != nil {
		t.Fatal(err)
	}
	const id = "3e07deaea5f196451ba7c290cc3c9637648b52ba" // readelf -n testdata/libtiny.so
	debug := t.TempDir()
	dir := filepath.Join(debug, ".build-id", id[:2], id[2:])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "elf"), lib, 0o644); err != nil {
		t.Fatal(err)
	}
	gone := "/nonexistent/libtiny.so"
	for _, c := range []struct {
		name string
		o    *Offline
		want string
	}{
		{"cached", &Offline{DebugDir: debug, BuildIDs: map[string]string{gone: id}}, "tiny_loop"},
		{"no build ID recorded", &Offline{DebugDir: debug}, "libtiny.so+0x1050"},
		{"no cache", &Offline{BuildIDs: map[string]string{gone: id}}, "libtiny.so+0x1050"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newOffline(t, c.o)
			s.HandleRecord(&sampler.Mmap2{Common: sampler.Common{Time: 1}, PID: 42, TID: 42, Addr: 0x7f0000001000, Len: 0x1000, PgOff: 0x1000, Prot: 5, Filename: gone})
			if f := s.User(42, 0x7f0000001050, 2); f.Func != c.want {
				t.Errorf("frame %+v, want %s", f, c.want)
			}
		})
	}
}

// TestOfflineKallsyms names kernel frames from a recorded copy of kallsyms.
func TestOfflineKallsyms(t *testing.T) {
	s, err := New(Options{Offline: &Offline{Kallsyms: "testdata/kallsyms.txt", KernelText: 0xffffffff91000000}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := newOffline(t, &Offline{KernelSymbols: true}).Kernel(0xffffffff81000020, 1)
	if got := s.Kernel(0xffffffff81000020, 1); got.Func != want.Func || got.Func == unknownFunc {
		t.Errorf("frame %+v, want %s: the copy's addresses are the recording's", got, want.Func)
	}
	if _, err := New(Options{Offline: &Offline{Kallsyms: "testdata/missing"}}); err == nil {
		t.Error("no error for a missing kallsyms copy")
	}
}

// goFuncOffset returns the file offset of a Go function of this test
// binary, found through this process's own mapping of it.
func goFuncOffset(tb testing.TB) uint64 {
	tb.Helper()
	pc := uint64(reflect.ValueOf(TestOfflineUser).Pointer())
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	entries, _, err := parseMaps(f)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.start <= pc && pc < e.limit {
			return pc - e.start + e.offset
		}
	}
	tb.Fatalf("pc %#x of TestOfflineUser in no mapping of /proc/self/maps", pc)
	return 0
}
