package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/pprof/profile"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// drivenProgram is a bundled program run flat out by BPF_PROG_TEST_RUN
// for the length of a test, with run-time stats on.
type drivenProgram struct {
	obj *testprogs.Object
	id  uint32
}

// driveSubprog loads the subprogram object and drives it until the test
// ends.
func driveSubprog(t *testing.T) *drivenProgram {
	t.Helper()
	progtest.EnableStats(t)
	id, obj, _ := progtest.DriveObject(t, testprogs.Subprog)
	return &drivenProgram{obj: obj, id: id}
}

// whileSampling runs cmd (which samples until its context ends) and ends
// it once it has sampled and the program has run want of CPU time since:
// ~500 samples at 999 Hz for half a second, however busy the machine.
func (d *drivenProgram) whileSampling(t *testing.T, want time.Duration, cmd func(ctx context.Context) error) {
	t.Helper()
	whileSampling(t, cmd, func(done <-chan struct{}) {
		progtest.WaitRan(t, d.obj.Program(), want, done) // false: cmd ended, which whileSampling reports
	})
}

// annotateJSON runs annotate with args (and --json) until ctx ends and
// decodes its listing.
func annotateJSON(ctx context.Context, args ...string) (*annotate.Listing, error) {
	cfg, err := parseAnnotateArgs(append(args, "--json"), &bytes.Buffer{})
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	if err := annotateCmd(ctx, cfg, &stdout, &stderr); err != nil {
		return nil, err
	}
	var l annotate.Listing
	if err := json.Unmarshal(stdout.Bytes(), &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// function returns the listing's function name.
func function(t *testing.T, l *annotate.Listing, name string) *annotate.Function {
	t.Helper()
	for i := range l.Functions {
		if l.Functions[i].Name == name {
			return &l.Functions[i]
		}
	}
	t.Fatalf("no function %s in the listing of program %d", name, l.ID)
	return nil
}

// hottestLineOf returns the line of f with the most samples.
func hottestLineOf(f *annotate.Function) *annotate.LineStat {
	var hot *annotate.LineStat
	for i := range f.Lines {
		if hot == nil || f.Lines[i].Samples > hot.Samples {
			hot = &f.Lines[i]
		}
	}
	return hot
}

// checkPercentages checks that the per-line percentages of every function
// with samples add up to 100, give or take the rounding of each.
func checkPercentages(t *testing.T, l *annotate.Listing) {
	t.Helper()
	for _, f := range l.Functions {
		if f.Samples == 0 {
			continue
		}
		var sum, lines float64
		var n uint64
		for _, ls := range f.Lines {
			sum += ls.Percent
			n += ls.Samples
			lines++
		}
		// Samples before the function's first line record count in no
		// line.
		want := 100 * float64(n) / float64(f.Samples)
		if math.Abs(sum-want) > 0.01*lines+1e-9 || want < 99 {
			t.Errorf("%s: line percentages add up to %.3f (lines hold %.3f%% of its %d samples)", f.Name, sum, want, f.Samples)
		}
	}
}

// TestAnnotateHotLoop annotates the subprogram program while it runs: live
// with --jit, and from a profile record wrote of the same program. The
// loop's line is the hottest of the subprogram with most of its samples,
// its hottest machine instructions lie in that line's code, and the
// profile agrees with the live run.
func TestAnnotateHotLoop(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	d := driveSubprog(t)
	id := strconv.FormatUint(uint64(d.id), 10)
	file, line, err := testprogs.Marker(testprogs.Subprog, "sub-hot")
	if err != nil {
		t.Fatal(err)
	}

	var live *annotate.Listing
	d.whileSampling(t, 500*time.Millisecond, func(ctx context.Context) (err error) {
		live, err = annotateJSON(ctx, "id", id, "-d", "10m", "-F", "999", "--jit")
		return err
	})
	if live.ID != d.id || live.Samples == 0 || live.TotalSamples < live.Samples || !live.JITed || live.RunCount == 0 {
		t.Fatalf("listing summary: id %d, %d of %d samples, jited %v, %d runs",
			live.ID, live.Samples, live.TotalSamples, live.JITed, live.RunCount)
	}
	sub := function(t, live, testprogs.SubprogSubFunc)
	hot := hottestLineOf(sub)
	if hot == nil || hot.File != file || int(hot.Line) != line {
		t.Fatalf("hottest line of %s: %+v, want %s:%d", sub.Name, hot, file, line)
	}
	if 2*hot.Samples <= sub.Samples {
		t.Errorf("the loop's line has %d of the subprogram's %d samples, want most", hot.Samples, sub.Samples)
	}
	checkPercentages(t, live)

	// The hottest machine instruction of the subprogram is in the code
	// of the loop's line.
	var top *annotate.JITInsn
	for bi := range sub.Blocks {
		for ji := range sub.Blocks[bi].JIT {
			if in := &sub.Blocks[bi].JIT[ji]; top == nil || in.Samples > top.Samples {
				top = in
			}
		}
	}
	if top == nil || top.Samples == 0 {
		t.Fatalf("no JIT instruction of %s has samples", sub.Name)
	}
	inLine := false
	for _, blk := range sub.Blocks {
		if blk.Source != nil && blk.Source.File == file && int(blk.Source.Line) == line &&
			top.Addr >= blk.JITStart && top.Addr < blk.JITEnd {
			inLine = true
		}
	}
	if !inLine {
		t.Errorf("hottest JIT instruction %#x %q (%d samples) is outside the code of %s:%d", top.Addr, top.Text, top.Samples, file, line)
	}

	// A profile of the same program gives the same hottest line.
	path := filepath.Join(t.TempDir(), "subprog.pb.gz")
	d.whileSampling(t, 500*time.Millisecond, func(ctx context.Context) error {
		cfg, err := parseRecordArgs([]string{"-F", "999", "-o", path}, &bytes.Buffer{})
		if err != nil {
			return err
		}
		return record(ctx, cfg, &bytes.Buffer{}, &bytes.Buffer{})
	})
	fromFile, err := annotateJSON(context.Background(), "id", id, "-i", path)
	if err != nil {
		t.Fatal(err)
	}
	fsub := function(t, fromFile, testprogs.SubprogSubFunc)
	if fh := hottestLineOf(fsub); fh == nil || fh.File != hot.File || fh.Line != hot.Line || fromFile.Samples == 0 {
		t.Errorf("hottest line from the profile %+v, live %+v", fh, hot)
	}
	checkPercentages(t, fromFile)
}

// TestAnnotateStatic lists a program without sampling, as text and JSON,
// and a program without BTF, which still lists with a note.
func TestAnnotateStatic(t *testing.T) {
	testutil.RequireRoot(t, "reading BPF programs")
	// By id: other tests may load the same program at the same time.
	_, mapsID := progtest.Load(t, testprogs.Maps)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"annotate", "--no-samples", "--color", "never", "--jit", "id", strconv.Itoa(int(mapsID))}, &stdout, &stderr); code != 0 {
		t.Fatalf("annotate --no-samples: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{testprogs.MapsFunc, "call htab_map_update_elem", "map[id:", testprogs.MapsHash} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("--color never printed escapes")
	}

	// A program built without BTF: instructions, no source, and a note.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SocketFilter, License: "GPL", Name: "bpfprof_nobtf",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	l, err := annotateJSON(context.Background(), "--no-samples", strconv.Itoa(int(progtest.ID(t, prog))))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Notes) == 0 || len(l.Functions) == 0 || len(l.Functions[0].Blocks) == 0 || len(l.Functions[0].Blocks[0].Insns) != 2 {
		t.Errorf("listing of a program without BTF: %+v", l)
	}
}

// TestAnnotateBadInput checks that each mistake is one line and the exit
// status says whose it is: 2 for the command line, 1 for the rest.
func TestAnnotateBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pb.gz")
	if err := os.WriteFile(garbage, []byte("not a profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A valid profile with no BPF samples at all.
	empty := filepath.Join(dir, "empty.pb.gz")
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}},
		Mapping:    []*profile.Mapping{{ID: 1, File: "/bin/true", Start: 0x1000, Limit: 0x2000}},
	}
	p.Location = []*profile.Location{{ID: 1, Mapping: p.Mapping[0], Address: 0x1100}}
	p.Sample = []*profile.Sample{{Location: p.Location, Value: []int64{3}}}
	f, err := os.Create(empty)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// root marks the cases that read the kernel's programs; those whose
	// last argument is HOT need the hot program loaded, and get its id.
	for _, tc := range []struct {
		args []string
		code int
		root bool
		want string
	}{
		{[]string{}, 2, false, "which program?"},
		{[]string{"name"}, 2, false, "name"},
		{[]string{"7", "8"}, 2, false, `unexpected argument "8"`},
		{[]string{"nonsense"}, 2, false, `"nonsense" is no program`},
		{[]string{"--no-samples", "-i", "x", "7"}, 2, false, "exclusive"},
		{[]string{"-i", "x", "-d", "1", "7"}, 2, false, "no sampling flags"},
		{[]string{"--color", "blue", "7"}, 2, false, "--color"},
		{[]string{"--syntax", "pdp11", "7"}, 2, false, "--syntax"},
		{[]string{"-d", "soon", "7"}, 2, false, "-d"},
		{[]string{"-e", "cpu-clock,task-clock", "7"}, 2, false, "one event"},
		{[]string{"-i", filepath.Join(dir, "missing"), "7"}, 1, false, "no such file"},
		{[]string{"-i", garbage, "7"}, 1, false, "not a pprof profile"},
		{[]string{"--no-samples", "name", "bpfprof_no_such_program"}, 1, true, "no BPF program with name bpfprof_no_such_program"},
		{[]string{"--no-samples", "id", "2147483647"}, 1, true, "2147483647"},
		{[]string{"-i", empty, "HOT"}, 1, true, "has no samples in BPF program"},
		{[]string{"-i", empty, "id", "2147483647"}, 1, true, "-i needs the program still loaded"},
		{[]string{"--no-samples", "--function", "nope", "HOT"}, 1, true, "no such BPF function"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if tc.root {
				testutil.RequireRoot(t, "reading BPF programs")
			}
			if len(tc.args) > 0 && tc.args[len(tc.args)-1] == "HOT" {
				_, id := progtest.Load(t, testprogs.Hot)
				// By id: other tests may load the same program.
				tc.args[len(tc.args)-1] = strconv.Itoa(int(id))
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"annotate"}, tc.args...), &stdout, &stderr)
			msg := stderr.String()
			if code != tc.code || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "bpfprof annotate: ") {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", code, msg, tc.code, tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q", stdout.String())
			}
		})
	}
}

