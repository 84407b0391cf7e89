package bpfprog

// The kernel edge besides bpf(2), whose structs and wrappers are in
// internal/bpfabi: the procfs syscalls of a listing. Everything here is a
// thin wrapper; decoding lives in pure functions elsewhere.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A listing makes thousands of short procfs lookups and reads. They go
// through Syscall, not RawSyscall, although the scheduler's bookkeeping
// costs CPU on each: a procfs read can sleep (on a process's mmap lock, its
// files' lock, a slow filesystem behind a link), and a RawSyscall that
// sleeps holds its Go processor all along, stalling the goroutines queued
// on it (the ring reader among them).

// openat opens path relative to dirfd (or unix.AT_FDCWD), close-on-exec.
func openat(dirfd int, path string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	r, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
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
	r, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// read reads from fd into buf.
func read(fd int, buf []byte) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// getdents reads directory entries of fd into buf.
func getdents(fd int, buf []byte) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// closeFD closes fd.
func closeFD(fd int) {
	unix.Syscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// bootTime reads CLOCK_BOOTTIME, the clock of bpf_prog_info.load_time.
func bootTime() int64 {
	var ts unix.Timespec
	// CLOCK_BOOTTIME always exists on the kernels bpfprof supports.
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return ts.Nano()
}
