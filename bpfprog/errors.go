package bpfprog

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
)

// Sentinel errors of bpfprog, shared with every bpfprof package. Errors from
// this package wrap them with context; test with errors.Is.
var (
	// ErrNotSupported means the kernel lacks a BPF command or field.
	ErrNotSupported = errs.ErrNotSupported
	// ErrPermission means a capability is missing, usually CAP_SYS_ADMIN.
	ErrPermission = errs.ErrPermission
	// ErrNotFound means no loaded program matches a selector.
	ErrNotFound = errs.ErrNotFound
)

// kernelError wraps an error of a bpf(2) command with what was being done. A
// refusal (EPERM, EACCES) becomes an ErrPermission naming the capability:
// the kernel wants CAP_SYS_ADMIN to walk or open objects by ID, and CAP_BPF
// alone is not enough.
func kernelError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return errs.New(ErrPermission, what+" needs CAP_SYS_ADMIN (CAP_BPF is not enough): run as root")
	}
	return fmt.Errorf("%s: %w", what, err)
}
