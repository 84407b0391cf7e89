package kernelmatrix

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one event of 'go tool test2json' (cmd/test2json's TestEvent).
type Event struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// TestResult is how one test or subtest ended in the guest.
type TestResult struct {
	Name string
	// Action is "pass", "fail" or "skip"; "" if it started and never
	// ended (the package died under it).
	Action  string
	Elapsed time.Duration
	// Output is what the test printed (its log, a skip's reason), without
	// test2json's framing lines.
	Output []string
	// Ran is set when the test printed testutil.GuestMarker: it got past
	// its requirement.
	Ran bool
}

// PackageResult is one package's run in the guest.
type PackageResult struct {
	Package Package
	// Ended is set when the guest reported the binary's exit; Exit is its
	// status then.
	Ended bool
	Exit  int
	Wall  time.Duration
	// Tests in the order they started; subtests are "Parent/sub".
	Tests []*TestResult
	// Other is output outside any test (TestMain, a panic's trace).
	Other []string
}

// Result is one kernel's run.
type Result struct {
	Kernel *Kernel
	// Release is what uname -r said in the guest.
	Release  string
	Packages []*PackageResult
	// Done is set when /init reached its end.
	Done bool
	// BootErr is set when qemu failed or was killed.
	BootErr error
	Wall    time.Duration
	// Console holds the last lines of the kernel console, for failures.
	Console []string
}

// marker must equal testutil.GuestMarker.
const marker = "bpfprof-kernel-matrix: ran "

// ParseGuest splits the lines of the results port into packages and decodes
// each package's test2json stream with decode (which runs 'go tool
// test2json'). Packages the guest never reached stay without results.
func ParseGuest(lines []Line, pkgs []Package, decode func(pkg Package, raw []byte) ([]Event, error)) (release string, results []*PackageResult, done bool, err error) {
	byDir := map[string]*PackageResult{}
	for _, p := range pkgs {
		r := &PackageResult{Package: p}
		results = append(results, r)
		byDir[p.Dir] = r
	}
	var cur *PackageResult
	var start time.Time
	var raw bytes.Buffer
	for _, l := range lines {
		text := l.Text
		switch {
		case strings.HasPrefix(text, startPrefix+"kernel "):
			release = strings.TrimPrefix(text, startPrefix+"kernel ")
			continue
		case strings.HasPrefix(text, startPrefix):
			if cur != nil {
				return release, results, false, fmt.Errorf("guest started %s before %s ended", text, cur.Package.Dir)
			}
			cur = byDir[strings.TrimPrefix(text, startPrefix)]
			if cur == nil {
				return release, results, false, fmt.Errorf("guest ran an unknown package: %s", text)
			}
			start = l.At
			raw.Reset()
			continue
		case strings.HasPrefix(text, endPrefix) && cur != nil:
			dir, code, _ := strings.Cut(strings.TrimPrefix(text, endPrefix), " ")
			if dir != cur.Package.Dir {
				return release, results, false, fmt.Errorf("guest ended %s while running %s", dir, cur.Package.Dir)
			}
			cur.Ended = true
			cur.Exit, _ = strconv.Atoi(code)
			cur.Wall = l.At.Sub(start)
			if err := cur.decode(decode, raw.Bytes()); err != nil {
				return release, results, false, err
			}
			cur = nil
			continue
		case text == donePrefix:
			done = true
			continue
		}
		if cur != nil {
			raw.WriteString(text + "\n")
		}
	}
	if cur != nil {
		// The guest died in this package: keep what it printed.
		if len(lines) > 0 {
			cur.Wall = lines[len(lines)-1].At.Sub(start)
		}
		if err := cur.decode(decode, raw.Bytes()); err != nil {
			return release, results, false, err
		}
	}
	return release, results, done, nil
}

func (r *PackageResult) decode(decode func(Package, []byte) ([]Event, error), raw []byte) error {
	events, err := decode(r.Package, raw)
	if err != nil {
		return fmt.Errorf("decode the results of %s: %w", r.Package.Dir, err)
	}
	byName := map[string]*TestResult{}
	for _, ev := range events {
		if ev.Test == "" {
			if ev.Action == "output" {
				r.Other = append(r.Other, strings.TrimRight(ev.Output, "\n"))
			}
			continue
		}
		t := byName[ev.Test]
		if t == nil {
			t = &TestResult{Name: ev.Test}
			byName[ev.Test] = t
			r.Tests = append(r.Tests, t)
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			t.Action = ev.Action
			if ev.Elapsed > 0 {
				t.Elapsed = time.Duration(ev.Elapsed * float64(time.Second))
			}
		case "output":
			out := strings.TrimRight(ev.Output, "\n")
			if strings.HasPrefix(out, marker) {
				t.Ran = true
			}
			if isFraming(out) {
				// test2json leaves Elapsed out where the line has it.
				if m := elapsedRE.FindStringSubmatch(out); m != nil {
					if sec, err := strconv.ParseFloat(m[1], 64); err == nil {
						t.Elapsed = time.Duration(sec * float64(time.Second))
					}
				}
				continue
			}
			t.Output = append(t.Output, out)
		}
	}
	return nil
}

// elapsedRE matches the time at the end of "--- PASS: TestX (1.98s)".
var elapsedRE = regexp.MustCompile(`^\s*--- (?:PASS|FAIL|SKIP): \S+ \(([0-9.]+)s\)$`)

// isFraming reports whether a test's output line is go test's own
// bookkeeping ("=== RUN", "--- PASS: ...") rather than what the test said.
func isFraming(line string) bool {
	s := strings.TrimSpace(line)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Problems lists why the kernel's run does not count as passed: a package
// that did not end or exited non-zero, and each selected test that did not
// run, failed, was skipped (or has a skipped subtest), or passed without
// printing testutil.GuestMarker. Nil means every selected test ran there
// and passed.
func (r *Result) Problems() []string {
	var p []string
	if r.BootErr != nil {
		p = append(p, r.BootErr.Error())
	}
	if !r.Done {
		p = append(p, "the guest did not reach the end of its /init (crash, panic or hang: see the console)")
	}
	for _, pkg := range r.Packages {
		switch {
		case !pkg.Ended:
			p = append(p, pkg.Package.Dir+": the test binary never finished")
		case pkg.Exit != 0:
			p = append(p, fmt.Sprintf("%s: the test binary exited with status %d", pkg.Package.Dir, pkg.Exit))
		}
		for _, name := range pkg.Package.Tests {
			t := pkg.find(name)
			switch {
			case t == nil:
				p = append(p, fmt.Sprintf("%s: %s did not run", pkg.Package.Dir, name))
			case t.Action == "skip":
				p = append(p, fmt.Sprintf("%s: %s was skipped: %s", pkg.Package.Dir, name, reason(t)))
			case t.Action != "pass":
				p = append(p, fmt.Sprintf("%s: %s %s", pkg.Package.Dir, name, orNone(t.Action, "never ended")))
			case !pkg.ran(name):
				p = append(p, fmt.Sprintf("%s: %s passed without reaching testutil.RequireFentry, RequireKprobes or KernelMatrix", pkg.Package.Dir, name))
			}
		}
		for _, t := range pkg.Tests {
			if strings.Contains(t.Name, "/") && t.Action == "skip" {
				p = append(p, fmt.Sprintf("%s: %s was skipped: %s", pkg.Package.Dir, t.Name, reason(t)))
			}
		}
	}
	return p
}

func (r *PackageResult) find(name string) *TestResult {
	i := slices.IndexFunc(r.Tests, func(t *TestResult) bool { return t.Name == name })
	if i < 0 {
		return nil
	}
	return r.Tests[i]
}

// ran reports whether test name or one of its subtests printed the marker.
func (r *PackageResult) ran(name string) bool {
	return slices.ContainsFunc(r.Tests, func(t *TestResult) bool {
		return t.Ran && (t.Name == name || strings.HasPrefix(t.Name, name+"/"))
	})
}

// Counts returns how many tests and subtests passed, failed and were
// skipped.
func (r *PackageResult) Counts() (passed, failed, skipped int) {
	for _, t := range r.Tests {
		switch t.Action {
		case "pass":
			passed++
		case "skip":
			skipped++
		default:
			failed++
		}
	}
	return passed, failed, skipped
}

// reason is a skipped test's last line of output: its t.Skip message.
func reason(t *TestResult) string {
	for i := len(t.Output) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(t.Output[i]); s != "" {
			return s
		}
	}
	return "(no reason given)"
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// Write prints the kernel's report: per package the counts, wall time and
// each test; skip reasons, failures' output, and on a failure the last
// console lines.
func (r *Result) Write(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	problems := r.Problems()
	verdict := "PASS"
	if len(problems) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(bw, "%s  kernel %s %s (uname -r %s): %.1fs from boot to power-off\n",
		verdict, r.Kernel.Package, r.Kernel.Version, orNone(r.Release, "unknown"), r.Wall.Seconds())
	for _, pkg := range r.Packages {
		passed, failed, skipped := pkg.Counts()
		fmt.Fprintf(bw, "  %-24s %d passed, %d failed, %d skipped in %.1fs\n", pkg.Package.Dir, passed, failed, skipped, pkg.Wall.Seconds())
		for _, t := range pkg.Tests {
			fmt.Fprintf(bw, "    %-5s %s (%.2fs)\n", strings.ToUpper(orNone(t.Action, "hung")), t.Name, t.Elapsed.Seconds())
			switch t.Action {
			case "skip":
				fmt.Fprintf(bw, "          reason: %s\n", reason(t))
			case "pass":
			default:
				for _, l := range lastN(t.Output, 20) {
					fmt.Fprintf(bw, "          | %s\n", l)
				}
			}
		}
		if failed > 0 || pkg.Exit != 0 || !pkg.Ended {
			for _, l := range lastN(pkg.Other, 40) {
				fmt.Fprintf(bw, "          | %s\n", l)
			}
		}
	}
	for _, p := range problems {
		fmt.Fprintf(bw, "  problem: %s\n", p)
	}
	if len(problems) > 0 && len(r.Console) > 0 {
		fmt.Fprintf(bw, "  last %d lines of the kernel console:\n", len(r.Console))
		for _, l := range r.Console {
			fmt.Fprintf(bw, "    > %s\n", l)
		}
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// DecodeTest2JSON parses the JSON lines 'go tool test2json' writes.
func DecodeTest2JSON(out []byte) ([]Event, error) {
	var events []Event
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("test2json output: %w", err)
		}
		events = append(events, ev)
	}
	return events, nil
}
