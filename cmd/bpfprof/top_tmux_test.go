package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// tmuxSession is one detached tmux server of a test, on its own socket.
type tmuxSession struct {
	t      *testing.T
	socket string
}

// startTmux starts cmd in a detached tmux session of width×height on a
// server of the test's own; the server is killed when the test ends.
func startTmux(t *testing.T, width, height int, cmd string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testutil.SkipOrFail(t, "needs tmux (apt-get install tmux)")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("bpfprof-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	out, err := exec.Command("tmux", "-L", s.socket, "-f", "/dev/null", "new-session", "-d",
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p") }

func (s *tmuxSession) keys(keys ...string) { s.tmux(append([]string{"send-keys"}, keys...)...) }

// waitFor polls the screen until cond holds, failing after timeout with the
// last screen.
func (s *tmuxSession) waitFor(what string, timeout time.Duration, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		scr := s.screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s; screen:\n%s", timeout, what, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// column returns the cell of the table row starting with the program name
// under the right-aligned column title.
func column(screen, name, title string) (string, bool) {
	var header string
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, title) && strings.Contains(l, "NAME") {
			header = l
		}
	}
	end := strings.Index(header, title)
	if end < 0 {
		return "", false
	}
	end += len(title)
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, name) && len(l) >= end {
			// Titles may carry a sort arrow: take the cell by byte
			// position of the ASCII table, which the arrow only follows.
			start := strings.LastIndex(strings.TrimRight(l[:end], " "), " ")
			return strings.TrimSpace(l[start+1 : end]), true
		}
	}
	return "", false
}

// TestTopInTmux runs 'bpfprof top --demo' in a real terminal: it waits for
// the demo programs to run, sorts, filters, opens the hot loop and sees its
// hot line selected, quits, and checks that the terminal is back to normal
// and no demo program is left loaded.
func TestTopInTmux(t *testing.T) {
	testutil.RequireRoot(t, "top loads the demo programs and samples the machine")
	bin, err := bpfprofBuild.build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	// After top, the shell reports its exit status and whether the
	// terminal is back in canonical mode with echo.
	cmd := fmt.Sprintf("%s top --demo --log %s/log; echo \"exit=$?\" > %s.tmp; stty -a >> %s.tmp; mv %s.tmp %s; sleep 60",
		bin, dir, done, done, done, done)
	s := startTmux(t, 130, 40, cmd)

	var ids []string
	s.waitFor("the demo programs with runs", 30*time.Second, func(scr string) bool {
		ids = ids[:0]
		for _, name := range []string{"bpfprof_hot_loop_socket", "bpfprof_xdp_main", "bpfprof_maps", "bpfprof_sys_enter"} {
			runs, ok := column(scr, name, "RUNS/s")
			if v, err := strconv.ParseFloat(runs, 64); !ok || err != nil || v <= 0 {
				return false
			}
			if m := regexp.MustCompile(`(?m)^.\s*(\d+) .*` + name).FindStringSubmatch(scr); m != nil {
				ids = append(ids, m[1])
			}
		}
		return true
	})

	s.keys("s")
	s.waitFor("the table sorted by SAMPLED%", 5*time.Second, func(scr string) bool { return strings.Contains(scr, "SAMPLED%↓") })

	s.keys("/", "hot_loop", "Enter")
	s.waitFor("the filter to leave the hot loop only", 5*time.Second, func(scr string) bool {
		return strings.Contains(scr, "filter: hot_loop") && strings.Contains(scr, "bpfprof_hot_loop_socket") &&
			!strings.Contains(scr, "bpfprof_xdp_main")
	})

	s.keys("Enter")
	s.waitFor("the hot loop's hottest line selected", 20*time.Second, func(scr string) bool {
		if !strings.Contains(scr, "bpfprof_hot_loop_socket (socket_filter)") {
			return false
		}
		for _, l := range strings.Split(scr, "\n") {
			if strings.HasPrefix(l, ">") && strings.Contains(l, "MARK: hot") {
				return true
			}
		}
		return false
	})

	s.keys("q")
	var status []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		if status, err = os.ReadFile(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top did not exit after q; screen:\n%s", s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := string(status)
	if !strings.HasPrefix(st, "exit=0\n") {
		t.Errorf("top exited with %q", strings.SplitN(st, "\n", 2)[0])
	}
	for _, mode := range []string{" icanon", " echo ", " icrnl"} {
		if !strings.Contains(st, mode) {
			t.Errorf("terminal not restored: stty has no %q:\n%s", mode, st)
		}
	}
	if alt := strings.TrimSpace(s.tmux("display-message", "-p", "#{alternate_on}")); alt != "0" {
		t.Errorf("still on the alternate screen (alternate_on %s)", alt)
	}
	if len(ids) != 4 {
		t.Fatalf("demo program ids not read from the screen: %v", ids)
	}
	shown, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
	if err != nil {
		testutil.SkipOrFail(t, fmt.Sprintf("bpftool prog show: %v", err))
	}
	for _, id := range ids {
		if regexp.MustCompile(`(?m)^` + id + `: `).Match(shown) {
			t.Errorf("demo program %s still loaded after top exited", id)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "log")); len(log) > 0 {
		t.Logf("top's log:\n%s", log)
	}
}
