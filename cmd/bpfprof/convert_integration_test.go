package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

// perfRecord runs 'perf record -a -g -F 999' on the whole machine while the
// workload of sampler/perfdata loads the hot and subprog programs, drives
// them for a while and unloads them; it returns the perf.data written.
func perfRecord(t *testing.T) (perf, data string) {
	t.Helper()
	testutil.RequireRoot(t, "perf record -a, BPF programs")
	perf, err := exec.LookPath("perf")
	if err != nil {
		testutil.SkipOrFail(t, "perf is not installed (apt-get install linux-perf): "+err.Error())
	}
	dir := t.TempDir()
	workload := filepath.Join(dir, "workload")
	if out, err := exec.Command("go", "build", "-o", workload, "../../sampler/perfdata/internal/workload").CombinedOutput(); err != nil {
		t.Fatalf("build the workload: %v\n%s", err, out)
	}
	data = filepath.Join(dir, "perf.data")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// perf starts the workload once its events are on, and ends when it
	// exits, which unloads the programs. -B: Debian's perf 6.1 can abort
	// collecting build IDs at the end ("assertion failed at
	// util/build-id.c:1010"), depending on the binaries that ran.
	out, err := exec.CommandContext(ctx, perf, "record", "-a", "-g", "-F", "999", "-B", "-o", data, "--", workload, "-d", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("perf record: %v\n%s", err, out)
	}
	return perf, data
}

// TestConvertPerfRecord converts a real system-wide recording made while
// the hot loop ran, after its program unloaded, and checks it against what
// go tool pprof and perf report make of it.
func TestConvertPerfRecord(t *testing.T) {
	perf, data := perfRecord(t)
	prof := filepath.Join(t.TempDir(), "perf.pb.gz")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"convert", "-i", data, "-o", prof}, &stdout, &stderr); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr.String())
	}
	hotLine := markerLine(t, testprogs.Hot, "hot")

	// The top BPF line of go tool pprof -top -lines is the hot loop's.
	var topBPF string
	for line := range strings.Lines(goPprof(t, "-top", "-lines", prof)) {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[len(f)-1], ".bpf.c:") {
			topBPF = f[len(f)-1]
			break
		}
	}
	if topBPF != hotLine {
		t.Errorf("top BPF line of go tool pprof -top -lines: %q, want %q", topBPF, hotLine)
	}

	// Each BPF function's share of the samples agrees with perf report's
	// on the same file within one percentage point. Both count, out of all
	// samples, those of the workload's process: other test binaries drive
	// copies of the same programs (same tag and name) at the same time.
	ours := bpfShares(t, prof, "workload")
	theirs := perfShares(t, perf, perfReadable(t, data), "workload")
	compared := 0
	for sym, want := range theirs {
		if !strings.Contains(sym, "bpfprof_") {
			continue // other engineers' programs may run meanwhile
		}
		compared++
		t.Logf("%s: %.2f%% in the profile, %.2f%% in perf report", sym, ours[sym], want)
		if got := ours[sym]; math.Abs(got-want) > 1 {
			t.Errorf("%s: %.2f%% of the samples in the profile, %.2f%% in perf report", sym, got, want)
		}
	}
	if compared == 0 {
		t.Errorf("perf report names no bpfprof program: %v", theirs)
	}

	// annotate -i perf.data puts the loop line on top: in the workload's
	// program, and in any other load of it that tests running meanwhile
	// made, if it has samples enough to tell.
	rd, closeData, err := openPerfData(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeData()
	annotated := 0
	for id, p := range rd.Header().Programs {
		if p.Name != testprogs.HotFunc[:15] {
			continue
		}
		prog, counts, _, err := perfDataProgram(data, bpfprog.Selector{Kind: bpfprog.SelectID, ID: bpfprog.ID(id)}, "")
		if err != nil {
			t.Fatal(err)
		}
		l, err := annotate.Build(prog, counts, annotate.Options{JIT: true})
		if err != nil {
			t.Fatal(err)
		}
		if l.Samples < 20 {
			continue
		}
		annotated++
		if top, n := hottestLine(l); top != hotLine {
			t.Errorf("annotate of program %d in the recording: hottest line %s (%d of %d samples), want %s", id, top, n, l.Samples, hotLine)
		}
	}
	if annotated == 0 {
		t.Error("no hot-loop program with 20 samples in the recording")
	}
}

