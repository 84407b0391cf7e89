// Package perfabi holds the kernel's perf_event ABI as bpfprof uses it: the
// layouts of struct perf_event_header and struct perf_event_mmap_page, the
// perf_event_attr flag bits golang.org/x/sys/unix lacks, and thin wrappers
// over the ioctls. It parses nothing; package sampler does.
//
// Everything here follows include/uapi/linux/perf_event.h.
package perfabi

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Flag bits of perf_event_attr past PerfBitWriteBackward (bit 27), which
// golang.org/x/sys/unix does not define. They go in PerfEventAttr.Bits.
const (
	// BitNamespaces asks for PERF_RECORD_NAMESPACES.
	BitNamespaces uint64 = 1 << 28
	// BitKsymbol asks for PERF_RECORD_KSYMBOL. Available from Linux 5.1.
	BitKsymbol uint64 = 1 << 29
	// BitBPFEvent asks for PERF_RECORD_BPF_EVENT. Available from Linux 5.1.
	BitBPFEvent uint64 = 1 << 30
	// BitAuxOutput routes AUX data into the event's ring.
	BitAuxOutput uint64 = 1 << 31
	// BitCgroup asks for PERF_RECORD_CGROUP.
	BitCgroup uint64 = 1 << 32
	// BitTextPoke asks for PERF_RECORD_TEXT_POKE.
	BitTextPoke uint64 = 1 << 33
	// BitBuildID makes PERF_RECORD_MMAP2 carry the build ID instead of
	// device and inode. Available from Linux 5.12.
	BitBuildID uint64 = 1 << 34
)

// HeaderSize is the size of struct perf_event_header.
const HeaderSize = 8

// Header must match struct perf_event_header: the 8 bytes that start every
// record in the ring.
type Header struct {
	Type uint32 // PERF_RECORD_*
	Misc uint16 // PERF_RECORD_MISC_* bits
	Size uint16 // of the whole record, header included
}

// MmapPage must match struct perf_event_mmap_page, the first page of a perf
// ring mapping. Only the data_* fields matter to a ring reader: DataHead is
// written by the kernel and must be loaded with acquire semantics, DataTail
// is written by the reader with release semantics once records are consumed.
type MmapPage struct {
	Version       uint32 // version of this structure
	CompatVersion uint32 // lowest version it is compatible with
	Lock          uint32 // seqlock of the self-monitoring fields
	Index         uint32 // hardware counter for rdpmc, plus one; 0 for none
	Offset        int64  // add to the rdpmc value
	TimeEnabled   uint64 // ns the event was enabled
	TimeRunning   uint64 // ns the event was on the PMU
	Capabilities  uint64 // cap_user_* bits
	PMCWidth      uint16 // bits of an rdpmc value
	TimeShift     uint16 // TSC to ns conversion
	TimeMult      uint32 // TSC to ns conversion
	TimeOffset    uint64 // TSC to ns conversion
	TimeZero      uint64 // TSC value of perf time 0
	Size          uint32 // bytes of this header up to the reserved area
	_             uint32
	TimeCycles    uint64        // for a TSC narrower than 64 bits
	TimeMask      uint64        // for a TSC narrower than 64 bits
	_             [116 * 8]byte // reserved: pads the control fields to 1 KiB
	DataHead      uint64        // where the kernel writes next; load with acquire
	DataTail      uint64        // where the reader reads next; store with release
	DataOffset    uint64        // offset of the data area in the mapping
	DataSize      uint64        // size of the data area, a power of two
	AuxHead       uint64        // AUX area: unused by bpfprof
	AuxTail       uint64        // AUX area: unused by bpfprof
	AuxOffset     uint64        // AUX area: unused by bpfprof
	AuxSize       uint64        // AUX area: unused by bpfprof
}

// Offsets of MmapPage's ring fields; a test checks them against the kernel's
// layout and golang.org/x/sys/unix.PerfEventMmapPage.
const (
	OffsetDataHead   = 1024
	OffsetDataTail   = 1032
	OffsetDataOffset = 1040
	OffsetDataSize   = 1048
)

// Callchain context markers (enum perf_callchain_context), as the uint64
// values that appear in PERF_SAMPLE_CALLCHAIN.
const (
	ContextHV          = ^uint64(32) + 1
	ContextKernel      = ^uint64(128) + 1
	ContextUser        = ^uint64(512) + 1
	ContextGuest       = ^uint64(2048) + 1
	ContextGuestKernel = ^uint64(2176) + 1
	ContextGuestUser   = ^uint64(2560) + 1
	// ContextMax is the lowest marker value: every value at or above it is
	// a marker, not an address.
	ContextMax = ^uint64(4095) + 1
)

// Open calls perf_event_open(2) with PERF_FLAG_FD_CLOEXEC added to flags.
func Open(attr *unix.PerfEventAttr, pid, cpu, groupFD int, flags int) (int, error) {
	if attr.Size == 0 {
		attr.Size = uint32(unsafe.Sizeof(*attr))
	}
	return unix.PerfEventOpen(attr, pid, cpu, groupFD, flags|unix.PERF_FLAG_FD_CLOEXEC)
}

// ID returns the kernel's unique id of the event behind fd
// (PERF_EVENT_IOC_ID), the value PERF_SAMPLE_ID and PERF_SAMPLE_IDENTIFIER
// carry. Available from Linux 3.12.
func ID(fd int) (uint64, error) {
	var id uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_ID, uintptr(unsafe.Pointer(&id)))
	if errno != 0 {
		return 0, fmt.Errorf("PERF_EVENT_IOC_ID: %w", errno)
	}
	return id, nil
}

// SetOutput redirects the records of the event behind fd into the ring of
// the event behind target (PERF_EVENT_IOC_SET_OUTPUT). Both must be on the
// same CPU.
func SetOutput(fd, target int) error {
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, target); err != nil {
		return fmt.Errorf("PERF_EVENT_IOC_SET_OUTPUT: %w", err)
	}
	return nil
}

// Enable starts the event behind fd (PERF_EVENT_IOC_ENABLE).
func Enable(fd int) error {
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return fmt.Errorf("PERF_EVENT_IOC_ENABLE: %w", err)
	}
	return nil
}

// Disable stops the event behind fd (PERF_EVENT_IOC_DISABLE).
func Disable(fd int) error {
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
		return fmt.Errorf("PERF_EVENT_IOC_DISABLE: %w", err)
	}
	return nil
}
