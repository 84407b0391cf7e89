package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// tmuxSession is one detached tmux server of a test, on its own socket.
type tmuxSession struct {
	t      *testing.T
	socket string
}

// startTmux starts cmd in a detached tmux session of width×height on a
// server of the test's own; the server is killed when the test ends.
// Keys sent before the program has put the terminal in raw mode go
// through the line discipline: wait for its first screen.
func startTmux(t *testing.T, width, height int, cmd string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testutil.SkipOrFail(t, "needs tmux (apt-get install tmux)")
	}
	// The socket lives in the test's directory, which goes with the test
	// (a killed tmux server leaves its socket file behind).
	s := &tmuxSession{t: t, socket: filepath.Join(t.TempDir(), "tmux")}
	out, err := exec.Command("tmux", "-S", s.socket, "-f", "/dev/null", "new-session", "-d",
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// demoNames are the programs 'top --demo' loads.
var demoNames = []string{"bpfprof_hot_loop_socket", "bpfprof_xdp_main", "bpfprof_maps", "bpfprof_sys_enter"}

// child returns the pid of the process the pane's shell runs.
func (s *tmuxSession) child(t *testing.T) int {
	t.Helper()
	shell := strings.TrimSpace(s.tmux("display-message", "-p", "#{pane_pid}"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%s/task/%s/children", shell, shell))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell %s started no command", shell)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tableRows are the lines of the program table on a screen: those after
// the column titles, up to the first empty one.
func tableRows(screen string) []string {
	var rows []string
	in := false
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(l, "NAME") && strings.Contains(l, "RUNS/s"):
			in = true
		case in && strings.TrimSpace(l) == "":
			return rows
		case in:
			rows = append(rows, l)
		}
	}
	return rows
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

	// Other tests on the machine load programs of the same names: the
	// filter keeps top's own, which name it as their owner.
	own := fmt.Sprintf("bpfprof(%d)", s.child(t))
	// Keys typed before top puts the terminal in raw mode would pass
	// through the line discipline (enter becoming ^J).
	s.waitFor("the first screen", 20*time.Second, func(scr string) bool { return strings.Contains(scr, "programs") })
	s.keys("/", own, "Enter")
	var ids []string
	s.waitFor("the demo programs with runs", 30*time.Second, func(scr string) bool {
		ids = ids[:0]
		for _, name := range demoNames {
			runs, ok := column(scr, name, "RUNS/s")
			if v, err := parseCount(runs); !ok || err != nil || v <= 0 {
				return false
			}
			if m := regexp.MustCompile(`(?m)^.\s*(\d+) .*` + name).FindStringSubmatch(scr); m != nil {
				ids = append(ids, m[1])
			}
		}
		return strings.Contains(scr, "filter: "+own+"  (/ to change")
	})

	s.keys("s")
	s.waitFor("the table sorted by SAMPLED%", 15*time.Second, func(scr string) bool { return strings.Contains(scr, "SAMPLED%↓") })

	// Down (or up) to the hot loop, wherever the sort puts it: rows move
	// as their SAMPLED% changes, so steer by the screen until the cursor,
	// which then follows the program, is on it. A test that pressed j as
	// often as the first screen said ended on another program when two
	// rows swapped meanwhile.
	s.waitFor("the cursor on the hot loop", 30*time.Second, func(scr string) bool {
		rows := tableRows(scr)
		at := slices.IndexFunc(rows, func(l string) bool { return strings.Contains(l, "bpfprof_hot_loop_socket") })
		cur := slices.IndexFunc(rows, func(l string) bool { return strings.HasPrefix(l, ">") })
		if at < 0 {
			t.Fatalf("no hot loop row:\n%s", scr)
		}
		switch {
		case cur < 0: // not drawn yet
		case cur < at:
			s.keys("j") // one step a screen: keys may wait while top draws
		case cur > at:
			s.keys("k")
		}
		return cur == at
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

// waitExit waits until process pid has gone.
func waitExit(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs %s after the signal", pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTopSignals ends top with SIGTERM and SIGQUIT, and with SIGHUP by
// closing its terminal: each time it must leave as q does (its log says
// so), with the terminal restored where one is left.
func TestTopSignals(t *testing.T) {
	testutil.RequireRoot(t, "top samples the machine")
	bin, err := bpfprofBuild.build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig    string
		signal syscall.Signal // 0: close the terminal
	}{{"TERM", syscall.SIGTERM}, {"QUIT", syscall.SIGQUIT}, {"HUP", 0}} {
		sig, signal := tc.sig, tc.signal
		t.Run(sig, func(t *testing.T) {
			dir := t.TempDir()
			done := filepath.Join(dir, "done")
			log := filepath.Join(dir, "log")
			cmd := fmt.Sprintf("%s top --demo --log %s; echo \"exit=$?\" > %s.tmp; stty -a >> %s.tmp; mv %s.tmp %s; sleep 60",
				bin, log, done, done, done, done)
			s := startTmux(t, 100, 30, cmd)
			pid := s.child(t)
			own := fmt.Sprintf("bpfprof(%d)", pid)
			s.waitFor("the first screen", 20*time.Second, func(scr string) bool { return strings.Contains(scr, "programs") })
			s.keys("/", own, "Enter")
			s.waitFor("the demo programs", 20*time.Second, func(scr string) bool {
				rows := tableRows(scr)
				return len(rows) == len(demoNames) && strings.Contains(rows[0], own)
			})
			if signal != 0 {
				if err := syscall.Kill(pid, signal); err != nil {
					t.Fatal(err)
				}
			} else {
				s.tmux("kill-server")
			}
			waitExit(t, pid, 20*time.Second)
			if b, _ := os.ReadFile(log); !strings.Contains(string(b), "ended by a signal") {
				t.Errorf("top's log does not say it ended on the signal:\n%s", b)
			}
			if sig == "HUP" {
				return
			}
			var st []byte
			deadline := time.Now().Add(10 * time.Second)
			for st, err = os.ReadFile(done); err != nil; st, err = os.ReadFile(done) {
				if time.Now().After(deadline) {
					t.Fatalf("the shell did not go on after top; screen:\n%s", s.screen())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.HasPrefix(string(st), "exit=0\n") || !strings.Contains(string(st), " icanon") {
				t.Errorf("after SIG%s: exit status or terminal not restored:\n%s", sig, st)
			}
		})
	}
}

// loadChurn loads n programs named name and unloads all but the
// last keep ones it returns.
func loadChurn(t *testing.T, name string, n int, keep ...int) []*ebpf.Program {
	t.Helper()
	k := 0
	if len(keep) > 0 {
		k = keep[0]
	}
	var kept []*ebpf.Program
	spec := &ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.SocketFilter,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}
	for i := range n {
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		if i >= n-k {
			kept = append(kept, p)
			t.Cleanup(func() { p.Close() })
			continue
		}
		p.Close()
	}
	return kept
}

func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestTopChurn loads and unloads 1000 programs while top refreshes every
// 100ms: top must keep running, hold no more file descriptors than before,
// and show none of them once they are gone.
func TestTopChurn(t *testing.T) {
	testutil.RequireRoot(t, "top and the churn need CAP_SYS_ADMIN and CAP_BPF")
	bin, err := bpfprofBuild.build()
	if err != nil {
		t.Fatal(err)
	}
	s := startTmux(t, 120, 30, fmt.Sprintf("exec %s top -d 0.1 --log %s/log", bin, t.TempDir()))
	pid := strings.TrimSpace(s.tmux("display-message", "-p", "#{pane_pid}"))
	topPID, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor("the first screen", 20*time.Second, func(scr string) bool { return strings.Contains(scr, "programs") })
	// A name of this run's own: bpfprog's tests churn programs named
	// bpfprof_churn at the same time, and so may another run of this test.
	// (The trailing _ keeps pid 12 from matching pid 123's.)
	name := fmt.Sprintf("bpfpc%d_", os.Getpid())
	s.keys("/", name, "Enter")
	s.waitFor("the filter", 15*time.Second, func(scr string) bool { return strings.Contains(scr, "filter: "+name+"  (") })
	before := fdCount(t, topPID)

	kept := loadChurn(t, name, 1000, 5)
	s.waitFor("the 5 programs left", 20*time.Second, func(scr string) bool {
		rows := tableRows(scr)
		return len(rows) == 5 && !slices.ContainsFunc(rows, func(r string) bool { return !strings.Contains(r, name) })
	})
	for _, p := range kept {
		p.Close()
	}
	s.waitFor("the churned programs gone from the table", 20*time.Second, func(scr string) bool {
		// With no other program on the machine, the table says none
		// is loaded at all.
		return strings.Contains(scr, `no program matches "`+name+`"`) || strings.Contains(scr, "no BPF programs are loaded")
	})
	if after := fdCount(t, topPID); after > before {
		t.Errorf("top holds %d file descriptors after the churn, %d before", after, before)
	}
	s.keys("q")
	waitExit(t, topPID, 20*time.Second)
}
