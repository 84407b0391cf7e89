// Package testutil keeps privileged tests honest: off CI they skip with the
// reason, under CI=true (where every privilege is present) they fail.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/errs"
)

// InCI reports whether the tests run under CI (CI=true), where a privileged
// test that cannot run is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot skips the test when the process lacks root (or, under CI=true,
// fails it). what says which privilege the test needs.
func RequireRoot(tb testing.TB, what string) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	SkipOrFail(tb, fmt.Sprintf("needs root (%s)", what))
}

// SkipOrFail skips the test with reason, or fails it under CI=true.
func SkipOrFail(tb testing.TB, reason string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("cannot run under CI=true: %s", reason)
	}
	tb.Skip(reason)
}

// SkipIfNotSupported skips the test if err says the kernel or hardware lacks
// a feature. It refuses a bare sentinel: the error must carry context saying
// what is missing, so a skip always names its reason. Unlike a missing
// privilege, a missing feature (no hardware PMU in a VM) is a legitimate skip
// under CI too.
func SkipIfNotSupported(tb testing.TB, err error) {
	tb.Helper()
	if err == nil || !errors.Is(err, errs.ErrNotSupported) {
		return
	}
	if err == errs.ErrNotSupported { //nolint:errorlint // a bare sentinel is the defect
		tb.Fatal("bare ErrNotSupported without context: wrap it with what is not supported")
	}
	tb.Skip(err.Error())
}

// SkipIfNoPermission skips (or, under CI=true, fails) the test if err is a
// missing-privilege error.
func SkipIfNoPermission(tb testing.TB, err error) {
	tb.Helper()
	if err != nil && errors.Is(err, errs.ErrPermission) {
		SkipOrFail(tb, err.Error())
	}
}

// fuzzing reports whether the test binary runs as a fuzzer or fuzz worker.
func fuzzing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz=") || strings.HasPrefix(a, "-test.fuzzworker") {
			return true
		}
	}
	return false
}

// openFDs lists the process's open file descriptors with their targets.
func openFDs() map[string]string {
	fds := map[string]string{}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fds
	}
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the fd of ReadDir itself is gone by now
		}
		fds[e.Name()] = target
	}
	return fds
}

// LeakCheck runs the tests of a package and fails the run if they leave file
// descriptors or goroutines behind. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }
func LeakCheck(m *testing.M) int {
	if fuzzing() {
		// The fuzzing engine keeps goroutines (os/signal) of its own.
		return m.Run()
	}
	// The Go runtime opens its poller (an epoll and an eventfd) on first use,
	// by a pipe or by a timer such as testing's -timeout, and keeps it for
	// good: open it now so it is not counted as a leak.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	time.AfterFunc(time.Hour, func() {}).Stop()
	before := openFDs()
	goroutines := runtime.NumGoroutine()
	code := m.Run()
	if code != 0 {
		return code
	}
	// Goroutines and finalizers of the last test may need a moment to finish.
	var leaked []string
	var extraG int
	for range 50 {
		runtime.GC()
		leaked = leaked[:0]
		for fd, target := range openFDs() {
			if before[fd] != target {
				leaked = append(leaked, fd+" -> "+target)
			}
		}
		extraG = runtime.NumGoroutine() - goroutines
		if len(leaked) == 0 && extraG <= 0 {
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "leak check: %d file descriptors left open: %s\n", len(leaked), strings.Join(leaked, ", "))
	}
	if extraG > 0 {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		fmt.Fprintf(os.Stderr, "leak check: %d goroutines left running:\n%s\n", extraG, buf[:n])
	}
	return 1
}

// WorldExecutableSelf copies the running test binary into a temporary
// directory that any user may enter and returns its path, so a root test
// can run it again as another user (go test builds it in a directory only
// root may enter). The copy is removed when the test ends.
func WorldExecutableSelf(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "bpfprof-self")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Nobody is the user and group a root test runs a command as to see what
// an unprivileged user gets.
const Nobody = 65534

// AsNobody returns a command that runs bin (a WorldExecutableSelf copy)
// with args as user and group Nobody, no supplementary groups and the
// ambient capabilities caps, in bin's directory, with env added to this
// process's environment.
func AsNobody(bin string, env []string, caps []uintptr, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = filepath.Dir(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}},
		AmbientCaps: caps,
	}
	return cmd
}