// bpfShares gives the share (percent of the period) of comm's samples whose
// leaf is in each BPF function, by its kernel symbol name.
func bpfShares(t *testing.T, path, comm string) map[string]float64 {
	t.Helper()
	p := readProfile(t, path)
	var total float64
	by := map[string]float64{}
	for _, s := range p.Sample {
		v := float64(s.Value[1])
		total += v
		if c := s.Label["comm"]; len(c) == 0 || c[0] != comm {
			continue
		}
		leaf := s.Location[0]
		if leaf.Mapping == nil || !strings.HasPrefix(leaf.Mapping.File, "[bpf]") || len(leaf.Line) == 0 {
			continue
		}
		by[leaf.Line[len(leaf.Line)-1].Function.SystemName] += v
	}
	for k := range by {
		by[k] *= 100 / total
	}
	return by
}

// perfShares runs perf report on comm's samples and gives the self share of
// each BPF symbol. The sort keys include comm: with --sort sym alone, perf
// merges the samples of every process into one entry per symbol before
// --comms filters the entries by the first process that made each, so
// another test binary's samples of a same-named program counted as the
// workload's (perf 6.1 gave 25.87% where the workload's own were 15.07%).
func perfShares(t *testing.T, perf, data, comm string) map[string]float64 {
	t.Helper()
	out, err := exec.Command(perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "comm,sym", "-g", "none",
		"--comms", comm).Output()
	if err != nil {
		t.Fatalf("perf report: %v", err)
	}
	by := map[string]float64{}
	for line := range strings.Lines(string(out)) {
		// "15.07%  [k] bpf_prog_..." (perf leaves out the comm column
		// when one comm is selected) or "15.07%  workload  [k] bpf_prog_...".
		f := strings.Fields(line)
		if len(f) < 3 || f[len(f)-2] != "[k]" || !strings.HasPrefix(f[len(f)-1], "bpf_prog_") {
			continue
		}
		if len(f) == 4 && f[1] != comm {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		by[f[len(f)-1]] += pct
	}
	return by
}

// perfReadable writes a copy of a perf.data file that perf 6.1 reads right
// while other samplers ran during the recording (bpfprof's, in tests
// running meanwhile), mending two kernel leaks as bpfprof's reader does:
//   - MMAP2 records claim a build ID (PERF_RECORD_MISC_MMAP_BUILD_ID, from a
//     listener that asked for build IDs) but hold device and inode numbers;
//     perf then overflows a buffer and aborts, or reads the mappings wrong
//     (perfdata.Stats.FixedMmaps). The flag is cleared.
//   - KSYMBOL and BPF_EVENT records carry stale bytes after their
//     sample_id (the kernel adds each listener's id_header_size to a shared
//     header; see sampler's Decoder.idStart). perf reads the sample_id from
//     the record's end, so a program's load and unload get time 0 and perf
//     leaves its samples unnamed. The real sample_id is copied to the end.
func perfReadable(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := sideBandDecoder(t, path)
	le := binary.NativeEndian
	off, size := le.Uint64(b[40:]), le.Uint64(b[48:])
	for p := off; p+8 <= off+size && p+8 <= uint64(len(b)); {
		typ, misc, n := le.Uint32(b[p:]), le.Uint16(b[p+4:]), le.Uint16(b[p+6:])
		if n < 8 || p+uint64(n) > uint64(len(b)) {
			t.Fatalf("%s: record of %d bytes at %d", path, n, p)
		}
		rec := b[p : p+uint64(n)]
		switch typ {
		case unix.PERF_RECORD_MMAP2:
			le.PutUint16(rec[4:], misc&^unix.PERF_RECORD_MISC_MMAP_BUILD_ID)
		case unix.PERF_RECORD_KSYMBOL, unix.PERF_RECORD_BPF_EVENT:
			if start, end, ok := dec.SampleID(rec); ok && end < len(rec) {
				copy(rec[len(rec)-(end-start):], rec[start:end])
			}
		}
		p += uint64(n)
	}
	out := filepath.Join(t.TempDir(), "perf-clean.data")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// sideBandDecoder returns a decoder of the side-band records of a perf.data
// file (perf gives all the events of a recording one sample_id layout).
func sideBandDecoder(t *testing.T, path string) *sampler.Decoder {
	t.Helper()
	rd, closeData, err := openPerfData(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeData()
	evs := rd.Header().Events
	if len(evs) == 0 {
		t.Fatalf("%s: no events", path)
	}
	return sampler.NewDecoder(sampler.Format{SampleType: evs[0].Attr.Sample_type, SampleIDAll: true})
}
