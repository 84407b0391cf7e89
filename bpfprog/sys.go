package bpfprog

// The kernel edge besides bpf(2), whose structs and wrappers are in
// internal/bpfabi: the procfs syscalls of a listing. Everything here is a
// thin wrapper; decoding lives in pure functions elsewhere.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A listing makes thousands of short syscalls that never wait: bpf object
// queries (bpfabi.BPF) and procfs lookups and reads. They go through
// RawSyscall, which does not tell the Go scheduler: with Syscall, its
// bookkeeping for each (handing processors between threads, waking and
// parking them) cost more CPU than the syscalls themselves.

// openat opens path relative to dirfd (or unix.AT_FDCWD), close-on-exec.
func openat(dirfd int, path string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// readlinkat reads the target of the link path in dirfd into buf.
func readlinkat(dirfd int, path string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// read reads from fd into buf.
func read(fd int, buf []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// getdents reads directory entries of fd into buf.
func getdents(fd int, buf []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// closeFD closes fd.
func closeFD(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// bootTime reads CLOCK_BOOTTIME, the clock of bpf_prog_info.load_time.
func bootTime() int64 {
	var ts unix.Timespec
	// CLOCK_BOOTTIME always exists on the kernels bpfprof supports.
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return ts.Nano()
}
