package sampler

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
)

var (
	// ErrNotSupported means the kernel or the hardware lacks what was asked:
	// a hardware PMU for cycles, a perf_event_attr bit of a newer kernel.
	ErrNotSupported = errs.ErrNotSupported
	// ErrPermission means a privilege is missing: CAP_PERFMON (or
	// CAP_SYS_ADMIN), or kernel.perf_event_paranoid forbids the access.
	ErrPermission = errs.ErrPermission
	// ErrNotFound means an event name or a process does not exist.
	ErrNotFound = errs.ErrNotFound
)

// openError turns the error of perf_event_open for event e on cpu into one
// that says what to do about it.
func openError(e Event, cpu int, opts *Options, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENODEV):
		if e.IsHardware() {
			return fmt.Errorf("%s: %w on this machine (no hardware PMU?); try -e cpu-clock", e, ErrNotSupported)
		}
		return fmt.Errorf("open %s on cpu %d: %w by this kernel (%v)", e, cpu, ErrNotSupported, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("open %s on cpu %d: %w (%s): %s", e, cpu, ErrPermission, errnoName(err), permissionHint(e, opts))
	case errors.Is(err, unix.EINVAL) && opts.Frequency > 0:
		if max, ok := readIntFile(maxSampleRateFile); ok && int64(opts.Frequency) > max {
			return fmt.Errorf("open %s on cpu %d: frequency %d Hz is above kernel.perf_event_max_sample_rate (%d): %w",
				e, cpu, opts.Frequency, max, err)
		}
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("open %s on cpu %d: %w: process gone (%v)", e, cpu, ErrNotFound, err)
	}
	return fmt.Errorf("open %s on cpu %d: %w", e, cpu, err)
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
	}
	return err.Error()
}

// permissionHint says which privilege opening e for opts needs, as
// perf_event_open checks them: an event on every process of a CPU (no PIDs,
// or a cgroup) needs perf_event_paranoid <= 0; one on a process needs <= 1
// if it counts kernel code, <= 2 if not, and ptrace access to the process
// (same user, not setuid). CAP_PERFMON or CAP_SYS_ADMIN lift all of it.
func permissionHint(e Event, opts *Options) string {
	paranoid, known := readIntFile("/proc/sys/kernel/perf_event_paranoid")
	cur := "unknown"
	if known {
		cur = fmt.Sprint(paranoid)
	}
	const privileged = "root, CAP_PERFMON (or CAP_SYS_ADMIN)"
	switch {
	case len(opts.PIDs) == 0 || opts.Cgroup != "":
		return fmt.Sprintf("sampling every process on a CPU needs %s, or kernel.perf_event_paranoid <= 0 (it is %s)", privileged, cur)
	case !e.ExcludesKernel() && (!known || paranoid > 1):
		return fmt.Sprintf("sampling the kernel needs %s, or kernel.perf_event_paranoid <= 1 (it is %s); "+
			"or sample user space only with a :u event", privileged, cur)
	case known && paranoid > 2:
		return fmt.Sprintf("kernel.perf_event_paranoid is %d: this kernel lets only %s use perf events", paranoid, privileged)
	}
	return fmt.Sprintf("sampling process %s needs %s, or to be its user (ptrace access: same uid, not setuid)",
		pidList(opts.PIDs), privileged)
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// readIntFile reads a number from a /proc/sys file.
func readIntFile(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}
