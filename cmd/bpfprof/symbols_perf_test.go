package main

import (
	"bufio"
	"bytes"
	"cmp"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// TestSymbolsMatchPerfReport records a libc-heavy C workload system-wide
// with perf record, converts the same perf.data, and checks that the shares
// of perf report --sort sym's top 10 user-space symbols of the workload
// agree with ours within 1 point. The samples being the same, only the
// naming of user addresses can differ: libc's local functions
// (msort_with_tmp.part.0) come from its separate debug info (libc6-dbg),
// which perf reads too, PLT entries are NAME@plt. Shares are of the
// workload's user-space samples, so that kernel attribution (another
// issue's) does not weigh in.
func TestSymbolsMatchPerfReport(t *testing.T) {
	testutil.RequireRoot(t, "system-wide perf events")
	for _, tool := range []string{"perf", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed (apt-get install linux-perf gcc)")
		}
	}
	if _, err := os.Stat("/usr/lib/debug/.build-id"); err != nil {
		testutil.SkipOrFail(t, "no separate debug info in /usr/lib/debug (apt-get install libc6-dbg)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "libcwork")
	if out, err := exec.Command("gcc", "-O2", "-g", "-o", bin, "testdata/libcwork.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "perf.data")
	var report []byte
	var pid int64
	for try := 1; ; try++ {
		// Without build-ID and BPF side-band processing, which perf
		// 6.1 fails at on newer kernels.
		rec := exec.Command("perf", "record", "-q", "-B", "--no-bpf-event", "-a", "-g", "-F", "999", "-o", data, "--", bin, "2")
		recOut, err := rec.Output()
		if err != nil {
			t.Fatalf("perf record: %v\n%s", err, recOut)
		}
		// By pid: perf and bpfprof name a process differently before
		// its exec's COMM record.
		m := regexp.MustCompile(`pid (\d+) `).FindSubmatch(recOut)
		if m == nil {
			t.Fatalf("the workload printed no pid: %q", recOut)
		}
		pid, _ = strconv.ParseInt(string(m[1]), 10, 64)
		var stderr bytes.Buffer
		// perf reads a copy without the build-ID flag that the kernel
		// leaks into its MMAP2 records from other tests' samplers: on
		// those perf 6.1 aborts, or reads the mappings wrong and names
		// libc's memset samples after ld.so's handle_amd. Sorted by pid
		// too: by sym alone perf merges every process's samples of a
		// symbol (libc's memmove, say) into one entry, which --pid then
		// keeps or drops whole by the process that made it first.
		cmd := exec.Command("perf", "report", "-i", perfReadable(t, data), "--pid", string(m[1]), "--sort", "pid,sym", "--stdio",
			"--no-children", "-g", "none", "--percentage", "relative")
		cmd.Stderr = &stderr
		if report, err = cmd.Output(); err == nil {
			break
		}
		// perf 6.1 sometimes aborts in its build-ID code on records of
		// newer kernels: record again.
		if try == 3 {
			t.Fatalf("perf report failed %d times: %v\n%s", try, err, stderr.Bytes())
		}
		t.Logf("perf report failed (%v), recording again", err)
	}
	theirs, order := parsePerfReport(report, true)
	if len(order) < 3 {
		t.Fatalf("perf report has %d symbols of the workload:\n%s", len(order), report)
	}

	out := filepath.Join(dir, "conv.pb.gz")
	var stderr bytes.Buffer
	if code := run([]string{"convert", "-i", data, "-o", out}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr.String())
	}
	p := readProfile(t, out)
	ours := map[string]float64{}
	var total float64
	for _, s := range p.Sample {
		if p := s.NumLabel["pid"]; len(p) != 1 || p[0] != pid || len(s.Location) == 0 || s.Location[0].Address>>63 == 1 {
			continue
		}
		total += float64(s.Value[0])
		// perf's symbol is the ELF one: the outermost of the leaf's
		// lines, not the functions inlined into it.
		lines := s.Location[0].Line
		name := "[unknown]"
		if len(lines) > 0 && lines[len(lines)-1].Function != nil {
			name = lines[len(lines)-1].Function.Name
		}
		ours[name] += float64(s.Value[0])
	}
	if total == 0 {
		t.Fatalf("no samples of pid %d in the converted profile", pid)
	}
	for k := range ours {
		ours[k] *= 100 / total
	}
	// The top 10 of perf's, and of ours.
	top := order[:min(10, len(order))]
	for _, sym := range rank(ours)[:min(10, len(ours))] {
		if !slices.Contains(top, sym) {
			top = append(top, sym)
		}
	}
	for i, sym := range top {
		t.Logf("%2d. %-36s perf %6.2f%%  bpfprof %6.2f%%", i+1, sym, theirs[sym], ours[sym])
		if d := theirs[sym] - ours[sym]; d > 1 || d < -1 {
			t.Errorf("%s: perf report %.2f%%, bpfprof %.2f%%: more than 1 point apart", sym, theirs[sym], ours[sym])
		}
	}
	if ours["msort_with_tmp.part.0"] == 0 {
		t.Errorf("qsort's msort_with_tmp.part.0, a local symbol of libc's debug file, is not named")
	}
}

// rank returns the keys of m, highest value first.
func rank(m map[string]float64) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	return keys
}

// perfReportLine is a line of perf report --sort sym, or pid,sym:
// "  2.53%  [.] name", "  2.53%  1234:comm  [.] name".
var perfReportLine = regexp.MustCompile(`^\s*([0-9.]+)%\s+(?:\d+:\S*\s+)?\[([.kgu])\]\s+(.+?)\s*$`)

// parsePerfReport returns the percentage of each symbol, and the symbols
// in the report's order; with user, only user-space symbols ([.]), their
// percentages scaled to add up to 100.
func parsePerfReport(out []byte, user bool) (map[string]float64, []string) {
	pct := map[string]float64{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := perfReportLine.FindStringSubmatch(sc.Text())
		if m == nil || user && m[2] != "." {
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		name := m[3]
		if strings.HasPrefix(name, "0x") {
			name = "[unknown]"
		}
		if _, ok := pct[name]; !ok {
			order = append(order, name)
		}
		pct[name] += v
	}
	var sum float64
	for _, v := range pct {
		sum += v
	}
	if user && sum > 0 {
		for k := range pct {
			pct[k] *= 100 / sum
		}
	}
	return pct, order
}
