package sampler

import (
	"errors"
	"fmt"
	"os"
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
		return fmt.Errorf("open %s on cpu %d: %w (%s): %s", e, cpu, ErrPermission, errnoName(err), permissionHint(opts))
	case errors.Is(err, unix.EINVAL) && opts.Frequency > 0:
		if max, ok := readIntFile("/proc/sys/kernel/perf_event_max_sample_rate"); ok && int64(opts.Frequency) > max {
			return fmt.Errorf("open %s on cpu %d: frequency %d Hz is above kernel.perf_event_max_sample_rate (%d): %w",
				e, cpu, opts.Frequency, max, err)
		}
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("open %s on cpu %d: %w: process gone (%v)", e, cpu, ErrNotFound, err)
	}
	return fmt.Errorf("open %s on cpu %d: %w", e, cpu, err)
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

// permissionHint says which privilege the sampling opts need.
func permissionHint(opts *Options) string {
	need := "0"
	what := "sampling every process on a CPU"
	if len(opts.PIDs) > 0 && opts.Cgroup == "" {
		need, what = "1", "sampling the kernel"
	}
	cur := "unknown"
	if v, ok := readIntFile("/proc/sys/kernel/perf_event_paranoid"); ok {
		cur = fmt.Sprint(v)
	}
	return fmt.Sprintf("%s needs root, CAP_PERFMON (or CAP_SYS_ADMIN), or kernel.perf_event_paranoid <= %s (it is %s)",
		what, need, cur)
}

func readIntFile(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	var v int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &v); err != nil {
		return 0, false
	}
	return v, true
}
