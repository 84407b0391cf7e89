// Package bpfabi holds the kernel's bpf(2) ABI as bpfprof uses it: the
// members of union bpf_attr for the commands it issues, the structs
// BPF_OBJ_GET_INFO_BY_FD fills (struct bpf_prog_info, struct bpf_func_info,
// struct bpf_btf_info, struct bpf_link_info), and thin wrappers over the
// syscall. It decodes nothing; package bpfprog does.
//
// Everything here follows include/uapi/linux/bpf.h as of Linux 6.18. The
// kernel accepts a struct larger than the one it knows if the tail is zero,
// and copies back only the prefix it knows: on an older kernel the newer
// fields stay zero.
package bpfabi

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The structs below hold the kernel's __aligned_u64 user pointers as
// unsafe.Pointer, so the garbage collector sees them and a goroutine stack
// that moves between filling a struct and the syscall carries them along.
// That needs 64-bit pointers: the assertion below fails to compile elsewhere.
var _ [unsafe.Sizeof(unsafe.Pointer(nil)) - 8]struct{}

// IDAttr must match the member of union bpf_attr that the
// BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID commands read: start_id (or
// prog_id, map_id, btf_id, link_id), next_id, open_flags.
type IDAttr struct {
	ID        uint32 // start_id for GET_NEXT_ID; the object for GET_FD_BY_ID
	NextID    uint32 // filled by GET_NEXT_ID
	OpenFlags uint32 // BPF_F_RDONLY and the like, for GET_FD_BY_ID
}

// InfoAttr must match the info member of union bpf_attr, which
// BPF_OBJ_GET_INFO_BY_FD reads.
type InfoAttr struct {
	BPFFD   uint32
	InfoLen uint32         // in: size of the buffer; out: bytes written
	Info    unsafe.Pointer // struct bpf_prog_info, bpf_btf_info, ...
}

// ObjGetAttr must match the member of union bpf_attr that BPF_OBJ_GET reads:
// pathname, bpf_fd, file_flags, path_fd (Linux 6.5), padded to 8 bytes.
type ObjGetAttr struct {
	Pathname  unsafe.Pointer // NUL-terminated path in a BPF file system
	BPFFD     uint32         // unused by BPF_OBJ_GET
	FileFlags uint32         // BPF_F_RDONLY, BPF_F_WRONLY
	PathFD    int32          // with BPF_F_PATH_FD in FileFlags
	_         uint32
}

// ProgInfoGPLCompatible is the bit of ProgInfo.Flags that is the
// gpl_compatible bitfield.
const ProgInfoGPLCompatible = 1 << 0

// ProgInfo must match struct bpf_prog_info. Array fields are filled only if
// the caller points them at a buffer and says its length in the matching
// Nr field; the kernel then writes the real count there, which may exceed
// the buffer (it copies only what fits). Fields by kernel version: RunTimeNs
// and RunCnt from Linux 5.8, RecursionMisses from 5.12, VerifiedInsns from
// 5.16, AttachBTFObjID and AttachBTFID from 6.0.
type ProgInfo struct {
	Type                 uint32 // enum bpf_prog_type
	ID                   uint32
	Tag                  [8]byte
	JitedProgLen         uint32
	XlatedProgLen        uint32
	JitedProgInsns       unsafe.Pointer
	XlatedProgInsns      unsafe.Pointer
	LoadTime             uint64 // ns on CLOCK_BOOTTIME
	CreatedByUID         uint32
	NrMapIDs             uint32
	MapIDs               unsafe.Pointer // []uint32
	Name                 [16]byte       // NUL-terminated
	Ifindex              uint32
	Flags                uint32 // ProgInfoGPLCompatible
	NetnsDev             uint64
	NetnsIno             uint64
	NrJitedKsyms         uint32
	NrJitedFuncLens      uint32
	JitedKsyms           unsafe.Pointer // []uint64
	JitedFuncLens        unsafe.Pointer // []uint32
	BTFID                uint32
	FuncInfoRecSize      uint32
	FuncInfo             unsafe.Pointer // []FuncInfo
	NrFuncInfo           uint32
	NrLineInfo           uint32
	LineInfo             unsafe.Pointer
	JitedLineInfo        unsafe.Pointer
	NrJitedLineInfo      uint32
	LineInfoRecSize      uint32
	JitedLineInfoRecSize uint32
	NrProgTags           uint32
	ProgTags             unsafe.Pointer
	RunTimeNs            uint64
	RunCnt               uint64
	RecursionMisses      uint64
	VerifiedInsns        uint32
	AttachBTFObjID       uint32
	AttachBTFID          uint32
	_                    uint32
}

// FuncInfo must match struct bpf_func_info: where a BPF function starts and
// its BTF type. ProgInfo.FuncInfoRecSize is its size.
type FuncInfo struct {
	InsnOff uint32 // in instructions of the translated program
	TypeID  uint32 // a BTF_KIND_FUNC in the program's BTF
}

// LineInfo must match struct bpf_line_info: where a source line's code
// starts and where its text is. ProgInfo.LineInfoRecSize is its size.
type LineInfo struct {
	InsnOff     uint32 // in instructions of the translated program
	FileNameOff uint32 // in the string section of the program's BTF
	LineOff     uint32 // likewise: the line's source text
	LineCol     uint32 // line number << 10 | column
}

// LineCol packs a line number and a column in LineInfo.LineCol.
const (
	LineShift  = 10
	ColumnMask = 1<<LineShift - 1
)

// BTFInfo must match struct bpf_btf_info. KernelBTF (Linux 5.11) is set for
// vmlinux and module BTF.
type BTFInfo struct {
	BTF       unsafe.Pointer // buffer for the raw BTF
	BTFSize   uint32         // in: size of BTF; out: size of the object
	ID        uint32
	Name      unsafe.Pointer // buffer for the name ("vmlinux", a module)
	NameLen   uint32
	KernelBTF uint32
}

