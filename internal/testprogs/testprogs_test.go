package testprogs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestMain(m *testing.M) {
	os.Exit(testutil.LeakCheck(m))
}

// load loads a bundled object for the test and closes it at the end.
func load(t *testing.T, name string) *Object {
	t.Helper()
	testutil.RequireRoot(t, "CAP_BPF to load programs")
	o, err := Load(name)
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Error(err)
		}
	})
	return o
}

// enableStats turns on BPF run-time stats until the end of the test.
func enableStats(t *testing.T) {
	t.Helper()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		t.Fatalf("enable BPF stats: %v", err)
	}
	t.Cleanup(func() { stats.Close() })
}

func runCount(t *testing.T, prog *ebpf.Program) uint64 {
	t.Helper()
	st, err := prog.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.RunCount
}

var wantFuncs = map[string][]string{
	Hot:        {HotFunc},
	Subprog:    {SubprogFunc, SubprogSubFunc},
	Maps:       {MapsFunc},
	Tracepoint: {TracepointFunc},
	Kprobe:     {KprobeFunc},
}

var wantMarks = map[string][]string{
	Hot:        {"hot"},
	Subprog:    {"sub-hot"},
	Maps:       {"maps-lookup"},
	Tracepoint: {"count"},
	Kprobe:     {"kprobe-hot"},
}

func TestMarker(t *testing.T) {
	for name, marks := range wantMarks {
		for _, mark := range marks {
			file, line, err := Marker(name, mark)
			if err != nil {
				t.Fatal(err)
			}
			if want := "testdata/" + name + ".bpf.c"; file != want {
				t.Errorf("Marker(%s, %s) file = %q, want %q", name, mark, file, want)
			}
			src, err := os.ReadFile("../../" + file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(src), "\n")
			if line < 1 || line > len(lines) || !strings.Contains(lines[line-1], "/* MARK: "+mark+" */") {
				t.Errorf("Marker(%s, %s) line = %d, which does not hold the mark", name, mark, line)
			}
		}
	}
	// "hot" must not also match "sub-hot" and the like.
	if _, _, err := Marker(Subprog, "hot"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Marker(subprog, hot) error = %v, want ErrNotFound", err)
	}
	if _, _, err := Marker(Hot, "nope"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Marker(hot, nope) error = %v, want ErrNotFound", err)
	}
	if _, _, err := Marker("nope", "hot"); err == nil {
		t.Error("Marker of an unknown object: no error")
	}
}

func TestLoadUnknown(t *testing.T) {
	_, err := Load("nope")
	if !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Load(nope) error = %v, want ErrNotFound", err)
	}
}

func TestClassify(t *testing.T) {
	perm := classify(fmt.Errorf("load program: %w", unix.EPERM))
	if !errors.Is(perm, errs.ErrPermission) || !errors.Is(perm, unix.EPERM) {
		t.Errorf("EPERM: %v does not match both ErrPermission and EPERM", perm)
	}
	if want := "load program: " + unix.EPERM.Error(); perm.Error() != want {
		t.Errorf("EPERM text = %q, want %q", perm.Error(), want)
	}
	if err := classify(fmt.Errorf("map create: %w", unix.EACCES)); !errors.Is(err, errs.ErrPermission) {
		t.Errorf("EACCES: %v does not match ErrPermission", err)
	}
	rejected := classify(fmt.Errorf("load program: %w", &ebpf.VerifierError{Cause: unix.EACCES}))
	if errors.Is(rejected, errs.ErrPermission) {
		t.Errorf("verifier rejection %v matches ErrPermission", rejected)
	}
	if err := classify(fmt.Errorf("run: %w", ebpf.ErrNotSupported)); !errors.Is(err, errs.ErrNotSupported) {
		t.Errorf("%v does not match ErrNotSupported", err)
	}
	if err := classify(unix.EINVAL); err != unix.EINVAL {
		t.Errorf("EINVAL classified as %#v", err)
	}
}