// TestAnnotatePerfDataInput annotates a program from a perf.data file that
// perf recorded: no program need be loaded.
func TestAnnotatePerfDataInput(t *testing.T) {
	l, err := annotateJSON(context.Background(), "-i", filepath.Join(perfdataDir, "hot-task.data"), "name", testprogs.HotFunc, "--jit")
	if err != nil {
		t.Fatal(err)
	}
	f := function(t, l, testprogs.HotFunc)
	want := markerLine(t, testprogs.Hot, "hot")
	if hot := hottestLineOf(f); hot == nil || hot.Source.String() != want || l.Samples == 0 {
		t.Errorf("hottest line %+v of %d samples, want %s", hot, l.Samples, want)
	}
	checkPercentages(t, l)
}

// TestAnnotateInterrupt ends a long sampling with SIGINT, as Ctrl-C does,
// and with SIGHUP (the terminal closed) and SIGQUIT: the listing still
// comes, and the exit status is 0.
func TestAnnotateInterrupt(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	_, id := progtest.Load(t, testprogs.Hot)
	for _, sig := range []unix.Signal{unix.SIGINT, unix.SIGHUP, unix.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var code int
			done := make(chan struct{})
			go func() {
				defer close(done)
				code = run([]string{"annotate", "-d", "10m", strconv.Itoa(int(id))}, &stdout, &stderr)
			}()
			waitSampling(t, os.Getpid(), done, func() string { return fmt.Sprintf("exit %d: %s", code, stderr.String()) })
			if err := unix.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
				if code != 0 || !strings.HasPrefix(stdout.String(), "program "+strconv.Itoa(int(id))+" ") {
					t.Errorf("exit %d after %v; stdout %q, stderr %q", code, sig, stdout.String(), stderr.String())
				}
			case <-time.After(time.Minute): // a hang, not a measurement
				t.Fatalf("annotate did not end on %v", sig)
			}
		})
	}
}
