package kernelmatrix

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// guestLines builds what the results port would carry, one line per
// 100ms from t0.
func guestLines(texts ...string) []Line {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var lines []Line
	for i, s := range texts {
		lines = append(lines, Line{At: t0.Add(time.Duration(i) * 100 * time.Millisecond), Text: s})
	}
	return lines
}

// goTest2JSON decodes with the real 'go tool test2json', as the harness
// does.
func goTest2JSON(t *testing.T) func(Package, []byte) ([]Event, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		testutil.SkipOrFail(t, "go is not on PATH: "+err.Error())
	}
	return func(p Package, raw []byte) ([]Event, error) {
		cmd := exec.Command(gobin, "tool", "test2json", "-p", p.Dir)
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			return nil, err
		}
		return DecodeTest2JSON(out)
	}
}

const v = "\x16" // the framing mark of -test.v=test2json

func TestParseGuest(t *testing.T) {
	pkgs := []Package{{Dir: "cmd/x", Tests: []string{"TestA", "TestB"}}, {Dir: "y", Tests: []string{"TestC"}}}
	lines := guestLines(
		startPrefix+"kernel 6.1.0-57-amd64",
		startPrefix+"cmd/x",
		v+"=== RUN   TestA",
		marker+"TestA on linux-image-x",
		"some log",
		v+"--- PASS: TestA (1.50s)",
		v+"=== RUN   TestB",
		v+"=== RUN   TestB/sub",
		marker+"TestB/sub on linux-image-x",
		"    x_test.go:9: no frobnicator here",
		v+"--- SKIP: TestB/sub (0.00s)",
		v+"--- PASS: TestB (0.25s)",
		v+"PASS",
		endPrefix+"cmd/x 0",
		startPrefix+"y",
		v+"=== RUN   TestC",
		"panic: boom",
	)
	release, results, done, err := ParseGuest(lines, pkgs, goTest2JSON(t))
	if err != nil {
		t.Fatal(err)
	}
	if release != "6.1.0-57-amd64" || done {
		t.Errorf("release %q done %v", release, done)
	}
	x, y := results[0], results[1]
	if !x.Ended || x.Exit != 0 || x.Wall != 1200*time.Millisecond {
		t.Errorf("cmd/x ended %v exit %d wall %v", x.Ended, x.Exit, x.Wall)
	}
	if p, f, s := x.Counts(); p != 2 || f != 0 || s != 1 {
		t.Errorf("cmd/x counts %d passed %d failed %d skipped", p, f, s)
	}
	a := x.find("TestA")
	if a == nil || a.Action != "pass" || !a.Ran || a.Elapsed != 1500*time.Millisecond || !slicesContain(a.Output, "some log") {
		t.Errorf("TestA %+v", a)
	}
	if y.Ended || y.find("TestC") == nil || y.find("TestC").Action != "" {
		t.Errorf("package y: %+v", y)
	}

	r := &Result{Kernel: &Kernel{Package: "linux-image-x"}, Packages: results, Done: done}
	problems := strings.Join(r.Problems(), "\n")
	for _, want := range []string{
		"did not reach the end",
		"cmd/x: TestB/sub was skipped: x_test.go:9: no frobnicator here",
		"y: the test binary never finished",
		"y: TestC never ended",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	if strings.Contains(problems, "TestA") {
		t.Errorf("TestA passed, yet:\n%s", problems)
	}
	var out bytes.Buffer
	r.Console = []string{"Kernel panic - not syncing: boom"}
	r.Write(&out)
	for _, want := range []string{"FAIL  kernel linux-image-x", "reason: x_test.go:9: no frobnicator here", "> Kernel panic"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func slicesContain(s []string, sub string) bool {
	for _, l := range s {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestProblems(t *testing.T) {
	pkg := Package{Dir: "p", Tests: []string{"TestA"}}
	result := func(tests ...*TestResult) *Result {
		return &Result{Kernel: &Kernel{}, Done: true, Packages: []*PackageResult{{Package: pkg, Ended: true, Tests: tests}}}
	}
	tests := []struct {
		name string
		r    *Result
		want string // "" for none
	}{
		{"passed", result(&TestResult{Name: "TestA", Action: "pass", Ran: true}), ""},
		{"passed through a subtest's marker", result(&TestResult{Name: "TestA", Action: "pass"}, &TestResult{Name: "TestA/x", Action: "pass", Ran: true}), ""},
		{"not run", result(), "p: TestA did not run"},
		{"skipped", result(&TestResult{Name: "TestA", Action: "skip", Output: []string{"    a_test.go:1: no kprobes"}}), "p: TestA was skipped: a_test.go:1: no kprobes"},
		{"failed", result(&TestResult{Name: "TestA", Action: "fail", Ran: true}), "p: TestA fail"},
		{"no marker", result(&TestResult{Name: "TestA", Action: "pass"}), "passed without reaching"},
		{"qemu killed", &Result{Kernel: &Kernel{}, Done: true, BootErr: errors.New("qemu killed after 5m0s: the guest hung")}, "the guest hung"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.r.Problems(), "\n")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("problems %q, want %q", got, tt.want)
			}
		})
	}
	exited := result(&TestResult{Name: "TestA", Action: "pass", Ran: true})
	exited.Packages[0].Exit = 1
	if got := exited.Problems(); len(got) != 1 || !strings.Contains(got[0], "exited with status 1") {
		t.Errorf("non-zero exit: %q", got)
	}
}

func TestParseGuestOutOfOrder(t *testing.T) {
	pkgs := []Package{{Dir: "a"}, {Dir: "b"}}
	decode := func(Package, []byte) ([]Event, error) { return nil, nil }
	for _, lines := range [][]Line{
		guestLines(startPrefix+"a", startPrefix+"b"),
		guestLines(startPrefix+"a", endPrefix+"b 0"),
		guestLines(startPrefix + "nope"),
	} {
		if _, _, _, err := ParseGuest(lines, pkgs, decode); err == nil {
			t.Errorf("%v: no error", lines)
		}
	}
}

func TestTimedLines(t *testing.T) {
	var echo bytes.Buffer
	tl := &TimedLines{Echo: &echo, now: func() time.Time { return time.Unix(5, 0) }}
	for _, chunk := range []string{"one\r\ntw", "o\n", "thr", "ee"} {
		if n, err := tl.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	tl.Flush()
	var got []string
	for _, l := range tl.Lines {
		got = append(got, l.Text)
		if !l.At.Equal(time.Unix(5, 0)) {
			t.Errorf("line %q stamped %v", l.Text, l.At)
		}
	}
	if strings.Join(got, "|") != "one|two|three" || echo.String() != "one\ntwo\nthree\n" {
		t.Errorf("lines %q, echo %q", got, echo.String())
	}
}

func TestTail(t *testing.T) {
	log := []byte("a\r\nb\n\x1b[2Jc\nd\n")
	if got := strings.Join(Tail(log, 2), "|"); got != "c|d" {
		t.Errorf("Tail = %q", got)
	}
}
