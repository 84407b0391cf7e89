package pprof_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/aggregate/aggregatetest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func fixtureSnapshot(t testing.TB, opts aggregate.Options) *aggregate.Snapshot {
	t.Helper()
	opts.Resolver = aggregatetest.NewResolver()
	a, err := aggregate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range aggregatetest.Records() {
		a.HandleRecord(r)
	}
	return a.Snapshot()
}

func fixtureMeta() pprof.Meta {
	return pprof.Meta{
		Event:         "cpu-clock",
		Clock:         true,
		Frequency:     999,
		Duration:      3 * time.Second,
		KernelRelease: "6.18.0-test",
		CommandLine:   []string{"bpfprof", "record", "-F", "999", "-d", "3s"},
	}
}

func build(t testing.TB, opts aggregate.Options, meta pprof.Meta) *profile.Profile {
	t.Helper()
	p, err := pprof.Build(fixtureSnapshot(t, opts), meta)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("profile differs from %s (go test -update rewrites it):\n%s", path, diff(string(want), got))
	}
}

// diff lists the lines of want and got that differ, by position.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func TestBuild(t *testing.T) {
	p := build(t, aggregate.Options{CallGraph: true}, fixtureMeta())
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	golden(t, p.String())
}

func TestBuildBPFOnly(t *testing.T) {
	p := build(t, aggregate.Options{CallGraph: true, BPFOnly: true}, fixtureMeta())
	golden(t, p.String())
}

func TestBuildCountEvent(t *testing.T) {
	meta := fixtureMeta()
	meta.Event, meta.Clock, meta.Frequency, meta.Period = "page-faults", false, 0, 10
	p := build(t, aggregate.Options{}, meta)
	if got := p.SampleType[1].Type + "/" + p.SampleType[1].Unit; got != "page-faults/count" {
		t.Errorf("sample type %s, want page-faults/count", got)
	}
	if p.PeriodType.Type != "page-faults" || p.Period != 10 {
		t.Errorf("period %s %d, want page-faults 10", p.PeriodType.Type, p.Period)
	}
	if p.DefaultSampleType != "page-faults" {
		t.Errorf("default sample type %q", p.DefaultSampleType)
	}
}

func TestBuildMeta(t *testing.T) {
	meta := fixtureMeta()
	meta.Start = time.Unix(1700000000, 5)
	meta.Duration = 0
	meta.Comments = []string{"extra"}
	p := build(t, aggregate.Options{CallGraph: true}, meta)
	if p.TimeNanos != 1700000000_000000005 {
		t.Errorf("TimeNanos = %d", p.TimeNanos)
	}
	// Without a duration, the span of the records.
	if p.DurationNanos <= int64(aggregatetest.XDPUnloaded-aggregatetest.T0) {
		t.Errorf("DurationNanos = %d", p.DurationNanos)
	}
	if p.PeriodType.Type != "cpu" || p.PeriodType.Unit != "nanoseconds" || p.Period != 1_001_001 {
		t.Errorf("period type %v, period %d; want cpu/nanoseconds, 1001001", p.PeriodType, p.Period)
	}
	all := strings.Join(p.Comments, "\n")
	for _, want := range []string{"kernel: 6.18.0-test", "command: bpfprof record -F 999 -d 3s", "event: cpu-clock at 999 Hz", "lost 5", "extra"} {
		if !strings.Contains(all, want) {
			t.Errorf("comments lack %q:\n%s", want, all)
		}
	}
}

func TestBuildNeedsEvent(t *testing.T) {
	if _, err := pprof.Build(fixtureSnapshot(t, aggregate.Options{}), pprof.Meta{}); err == nil {
		t.Fatal("Build without an event succeeded")
	}
}