// LinkInfoSize is the size of struct bpf_link_info: type, id, prog_id,
// padding, and a 48-byte union of per-type members at LinkInfoUnion.
const LinkInfoSize = 64

// Offsets in struct bpf_link_info.
const (
	// LinkInfoType, LinkInfoID and LinkInfoProgID are the header: the
	// link's enum bpf_link_type, its ID and its program's ID.
	LinkInfoType   = 0
	LinkInfoID     = 4
	LinkInfoProgID = 8
	// LinkInfoUnion is where the per-type members begin.
	LinkInfoUnion = 16

	// Where a name buffer's pointer and length go, per link type:
	// raw_tracepoint.tp_name and tp_name_len, iter.target_name and
	// target_name_len, perf_event.{uprobe,kprobe,tracepoint}'s name
	// pointer and name_len (after perf_event.type at 16), and
	// uprobe_multi.path and path_size.
	LinkRawTPName, LinkRawTPNameLen              = 16, 24
	LinkIterName, LinkIterNameLen                = 16, 24
	LinkPerfEventType                            = 16
	LinkPerfEventName, LinkPerfEventLen          = 24, 32
	LinkUprobeMultiPath, LinkUprobeMultiPathSize = 16, 48
)

// LinkInfoName16 is a struct bpf_link_info set up to ask for a name whose
// buffer pointer is at offset 16 (raw_tracepoint.tp_name, iter.target_name,
// uprobe_multi.path); the caller puts the buffer's length in Rest.
type LinkInfoName16 struct {
	Head [LinkInfoUnion]byte
	Name unsafe.Pointer
	Rest [LinkInfoSize - LinkInfoUnion - 8]byte
}

// LinkInfoName24 is a struct bpf_link_info set up to ask for the name of a
// perf_event link: perf_event.type, then the name pointer (uprobe
// file_name, kprobe func_name, tracepoint tp_name); the caller puts the
// buffer's length (name_len, at LinkPerfEventLen) in Rest.
type LinkInfoName24 struct {
	Head     [LinkInfoUnion]byte
	PerfType uint32 // enum bpf_perf_event_type
	_        uint32
	Name     unsafe.Pointer
	Rest     [LinkInfoSize - LinkPerfEventName - 8]byte
}

// BPF calls bpf(2) with command cmd (unix.BPF_*) and the size bytes of attr,
// returning the syscall's result (a new fd for the commands that open
// objects).
//
// It uses RawSyscall, which does not tell the Go scheduler: the commands
// bpfprof issues in bulk (walking IDs, opening objects, reading their info)
// never block, and listing hundreds of programs makes thousands of them.
// With Syscall, the scheduler's bookkeeping for each (handing processors
// between threads, waking and parking them) cost more CPU than the calls.
// Commands that may take long, such as BPF_PROG_TEST_RUN, belong with
// unix.Syscall.
func BPF(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// NextID returns the ID following id for cmd, one of the BPF_*_GET_NEXT_ID
// commands; ok is false at the end of the list (ENOENT). Requires
// CAP_SYS_ADMIN.
func NextID(cmd int, id uint32) (next uint32, ok bool, err error) {
	attr := IDAttr{ID: id}
	_, err = BPF(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if errors.Is(err, unix.ENOENT) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return attr.NextID, true, nil
}

// FDByID opens the object with id for cmd, one of the BPF_*_GET_FD_BY_ID
// commands; ENOENT if there is none. The fd is close-on-exec. Requires
// CAP_SYS_ADMIN.
func FDByID(cmd int, id uint32) (int, error) {
	attr := IDAttr{ID: id}
	return BPF(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// ObjInfo runs BPF_OBJ_GET_INFO_BY_FD on fd into the size bytes at info: a
// ProgInfo, BTFInfo or struct bpf_link_info, with any buffers it points to.
func ObjInfo(fd int, info unsafe.Pointer, size uintptr) error {
	attr := InfoAttr{BPFFD: uint32(fd), InfoLen: uint32(size), Info: info}
	_, err := BPF(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&attr)
	return err
}

// ObjGet opens the object pinned at path in a BPF file system with
// BPF_OBJ_GET; fileFlags is 0, unix.BPF_F_RDONLY or unix.BPF_F_WRONLY. The
// fd is close-on-exec.
func ObjGet(path string, fileFlags uint32) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	attr := ObjGetAttr{Pathname: unsafe.Pointer(p), FileFlags: fileFlags}
	fd, err := BPF(unix.BPF_OBJ_GET, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	return fd, err
}

// TaskFDQueryAttr must match the task_fd_query member of union bpf_attr,
// which BPF_TASK_FD_QUERY (Linux 4.19) reads and fills: given a process and
// one of its perf event (or raw tracepoint) fds, the program attached there
// and what the event is.
type TaskFDQueryAttr struct {
	PID    uint32
	FD     uint32
	Flags  uint32
	BufLen uint32         // in: size of Buf; out: length of the name
	Buf    unsafe.Pointer // out: tracepoint, kprobe function or uprobe file name
	ProgID uint32         // out
	FDType uint32         // out: BPF_FD_TYPE_*
	// ProbeOffset and ProbeAddr are a kprobe's or uprobe's offset, and a
	// kprobe's address where it was given by address.
	ProbeOffset uint64
	ProbeAddr   uint64
}

// TaskFDQuery runs BPF_TASK_FD_QUERY on attr. Requires CAP_SYS_ADMIN.
func TaskFDQuery(attr *TaskFDQueryAttr) error {
	_, err := BPF(unix.BPF_TASK_FD_QUERY, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
	runtime.KeepAlive(attr)
	return err
}
