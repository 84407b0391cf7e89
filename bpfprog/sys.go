package bpfprog

// The kernel edge: bpf(2) commands and the structs they fill. Everything here
// is a thin wrapper; decoding lives in pure functions elsewhere.

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// idAttr must match the BPF_*_GET_NEXT_ID / BPF_*_GET_FD_BY_ID member of
// union bpf_attr: start_id (or prog_id, link_id, btf_id), next_id, open_flags.
type idAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// The structs below hold the kernel's __aligned_u64 user pointers as
// unsafe.Pointer, so the garbage collector sees them and a goroutine stack
// that moves between filling a struct and the syscall carries them along.
// That needs 64-bit pointers: the assertion below fails to compile elsewhere.
var _ [unsafe.Sizeof(unsafe.Pointer(nil)) - 8]struct{}

// infoAttr must match the BPF_OBJ_GET_INFO_BY_FD member of union bpf_attr.
type infoAttr struct {
	fd      uint32
	infoLen uint32
	info    unsafe.Pointer
}

// objGetAttr must match the BPF_OBJ_GET member of union bpf_attr.
type objGetAttr struct {
	pathname  unsafe.Pointer
	fd        uint32
	fileFlags uint32
	pathFD    int32
	_         uint32
}

// progInfo must match struct bpf_prog_info (include/uapi/linux/bpf.h, Linux
// 6.18). Fields newer than the running kernel stay zero: the kernel copies
// back only the prefix it knows.
type progInfo struct {
	typ                  uint32
	id                   uint32
	tag                  [8]byte
	jitedProgLen         uint32
	xlatedProgLen        uint32
	jitedProgInsns       unsafe.Pointer
	xlatedProgInsns      unsafe.Pointer
	loadTime             uint64 // ns since boot
	createdByUID         uint32
	nrMapIDs             uint32
	mapIDs               unsafe.Pointer
	name                 [16]byte
	ifindex              uint32
	flags                uint32 // bit 0: gpl_compatible
	netnsDev             uint64
	netnsIno             uint64
	nrJitedKsyms         uint32
	nrJitedFuncLens      uint32
	jitedKsyms           unsafe.Pointer
	jitedFuncLens        unsafe.Pointer
	btfID                uint32
	funcInfoRecSize      uint32
	funcInfo             unsafe.Pointer
	nrFuncInfo           uint32
	nrLineInfo           uint32
	lineInfo             unsafe.Pointer
	jitedLineInfo        unsafe.Pointer
	nrJitedLineInfo      uint32
	lineInfoRecSize      uint32
	jitedLineInfoRecSize uint32
	nrProgTags           uint32
	progTags             unsafe.Pointer
	runTimeNs            uint64
	runCnt               uint64
	recursionMisses      uint64
	verifiedInsns        uint32
	attachBTFObjID       uint32
	attachBTFID          uint32
	_                    uint32
}

// funcInfoRec must match struct bpf_func_info.
type funcInfoRec struct {
	insnOff uint32
	typeID  uint32
}

// btfInfo must match struct bpf_btf_info.
type btfInfo struct {
	btf       unsafe.Pointer
	btfSize   uint32
	id        uint32
	name      unsafe.Pointer
	nameLen   uint32
	kernelBTF uint32
}

// linkInfoSize is the size of struct bpf_link_info in Linux 6.18: type, id,
// prog_id, padding, and a 48-byte union. Kernels reject a larger buffer only
// if its tail is not zero, so a bigger buffer would also be fine.
const linkInfoSize = 64

// linkInfoName16 is a struct bpf_link_info asking for a name whose buffer
// pointer is at offset 16 of the union (raw_tracepoint.tp_name,
// iter.target_name, uprobe_multi.path); the length goes in rest.
type linkInfoName16 struct {
	head [16]byte
	name unsafe.Pointer
	rest [linkInfoSize - 24]byte
}

// linkInfoName24 is a struct bpf_link_info asking for the name of a
// perf_event link: perf_event.type at 16, the name pointer at 24 (uprobe
// file_name, kprobe func_name, tracepoint tp_name) and its length at 32.
type linkInfoName24 struct {
	head     [16]byte
	perfType uint32
	_        uint32
	name     unsafe.Pointer
	rest     [linkInfoSize - 32]byte
}

// A listing makes thousands of short syscalls that never wait: bpf object
// queries and procfs lookups and reads. They go through RawSyscall, which
// does not tell the Go scheduler: with Syscall, its bookkeeping for each
// (handing processors between threads, waking and parking them) cost more
// CPU than the syscalls themselves.

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

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

// nextID returns the ID following id for a BPF_*_GET_NEXT_ID command; ok is
// false at the end of the list (ENOENT).
func nextID(cmd int, id uint32) (next uint32, ok bool, err error) {
	attr := idAttr{id: id}
	_, err = bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if errors.Is(err, unix.ENOENT) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return attr.nextID, true, nil
}

// fdByID opens the object with id for a BPF_*_GET_FD_BY_ID command.
func fdByID(cmd int, id uint32) (int, error) {
	attr := idAttr{id: id}
	return bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// objInfo runs BPF_OBJ_GET_INFO_BY_FD on fd into the size bytes at info.
func objInfo(fd int, info unsafe.Pointer, size uintptr) error {
	attr := infoAttr{fd: uint32(fd), infoLen: uint32(size), info: info}
	_, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&attr)
	return err
}

// objGet opens a pinned object with BPF_OBJ_GET, read-only.
func objGet(path string) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	attr := objGetAttr{pathname: unsafe.Pointer(p), fileFlags: unix.BPF_F_RDONLY}
	fd, err := bpf(unix.BPF_OBJ_GET, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	return fd, err
}

// bootTime reads CLOCK_BOOTTIME, the clock of bpf_prog_info.load_time.
func bootTime() int64 {
	var ts unix.Timespec
	// CLOCK_BOOTTIME always exists on the kernels bpfprof supports.
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return ts.Nano()
}