func TestHasTracefs(t *testing.T) {
	without := "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n" +
		"25 28 0:6 / /sys/kernel/debug rw,nosuid shared:8 - debugfs debugfs rw\n"
	with := without + "40 23 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:20 - tracefs tracefs rw\n"
	if hasTracefs([]byte(without)) {
		t.Error("tracefs found in a table without it")
	}
	if !hasTracefs([]byte(with)) {
		t.Error("tracefs not found")
	}
}

func TestPacket(t *testing.T) {
	p := packet()
	if len(p) != 64 {
		t.Fatalf("packet is %d bytes, want 64", len(p))
	}
	if p[12] != 0x08 || p[13] != 0x00 {
		t.Errorf("EtherType %#x%02x, want IPv4", p[12], p[13])
	}
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(p[i])<<8 | uint32(p[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Errorf("IPv4 header checksum does not verify (sum %#x)", sum)
	}
	if total := int(p[16])<<8 | int(p[17]); total != len(p)-14 {
		t.Errorf("IPv4 total length %d, want %d", total, len(p)-14)
	}
}

func TestLoad(t *testing.T) {
	for _, name := range []string{Hot, Subprog, Maps, Tracepoint, Kprobe} {
		t.Run(name, func(t *testing.T) {
			o := load(t, name)
			info, err := o.Program().Info()
			if err != nil {
				t.Fatal(err)
			}
			want := wantFuncs[name]
			// The kernel keeps 15 characters of the name; cilium/ebpf
			// completes a truncated one from BTF.
			if info.Name != want[0] {
				t.Errorf("name %q, want %q", info.Name, want[0])
			}
			funcs, err := info.FuncInfos()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range funcs {
				got = append(got, f.Func.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("BTF functions %v, want %v", got, want)
			}
			if addrs, ok := info.JitedKsymAddrs(); !ok || len(addrs) != len(want) {
				t.Errorf("JIT symbols %v (ok %v), want %d", addrs, ok, len(want))
			}

			lines, err := info.LineInfos()
			if err != nil {
				t.Fatal(err)
			}
			file := "testdata/" + name + ".bpf.c"
			seen := map[uint32]bool{}
			for _, l := range lines {
				if l.Line.FileName() != file {
					t.Errorf("line info file %q, want %q", l.Line.FileName(), file)
				}
				seen[l.Line.LineNumber()] = true
			}
			for _, mark := range wantMarks[name] {
				_, n, err := Marker(name, mark)
				if err != nil {
					t.Fatal(err)
				}
				if !seen[uint32(n)] {
					t.Errorf("mark %q (line %d) not among the line infos", mark, n)
				}
			}
		})
	}
}

// TestHotLine checks that the hot loop sits on the marked line: most of
// the hot program's instructions, and most of the subprogram's, come from it.
func TestHotLine(t *testing.T) {
	for name, mark := range map[string]string{Hot: "hot", Subprog: "sub-hot"} {
		t.Run(name, func(t *testing.T) {
			o := load(t, name)
			_, hot, err := Marker(name, mark)
			if err != nil {
				t.Fatal(err)
			}
			info, err := o.Program().Info()
			if err != nil {
				t.Fatal(err)
			}
			insns, err := info.Instructions()
			if err != nil {
				t.Fatal(err)
			}
			// The loop of Subprog is in its subprogram, the second function.
			funcs, err := info.FuncInfos()
			if err != nil {
				t.Fatal(err)
			}
			from := funcs[len(funcs)-1].Offset
			var onLine, total, line int
			for iter := insns.Iterate(); iter.Next(); {
				if l, ok := iter.Ins.Source().(*btf.Line); ok {
					line = int(l.LineNumber())
				}
				if iter.Offset < from {
					continue
				}
				total++
				if line == hot {
					onLine++
				}
			}
			if total == 0 || onLine*2 <= total {
				t.Errorf("%d of %d instructions on line %d, want most", onLine, total, hot)
			}
		})
	}
}

func TestDrive(t *testing.T) {
	for _, name := range []string{Hot, Subprog, Maps} {
		t.Run(name, func(t *testing.T) {
			o := load(t, name)
			enableStats(t)
			before := runCount(t, o.Program())
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			n, err := Drive(ctx, o.Program(), 0)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			after := runCount(t, o.Program())
			if n == 0 || after-before < n {
				t.Errorf("Drive ran %d times, the kernel counted %d", n, after-before)
			}
			t.Logf("%s: %d runs in %v: %.0f runs/s", name, n, elapsed, float64(n)/elapsed.Seconds())
		})
	}
}

func TestDrivePaced(t *testing.T) {
	o := load(t, Hot)
	enableStats(t)
	before := runCount(t, o.Program())
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	n, err := Drive(ctx, o.Program(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	after := runCount(t, o.Program())
	if n == 0 || after-before < n {
		t.Errorf("Drive ran %d times, the kernel counted %d", n, after-before)
	}
	// Unpaced, the program runs about a million times a second here; paced
	// at 1000/s for 100 ms it may run fewer times on a slow machine, never
	// many more than the pace allows.
	if n > 1000 {
		t.Errorf("Drive paced at 1000/s ran %d times in 100 ms", n)
	}

	// A done context stops Drive at once, without an error.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Drive(done, o.Program(), 0); err != nil {
		t.Errorf("Drive with a done context: %v", err)
	}
}

func TestDriveNotTestable(t *testing.T) {
	o := load(t, Tracepoint)
	_, err := Drive(t.Context(), o.Program(), 0)
	if !errors.Is(err, errs.ErrNotSupported) {
		t.Errorf("Drive(tracepoint) error = %v, want ErrNotSupported", err)
	}
}

func TestAttach(t *testing.T) {
	o := load(t, Tracepoint)
	mountedBefore, err := tracefsMounted()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Attach(); err != nil {
		t.Fatal(err)
	}
	// Attach mounts tracefs only for its own time.
	if mounted, err := tracefsMounted(); err != nil || mounted != mountedBefore {
		t.Errorf("tracefs mounted %v before Attach, %v after (%v)", mountedBefore, mounted, err)
	}
	if err := o.Attach(); err == nil {
		t.Error("second Attach: no error")
	}
	count := o.Collection().Maps[TracepointCount]
	var before, after uint64
	if err := count.Lookup(uint32(0), &before); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		unix.Getppid()
	}
	if err := count.Lookup(uint32(0), &after); err != nil {
		t.Fatal(err)
	}
	if after < before+10 {
		t.Errorf("count went from %d to %d over 10 system calls", before, after)
	}

	hot := load(t, Hot)
	if err := hot.Attach(); !errors.Is(err, errs.ErrNotSupported) {
		t.Errorf("Attach(hot) error = %v, want ErrNotSupported", err)
	}
}

// TestAttachKprobe attaches Kprobe and counts getpid calls with it. It runs
// in the 'make test-kernels' guest; the host has no kprobes.
func TestAttachKprobe(t *testing.T) {
	testutil.RequireKprobes(t)
	o := load(t, Kprobe)
	if err := o.Attach(); err != nil {
		t.Fatal(err)
	}
	if err := o.Attach(); err == nil {
		t.Error("second Attach: no error")
	}
	count := o.Collection().Maps[KprobeCount]
	var before, after uint64
	if err := count.Lookup(uint32(0), &before); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		unix.Getpid()
	}
	if err := count.Lookup(uint32(0), &after); err != nil {
		t.Fatal(err)
	}
	// Other processes may call getpid too.
	if after < before+10 {
		t.Errorf("count went from %d to %d over 10 getpid calls", before, after)
	}
}

func TestClose(t *testing.T) {
	// Warm up: cilium/ebpf probes kernel features once per process.
	load(t, Hot)
	nfds := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(fds)
	}
	before := nfds()
	for _, name := range []string{Hot, Subprog, Maps, Tracepoint} {
		o, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == Tracepoint {
			if err := o.Attach(); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if o.Program() != nil || o.Collection() != nil {
			t.Errorf("%s: program or collection left after Close", name)
		}
	}
	if after := nfds(); after != before {
		t.Errorf("%d file descriptors open before loading, %d after closing", before, after)
	}
}
