package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/sampler/perfdata"
)

// perfdataDir holds the perf.data files recorded with Debian's perf while
// sampler/perfdata/internal/workload drove the hot and subprog programs.
const perfdataDir = "../../sampler/perfdata/testdata"

// convertFile runs 'bpfprof convert' on a committed perf.data file and
// parses the profile written.
func convertFile(t *testing.T, name string, extra ...string) (*profile.Profile, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.pb.gz")
	var stdout, stderr bytes.Buffer
	args := append([]string{"convert", "-i", filepath.Join(perfdataDir, name), "-o", out}, extra...)
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("bpfprof %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	return p, stderr.String()
}

// markerLine returns "file:line" of a marked line of a testdata program.
func markerLine(t *testing.T, prog, mark string) string {
	t.Helper()
	file, line, err := testprogs.Marker(prog, mark)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", file, line)
}

func TestConvertFile(t *testing.T) {
	p, stderr := convertFile(t, "hot-task.data")
	if p.SampleType[1].Type != "cpu" || p.SampleType[1].Unit != "nanoseconds" || p.Period != int64(1e9)/199 {
		t.Errorf("sample type %v, period %d: want cpu/nanoseconds at 199 Hz", p.SampleType[1], p.Period)
	}
	lines := bpfLines(p)
	hotLine, subLine := markerLine(t, testprogs.Hot, "hot"), markerLine(t, testprogs.Subprog, "sub-hot")
	if top, _ := topOf(lines); top != hotLine || lines[subLine] == 0 {
		t.Errorf("BPF lines %v: want %s on top and samples on %s", lines, hotLine, subLine)
	}
	// Labels as record writes them.
	var labelled bool
	for _, s := range p.Sample {
		if len(s.Label["bpf_prog_name"]) > 0 && s.Label["bpf_prog_name"][0] == "bpfprof_hot_loop_socket" &&
			s.Label["bpf_prog_type"][0] == "socket_filter" && len(s.NumLabel["pid"]) > 0 && len(s.Label["comm"]) > 0 {
			labelled = true
		}
	}
	if !labelled {
		t.Error("no sample labelled bpf_prog_name=bpfprof_hot_loop_socket, bpf_prog_type=socket_filter, pid and comm")
	}
	if !strings.Contains(stderr, "converted 278 samples of cpu-clock") {
		t.Errorf("summary: %s", stderr)
	}
}

func TestConvertBPFOnly(t *testing.T) {
	p, stderr := convertFile(t, "hot-task.data", "--bpf-only")
	for _, s := range p.Sample {
		if len(s.Label["bpf_prog_name"]) == 0 {
			t.Fatalf("--bpf-only kept a sample without a BPF frame: %v", s)
		}
	}
	if !strings.Contains(stderr, "without a BPF frame left out") || p.TimeNanos == 0 {
		t.Errorf("summary %s, start %d", stderr, p.TimeNanos)
	}
}

func TestConvertPipe(t *testing.T) {
	p, stderr := convertFile(t, "hot-pipe.data")
	// perf writes the program info at the start of a pipe: programs
	// loaded later are named by their kernel symbols only.
	if !strings.Contains(stderr, "without info in the file") {
		t.Errorf("no warning about programs without info: %s", stderr)
	}
	var hot bool
	for _, l := range p.Location {
		for _, ln := range l.Line {
			hot = hot || ln.Function.Name == "bpfprof_hot_loop_socket"
		}
	}
	if !hot {
		t.Error("no frame named bpfprof_hot_loop_socket")
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(perfdataDir, "hot-task.data"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"empty":     nil,
		"text":      []byte("not a perf file\n"),
		"truncated": good[:len(good)/3],
		"corrupt":   append(append([]byte{}, good[:300]...), bytes.Repeat([]byte{0xff}, len(good)-300)...),
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run([]string{"convert", "-i", path, "-o", filepath.Join(dir, name+".pb.gz")}, &stdout, &stderr)
		msg := stderr.String()
		if code != 1 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "bpfprof convert: "+path) {
			t.Errorf("%s: exit %d, stderr %q: want exit 1 and one line naming the file", name, code, msg)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".pb.gz")); err == nil {
			t.Errorf("%s: a profile was written", name)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"convert", "-i", filepath.Join(dir, "missing")}, &stdout, &stderr); code != 1 {
		t.Errorf("missing file: exit %d, %s", code, stderr.String())
	}
	if code := run([]string{"convert", "-i", filepath.Join(perfdataDir, "hot-task.data"), "-o", filepath.Join(dir, "x"), "-e", "cycles"}, &stdout, &stderr); code != 1 {
		t.Errorf("-e cycles on a cpu-clock file: exit %d", code)
	}
	if code := run([]string{"convert", "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

// TestConvertEvents converts each event of a file recorded with two
// ('perf record -e cpu-clock,page-faults'): one profile per event.
func TestConvertEvents(t *testing.T) {
	p, stderr := convertFile(t, "multi-event.data")
	if p.SampleType[1].Type != "cpu" || !strings.Contains(stderr, "converted 44 samples of cpu-clock") ||
		!strings.Contains(stderr, "6 samples of other events left out") {
		t.Errorf("default event: sample type %v, summary %s", p.SampleType[1], stderr)
	}
	for _, ev := range []string{"page-faults"} {
		p, stderr = convertFile(t, "multi-event.data", "-e", ev)
		if st := p.SampleType[1]; st.Type != "page-faults" || st.Unit != "count" || !strings.Contains(stderr, "converted 6 samples of page-faults") {
			t.Errorf("-e %s: sample type %v, summary %s", ev, st, stderr)
		}
		var n int64
		for _, s := range p.Sample {
			n += s.Value[0]
		}
		if n != 6 {
			t.Errorf("-e %s: %d samples in the profile, want 6", ev, n)
		}
	}
}

// TestMatchKernel: another kernel's frames are named from perf's build-ID
// cache when it holds that kernel's kallsyms, else left unnamed with the
// reason.
func TestMatchKernel(t *testing.T) {
	id := []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	hdr := &perfdata.Header{OSRelease: "0.0.0-other", BuildIDs: []perfdata.BuildID{{Kernel: true, Path: "[kernel.kallsyms]", ID: id}}}
	debug := t.TempDir()
	if m := matchKernel(hdr, debug); m.use || !strings.Contains(m.why, "0.0.0-other") {
		t.Errorf("without a cached kallsyms: %+v", m)
	}
	dir := filepath.Join(debug, "[kernel.kallsyms]", "deadbeef0102030405060708090a0b0c0d0e0f10")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), []byte("ffffffff81000000 T _text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := matchKernel(hdr, debug); !m.use || m.kallsyms != filepath.Join(dir, "kallsyms") {
		t.Errorf("with a cached kallsyms: %+v", m)
	}
	if m := matchKernel(&perfdata.Header{OSRelease: kernelRelease()}, ""); !m.use {
		t.Errorf("the running kernel's release: %+v", m)
	}
}

// TestConvertKernelWarning: the warning about unnamed kernel frames gives
// the remedy that fits its cause: another machine's recording, or
// kallsyms hidden on this one.
func TestConvertKernelWarning(t *testing.T) {
	ev := &perfdata.Event{Name: "cpu-clock"}
	for _, c := range []struct {
		kernel kernelMatch
		want   string
	}{
		{kernelMatch{why: "recorded on kernel 6.1.0, this is 6.18.0"},
			"warning: kernel frames are unnamed: recorded on kernel 6.1.0, this is 6.18.0; convert on the recording machine to name them\n"},
		{kernelMatch{why: "kernel.kptr_restrict is 2, which hides kernel addresses even from root", fix: "`sysctl kernel.kptr_restrict=1`"},
			"warning: kernel frames are unnamed: kernel.kptr_restrict is 2, which hides kernel addresses even from root; `sysctl kernel.kptr_restrict=1`\n"},
		{kernelMatch{use: true}, ""},
	} {
		var w strings.Builder
		summarizeConversion(&w, &conversion{event: ev, snap: &aggregate.Snapshot{}, kernel: c.kernel}, "-", false, 0)
		var got string
		for _, l := range strings.SplitAfter(w.String(), "\n") {
			if strings.Contains(l, "kernel frames") {
				got += l
			}
		}
		if got != c.want {
			t.Errorf("%+v:\n got %q\nwant %q", c.kernel, got, c.want)
		}
	}
	// On this machine, as this user: the remedy named is the one for the
	// setting that hides the addresses, never advice to move machines.
	if m := hiddenKallsyms(); m.why == "" || m.fix == "" || strings.Contains(m.fix, "recording machine") {
		t.Errorf("hidden kallsyms: %+v", m)
	}
}