func TestBuildEmpty(t *testing.T) {
	a, err := aggregate.New(aggregate.Options{Resolver: aggregatetest.NewResolver()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pprof.Build(a.Snapshot(), fixtureMeta())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pprof.Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	if _, err := profile.Parse(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestLabels(t *testing.T) {
	p := build(t, aggregate.Options{CallGraph: true}, fixtureMeta())
	var hot, user int64
	for _, s := range p.Sample {
		if len(s.NumLabel["pid"]) != 1 || len(s.NumLabel["tid"]) != 1 || len(s.NumLabel["cpu"]) != 1 || len(s.Label["comm"]) != 1 {
			t.Fatalf("sample without pid, tid, cpu and comm labels: %v %v", s.Label, s.NumLabel)
		}
		if s.HasLabel("bpf_prog_name", "bpfprof_hot_loop_socket") {
			hot += s.Value[0]
			if s.NumLabel["bpf_prog_id"][0] != 42 || !s.HasLabel("bpf_prog_type", "socket_filter") {
				t.Errorf("hot sample labels %v %v", s.Label, s.NumLabel)
			}
			if s.Label["comm"][0] != "driver" || s.NumLabel["pid"][0] != aggregatetest.DriverPID {
				t.Errorf("hot sample labels %v %v", s.Label, s.NumLabel)
			}
		}
		if _, ok := s.Label["bpf_prog_name"]; !ok {
			user += s.Value[0]
			if _, ok := s.NumLabel["bpf_prog_id"]; ok {
				t.Errorf("sample without program name has an id: %v", s.NumLabel)
			}
		}
	}
	if hot != 180 || user != 20 {
		t.Errorf("%d hot samples, %d without a program; want 180, 20", hot, user)
	}
}

func TestMappings(t *testing.T) {
	p := build(t, aggregate.Options{CallGraph: true}, fixtureMeta())
	byFile := map[string]*profile.Mapping{}
	for i, m := range p.Mapping {
		if m.ID != uint64(i+1) {
			t.Errorf("mapping %d has id %d", i, m.ID)
		}
		byFile[m.File] = m
	}
	if p.Mapping[0].File != "/usr/local/bin/driver" {
		t.Errorf("first (main) mapping is %s", p.Mapping[0].File)
	}
	hot := byFile["[bpf] bpfprof_hot_loop_socket"]
	if hot == nil || hot.BuildID != "9e0bd1a4f4e3b2c1" || hot.Start != aggregatetest.HotStart || hot.Limit != aggregatetest.HotStart+0x100 ||
		!hot.HasFunctions || !hot.HasFilenames || !hot.HasLineNumbers {
		t.Errorf("hot program mapping %+v", hot)
	}
	if k := byFile[aggregate.KernelFile]; k == nil || !k.HasFunctions {
		t.Errorf("kernel mapping %+v", k)
	}
	// The busy binary has no symbols: pprof may symbolize it.
	if b := byFile["/usr/bin/busy"]; b == nil || b.HasFunctions || b.Offset != 0x2000 {
		t.Errorf("busy mapping %+v", b)
	}
	if d := byFile["/usr/local/bin/driver"]; !d.HasFunctions || !d.HasInlineFrames || d.BuildID == "" {
		t.Errorf("driver mapping %+v", d)
	}
	// Inlined calls: one location, innermost first.
	for _, l := range p.Location {
		if l.Address != aggregatetest.DriverStart+0x201f {
			continue
		}
		var got []string
		for _, ln := range l.Line {
			got = append(got, fmt.Sprintf("%s %s:%d", ln.Function.Name, ln.Function.Filename, ln.Line))
		}
		if want := "main.load /src/driver/load.go:40|main.run /src/driver/main.go:30|main.main /src/driver/main.go:12"; strings.Join(got, "|") != want {
			t.Errorf("inlined location %q, want %q", got, want)
		}
	}

	// Functions are deduplicated, BPF ones carry the kernel's name and the
	// source file.
	seen := map[string]bool{}
	for _, f := range p.Function {
		k := f.Name + "|" + f.SystemName + "|" + f.Filename
		if seen[k] {
			t.Errorf("function %s twice", k)
		}
		seen[k] = true
		if f.Name == "bpfprof_hot_loop_socket" {
			if f.SystemName != "bpf_prog_9e0bd1a4f4e3b2c1_bpfprof_hot_loop_socket" || f.Filename != "testdata/hot.bpf.c" || f.StartLine != 16 {
				t.Errorf("hot function %+v", f)
			}
		}
	}
}

// TestInlineUnknown: a user mapping whose inlined calls are unknown (a
// stripped Go binary) is left for pprof to symbolize.
func TestInlineUnknown(t *testing.T) {
	res := aggregatetest.NewResolver()
	for _, im := range res.Images[aggregatetest.DriverPID] {
		for i := range im.Syms {
			im.Syms[i].InlineUnknown = true
		}
	}
	p := buildFixture(t, res)
	for _, m := range p.Mapping {
		if m.File == "/usr/local/bin/driver" && (m.HasFunctions || m.HasFilenames || m.HasLineNumbers || m.HasInlineFrames) {
			t.Errorf("driver mapping flagged symbolized: %+v", m)
		}
	}
}

// TestInlineKnownWithoutLine: a frame whose binary has no source position
// for its address (in a Go binary, the byte before the signal return
// trampoline that a sample in a signal handler has for its caller) leaves
// the mapping flagged: pprof would otherwise symbolize the whole mapping
// again, without the inlined calls of every other location.
func TestInlineKnownWithoutLine(t *testing.T) {
	res := aggregatetest.NewResolver()
	for _, im := range res.Images[aggregatetest.DriverPID] {
		for i := range im.Syms {
			if s := &im.Syms[i]; s.Name == "syscall.Syscall6" {
				s.File, s.Line, s.NoLine = "", 0, true
			}
		}
	}
	p := buildFixture(t, res)
	found := false
	for _, m := range p.Mapping {
		if m.File == "/usr/local/bin/driver" {
			found = true
			if !m.HasFunctions || !m.HasInlineFrames {
				t.Errorf("driver mapping left for pprof to symbolize again: %+v", m)
			}
		}
	}
	if !found {
		t.Fatal("no driver mapping")
	}
	for _, l := range p.Location {
		if l.Address == aggregatetest.DriverStart+0x3010 && (len(l.Line) != 1 || l.Line[0].Function.Name != "syscall.Syscall6" || l.Line[0].Line != 0) {
			t.Errorf("location without a line: %+v", l.Line)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, opts := range []aggregate.Options{{CallGraph: true}, {CallGraph: true, BPFOnly: true}, {}} {
		meta := fixtureMeta()
		meta.Start = time.Unix(1700000000, 0)
		p := build(t, opts, meta)
		var buf bytes.Buffer
		if err := pprof.Write(&buf, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte{0x1f, 0x8b}) {
			t.Fatal("output is not gzipped")
		}
		q, err := profile.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := q.String(), p.String(); got != want {
			t.Errorf("options %+v: parsed profile differs:\n%s", opts, diff(want, got))
		}
		if q.DefaultSampleType != p.DefaultSampleType || q.DocURL != p.DocURL {
			t.Errorf("default sample type %q, want %q", q.DefaultSampleType, p.DefaultSampleType)
		}
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}}}
	p.Sample = []*profile.Sample{{Value: []int64{1, 2}}}
	if err := pprof.Write(&bytes.Buffer{}, p); err == nil {
		t.Fatal("Write accepted an invalid profile")
	}
}

// goTool runs `go tool pprof args...` from the repository root, where the
// fixture's BPF sources are.
func goTool(t *testing.T, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		testutil.SkipOrFail(t, "go is not on PATH: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, append([]string{"tool", "pprof"}, args...)...)
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go tool pprof %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		t.Fatal(err)
	}
	return stdout.String()
}

// TestGoToolPprof checks that pprof itself reads the file, filters by
// program and shows the BPF source.
// TestSystemWideFile checks that a system-wide profile's "File:" names no
// process's binary, also once pprof has read it back and picked a main
// binary.
func TestSystemWideFile(t *testing.T) {
	meta := fixtureMeta()
	meta.SystemWide = true
	p := build(t, aggregate.Options{CallGraph: true}, meta)
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pprof.Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	q, err := profile.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if q.Mapping[0].File != pprof.SystemWideFile {
		t.Errorf("read back, the main mapping is %q, want %q", q.Mapping[0].File, pprof.SystemWideFile)
	}
	for _, l := range q.Location {
		if l.Mapping == q.Mapping[0] {
			t.Errorf("location %#x is in the system-wide mapping", l.Address)
		}
	}
	if len(q.Mapping) != len(build(t, aggregate.Options{CallGraph: true}, fixtureMeta()).Mapping)+1 {
		t.Errorf("read back %d mappings: pprof merged the system-wide one with another", len(q.Mapping))
	}
	path := filepath.Join(t.TempDir(), "system.pb.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := goTool(t, "-top", path)
	if !strings.Contains(out, "File: "+pprof.SystemWideFile+"\n") {
		t.Errorf("go tool pprof -top header:\n%s", out)
	}
}

func TestGoToolPprof(t *testing.T) {
	p := build(t, aggregate.Options{CallGraph: true}, fixtureMeta())
	path := filepath.Join(t.TempDir(), "fixture.pb.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Write(f, p); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("top-lines", func(t *testing.T) {
		out := goTool(t, "-top", "-lines", "-symbolize=none", path)
		// The hot line of the hot program tops the flat column.
		first := firstEntry(t, out)
		if !strings.Contains(first, "bpfprof_hot_loop_socket testdata/hot.bpf.c:20") {
			t.Errorf("top entry %q, want the hot line\n%s", first, out)
		}
	})
	t.Run("raw", func(t *testing.T) {
		out := goTool(t, "-raw", "-symbolize=none", path)
		for _, want := range []string{"bpf_prog_name:[bpfprof_hot_loop_socket]", "[bpf] bpfprof_hot_loop_socket", "PeriodType: cpu nanoseconds"} {
			if !strings.Contains(out, want) {
				t.Errorf("-raw output lacks %q", want)
			}
		}
	})
	t.Run("tagfocus", func(t *testing.T) {
		out := goTool(t, "-top", "-symbolize=none", "-sample_index=samples", "-tagfocus", "bpf_prog_name=bpfprof_hot_loop_socket", path)
		if !strings.Contains(out, "bpf_test_run") || !strings.Contains(out, "bpfprof_hot_loop_socket") {
			t.Errorf("focused profile lacks the hot program or bpf_test_run:\n%s", out)
		}
		for _, absent := range []string{"bpfprof_xdp_sub", "reuser"} {
			if strings.Contains(out, absent) {
				t.Errorf("focused profile still has %s:\n%s", absent, out)
			}
		}
		// The hot program's 180 of the 310 samples.
		if !regexp.MustCompile(`accounting for 180, `).MatchString(out) {
			t.Errorf("focused total is not 180 samples:\n%s", out)
		}
	})
	t.Run("tagfocus-pid", func(t *testing.T) {
		out := goTool(t, "-top", "-symbolize=none", "-tagfocus", "pid=200", path)
		if strings.Contains(out, "bpfprof_hot_loop_socket") || !strings.Contains(out, "reuser") {
			t.Errorf("pid focus kept the wrong samples:\n%s", out)
		}
	})
	t.Run("list", func(t *testing.T) {
		out := goTool(t, "-list", "bpfprof_hot_loop_socket", "-symbolize=none", path)
		// The fixture's samples are on line 20; whatever the file holds
		// there now is what pprof must show, read from the repository.
		src, err := os.ReadFile("../testdata/hot.bpf.c")
		if err != nil {
			t.Fatal(err)
		}
		line20 := strings.TrimSpace(strings.Split(string(src), "\n")[19])
		if !strings.Contains(out, "bpfprof_hot_loop_socket in testdata/hot.bpf.c") || !strings.Contains(out, " 20:") ||
			(line20 != "" && !strings.Contains(out, line20)) {
			t.Errorf("-list does not show line 20 (%q) of testdata/hot.bpf.c:\n%s", line20, out)
		}
	})
}

// firstEntry returns the first row of a -top report.
func firstEntry(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	t.Fatalf("no -top table in:\n%s", out)
	return ""
}

// BenchmarkBuildWrite measures turning the fixture's snapshot into a
// written profile, as record does once at its end.
func BenchmarkBuildWrite(b *testing.B) {
	snap := fixtureSnapshot(b, aggregate.Options{CallGraph: true})
	meta := fixtureMeta()
	b.ReportAllocs()
	for b.Loop() {
		p, err := pprof.Build(snap, meta)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Write(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCommandLineQuoted checks that the command comment is one line a shell
// splits back into the words of the command.
func TestCommandLineQuoted(t *testing.T) {
	meta := fixtureMeta()
	meta.CommandLine = []string{"bpfprof", "record", "-o", "/tmp/x y.pb.gz", "--", "sh", "-c",
		"for i in $(seq 3); do echo \"$i\"; done", "it's", "", "a=b,c:d@e%f+g", "~", "*", "ünï"}
	p := build(t, aggregate.Options{}, meta)
	want := `command: bpfprof record -o '/tmp/x y.pb.gz' -- sh -c 'for i in $(seq 3); do echo "$i"; done' 'it'\''s' '' a=b,c:d@e%f+g '~' '*' 'ünï'`
	if p.Comments[0] != want {
		t.Errorf("comment\n got %s\nwant %s", p.Comments[0], want)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to split the line:", err)
	}
	line := strings.TrimPrefix(p.Comments[0], "command: ")
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+line).Output()
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(words, meta.CommandLine) {
		t.Errorf("sh splits the line into %q, want %q", words, meta.CommandLine)
	}

	meta.CommandLine = []string{"bpfprof", "record", "--", "sh", "-c", "echo a\necho 'b'\t\x01\\"}
	p = build(t, aggregate.Options{}, meta)
	want = `command: bpfprof record -- sh -c $'echo a\necho \'b\'\t\x01\\'`
	if p.Comments[0] != want {
		t.Errorf("comment\n got %s\nwant %s", p.Comments[0], want)
	}
}

// TestUnplacedKernelFrames checks that kernel frames the symbolizer could
// not place, such as an address in the BPF JIT area that belongs to no
// program, are not attached to the kernel's mapping outside its range.
func TestUnplacedKernelFrames(t *testing.T) {
	kernel := &symbolize.Mapping{Kind: symbolize.KindKernel, Start: aggregatetest.KernelStart, Limit: aggregatetest.KernelStart + 0x1000, File: aggregate.KernelFile}
	inKernel := symbolize.Frame{Kind: symbolize.KindKernel, Addr: aggregatetest.KernelStart + 0x10, Func: "do_syscall_64", Mapping: kernel}
	jitArea := symbolize.Frame{Kind: symbolize.KindKernel, Addr: aggregatetest.HotStart + 0x8000, Func: "[unknown]", Mapping: kernel}
	unknown := symbolize.Frame{Kind: symbolize.KindUnknown, Addr: aggregatetest.KernelStart + 0x20, Func: "[unknown]", Mapping: kernel}
	snap := &aggregate.Snapshot{
		Counters:  aggregate.Counters{Samples: 3, Kept: 3},
		Locations: []symbolize.Frame{inKernel, jitArea, unknown},
		Stacks: []aggregate.Stack{
			{Locations: []uint32{2, 1}, PID: 1, TID: 1, Count: 2, Period: 2},
			{Locations: []uint32{3, 1}, PID: 1, TID: 1, Count: 1, Period: 1},
		},
	}
	p, err := pprof.Build(snap, fixtureMeta())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Mapping) != 1 || p.Mapping[0].Start != kernel.Start || p.Mapping[0].Limit != kernel.Limit {
		t.Fatalf("mappings %v, want only the kernel's, as it is", p.Mapping)
	}
	for _, l := range p.Location {
		inRange := l.Mapping != nil && l.Address >= l.Mapping.Start && l.Address < l.Mapping.Limit
		switch l.Address {
		case inKernel.Addr:
			if l.Mapping != p.Mapping[0] {
				t.Errorf("kernel text location %#x has mapping %v", l.Address, l.Mapping)
			}
		case jitArea.Addr, unknown.Addr:
			if l.Mapping != nil {
				t.Errorf("unplaced location %#x has mapping %v (address in its range: %v)", l.Address, l.Mapping, inRange)
			}
		}
	}
	var buf bytes.Buffer
	if err := pprof.Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.String(), p.String(); got != want {
		t.Errorf("parsed profile differs:\n%s", diff(want, got))
	}
}

// TestLabelsWithoutTask: a sample outside any task (pid -1) gets no pid,
// tid or comm label; a process without a known name gets perf's ":PID".
func TestLabelsWithoutTask(t *testing.T) {
	a, err := aggregate.New(aggregate.Options{Resolver: aggregatetest.NewResolver()})
	if err != nil {
		t.Fatal(err)
	}
	a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 1, CPU: 1}, IP: aggregatetest.KernelStart + 0x1010, PID: math.MaxUint32, TID: math.MaxUint32, Period: 1})
	a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 2, CPU: 1}, IP: aggregatetest.KernelStart + 0x1010, PID: 999, TID: 1000, Period: 1})
	p, err := pprof.Build(a.Snapshot(), fixtureMeta())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 2 {
		t.Fatalf("%d samples, want 2", len(p.Sample))
	}
	for _, s := range p.Sample {
		pid, hasPID := s.NumLabel[pprof.LabelPID]
		switch {
		case !hasPID:
			if _, ok := s.NumLabel[pprof.LabelTID]; ok || s.Label[pprof.LabelComm] != nil {
				t.Errorf("sample outside a task has labels %v %v", s.Label, s.NumLabel)
			}
		case pid[0] == 999:
			if !s.HasLabel(pprof.LabelComm, ":999") || s.NumLabel[pprof.LabelTID][0] != 1000 {
				t.Errorf("unnamed process labels %v %v", s.Label, s.NumLabel)
			}
		default:
			t.Errorf("pid label %v", pid)
		}
	}
}

// buildFixture builds the profile of aggregatetest's records as res names
// their frames.
func buildFixture(t *testing.T, res *aggregatetest.Resolver) *profile.Profile {
	t.Helper()
	a, err := aggregate.New(aggregate.Options{CallGraph: true, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range aggregatetest.Records() {
		a.HandleRecord(r)
	}
	p, err := pprof.Build(a.Snapshot(), fixtureMeta())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
