// Package errs holds the sentinel errors shared by every bpfprof package.
//
// Packages re-export the ones their callers need (sampler.ErrNotSupported,
// bpfprog.ErrPermission, ...). Errors are always wrapped with context and %w,
// so callers test them with errors.Is.
package errs

import "errors"

var (
	// ErrNotSupported means the kernel or the hardware lacks a feature:
	// a hardware PMU, a perf_event_attr bit, a BPF command.
	ErrNotSupported = errors.New("not supported")
	// ErrPermission means a privilege is missing: CAP_BPF, CAP_PERFMON,
	// CAP_SYS_ADMIN, or perf_event_paranoid / kptr_restrict forbid the access.
	ErrPermission = errors.New("permission denied")
	// ErrNotFound means a program, event or symbol does not exist.
	ErrNotFound = errors.New("not found")
)
