package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a command profiled from its first instruction, as perf record --
// COMMAND does. perf forks, opens its events on the child with
// enable_on_exec and lets it exec; Go cannot run code between fork and exec,
// so the child is started traced instead, stops at its exec (PTRACE_TRACEME
// makes execve stop the process), the events are opened on it while it
// stands still, and release detaches it to run.
type child struct {
	cmd *exec.Cmd
	pid int

	detach   chan struct{} // closed to make the tracer detach
	detached chan error    // the tracer's detach result

	released bool
	done     chan struct{} // closed when the child has been waited for
	state    *os.ProcessState
	waitErr  error
	signaled bool // we asked it to stop
}

// childStatus says how the command ended.
type childStatus struct {
	state    *os.ProcessState
	err      error
	signaled bool
}

func (s *childStatus) String() string {
	switch {
	case s.err != nil:
		return fmt.Sprintf("could not be waited for: %v", s.err)
	case s.state == nil:
		return "status unknown"
	}
	ws, _ := s.state.Sys().(syscall.WaitStatus)
	switch {
	case s.stoppedByUs(ws):
		return fmt.Sprintf("was still running at the end of the recording and was stopped (%v)", ws.Signal())
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return s.state.String()
}

// stoppedByUs reports whether the command died of the signals stop sends.
// Killed by another one, such as the SIGINT of a Ctrl-C that reaches the
// whole process group, it ended by itself.
func (s *childStatus) stoppedByUs(ws syscall.WaitStatus) bool {
	return s.signaled && ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL)
}

// exitCode is the code bpfprof passes on, as a shell reports a command's
// end: its exit status, or 128 plus the signal that killed it. A command
// that bpfprof stopped at the end of the recording (-d) ended as asked: 0.
func (s *childStatus) exitCode() int {
	if s.err != nil || s.state == nil {
		return 1
	}
	ws, _ := s.state.Sys().(syscall.WaitStatus)
	switch {
	case s.stoppedByUs(ws), s.signaled && ws.Exited():
		return 0
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// commandError is a command that could not be run at all. Its code is the
// exit code shells and perf give it: 127 for a command that does not exist,
// 126 for one that cannot be executed.
type commandError struct {
	name string
	code int
	err  error
}

func (e commandError) Error() string { return fmt.Sprintf("command %s: %v", e.name, e.err) }
func (e commandError) Unwrap() error { return e.err }

// newCommandError classifies err, from looking up or executing command
// name. The reason is kept without the path or syscall it came with, which
// repeat the name.
func newCommandError(name string, err error) commandError {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = 127
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	} else if ee := (*exec.Error)(nil); errors.As(err, &ee) {
		err = ee.Err
	}
	return commandError{name: name, code: code, err: err}
}

// startChild starts argv stopped at its exec. Its standard input is ours.
// A command that cannot be run is a commandError.
func startChild(argv []string, stdout, stderr io.Writer) (*child, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, newCommandError(argv[0], err)
	}
	c := &child{
		detach:   make(chan struct{}),
		detached: make(chan error, 1),
		done:     make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// ptrace requests must come from the tracing thread. The thread is
		// never unlocked, so it exits with this goroutine and no other
		// goroutine runs on a thread that traced something.
		runtime.LockOSThread()
		cmd := &exec.Cmd{
			Path:        path,
			Args:        argv,
			Stdin:       os.Stdin,
			Stdout:      stdout,
			Stderr:      stderr,
			SysProcAttr: &syscall.SysProcAttr{Ptrace: true},
		}
		if err := cmd.Start(); err != nil {
			started <- newCommandError(argv[0], err)
			return
		}
		pid := cmd.Process.Pid
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err == nil && !ws.Stopped() {
			err = fmt.Errorf("it ended before running (%v)", waitString(ws))
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			started <- fmt.Errorf("start %s: %w", argv[0], err)
			return
		}
		c.cmd, c.pid = cmd, pid
		started <- nil
		<-c.detach
		c.detached <- syscall.PtraceDetach(pid)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

func waitString(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return ws.Signal().String()
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// release lets the child run, and starts waiting for its end (done).
func (c *child) release() error {
	if c.released {
		return nil
	}
	c.released = true
	close(c.detach)
	err := <-c.detached
	// Waiting before the detach would report its ptrace stop as an end.
	go func() {
		err := c.cmd.Wait()
		if c.state = c.cmd.ProcessState; c.state == nil {
			c.waitErr = err
		}
		close(c.done)
	}()
	if err != nil {
		c.cmd.Process.Kill()
		return fmt.Errorf("let %s run: %w", c.cmd.Args[0], err)
	}
	return nil
}

// awaitExit waits up to d for the end of a child known to have exited, so
// that stop reports how it ended rather than stopping it.
func (c *child) awaitExit(d time.Duration) {
	if !c.released {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
}

// stop ends the child if it still runs (SIGTERM, then SIGKILL after a grace
// period, as perf does at the end of a recording) and returns how it ended.
func (c *child) stop() *childStatus {
	c.release()
	select {
	case <-c.done:
	default:
		c.signaled = true
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	return &childStatus{state: c.state, err: c.waitErr, signaled: c.signaled}
}

// kill ends the child at once if it still runs, and reaps it. For error
// paths; a no-op after stop.
func (c *child) kill() {
	if !c.released {
		// A traced, stopped process dies of SIGKILL without running on.
		c.cmd.Process.Kill()
	}
	c.release()
	select {
	case <-c.done:
	default:
		c.signaled = true
		c.cmd.Process.Kill()
		<-c.done
	}
}
