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

// New returns an error with message msg that matches sentinel with
// errors.Is, for messages that already say in words what went wrong (the
// sentinel's own text would add nothing).
func New(sentinel error, msg string) error { return &messageError{msg, sentinel} }

// Mark returns an error that reads as err and matches both err's chain and
// sentinel with errors.Is and errors.As.
func Mark(err, sentinel error) error { return &markedError{err, sentinel} }

type messageError struct {
	msg      string
	sentinel error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.sentinel }

type markedError struct {
	err      error
	sentinel error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.err, e.sentinel} }
