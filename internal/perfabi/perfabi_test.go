package perfabi

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestMmapPageLayout(t *testing.T) {
	var p MmapPage
	var u unix.PerfEventMmapPage
	if got, want := unsafe.Sizeof(p), unsafe.Sizeof(u); got != want {
		t.Fatalf("sizeof(MmapPage) = %d, unix.PerfEventMmapPage is %d", got, want)
	}
	// The control fields fill exactly 1 KiB before data_head (perf_event.h:
	// "__reserved[116*8]; align to 1k").
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"data_head", unsafe.Offsetof(p.DataHead), OffsetDataHead},
		{"data_tail", unsafe.Offsetof(p.DataTail), OffsetDataTail},
		{"data_offset", unsafe.Offsetof(p.DataOffset), OffsetDataOffset},
		{"data_size", unsafe.Offsetof(p.DataSize), OffsetDataSize},
		{"unix data_head", unsafe.Offsetof(u.Data_head), OffsetDataHead},
		{"unix data_tail", unsafe.Offsetof(u.Data_tail), OffsetDataTail},
		{"time_zero", unsafe.Offsetof(p.TimeZero), unsafe.Offsetof(u.Time_zero)},
		{"size", unsafe.Offsetof(p.Size), unsafe.Offsetof(u.Size)},
		{"time_mask", unsafe.Offsetof(p.TimeMask), unsafe.Offsetof(u.Time_mask)},
		{"aux_size", unsafe.Offsetof(p.AuxSize), unsafe.Offsetof(u.Aux_size)},
	} {
		if c.got != c.want {
			t.Errorf("offset of %s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if s := unsafe.Sizeof(Header{}); s != HeaderSize {
		t.Errorf("sizeof(Header) = %d, want %d", s, HeaderSize)
	}
}

func TestContextMarkers(t *testing.T) {
	for _, c := range []struct {
		got  uint64
		want int64
	}{
		{ContextHV, unix.PERF_CONTEXT_HV},
		{ContextKernel, unix.PERF_CONTEXT_KERNEL},
		{ContextUser, unix.PERF_CONTEXT_USER},
		{ContextGuest, unix.PERF_CONTEXT_GUEST},
		{ContextGuestKernel, unix.PERF_CONTEXT_GUEST_KERNEL},
		{ContextGuestUser, unix.PERF_CONTEXT_GUEST_USER},
		{ContextMax, unix.PERF_CONTEXT_MAX},
	} {
		if c.got != uint64(c.want) {
			t.Errorf("marker %#x, want %#x", c.got, uint64(c.want))
		}
	}
}

func TestAttrBits(t *testing.T) {
	// The last bit x/sys defines is write_backward (27); ours continue there.
	if unix.PerfBitWriteBackward<<1 != BitNamespaces {
		t.Errorf("BitNamespaces = %#x does not follow PerfBitWriteBackward %#x", BitNamespaces, unix.PerfBitWriteBackward)
	}
	bits := []uint64{BitNamespaces, BitKsymbol, BitBPFEvent, BitAuxOutput, BitCgroup, BitTextPoke, BitBuildID}
	for i := 1; i < len(bits); i++ {
		if bits[i] != bits[i-1]<<1 {
			t.Errorf("bit %d = %#x, want %#x", i, bits[i], bits[i-1]<<1)
		}
	}
}

// TestIoctls opens two counters on the calling thread (user space only, which
// needs no privilege at perf_event_paranoid <= 2) and drives every ioctl.
func TestIoctls(t *testing.T) {
	// Both events watch the calling thread (pid 0), and SET_OUTPUT between
	// per-task events wants them on the same task: the goroutine must not
	// move to another thread between the two opens.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	open := func() int {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_TASK_CLOCK,
			Sample: 1_000_000,
			Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
		}
		fd, err := Open(&attr, 0, -1, -1, 0)
		switch {
		case errors.Is(err, unix.ENOSYS):
			testutil.SkipIfNotSupported(t, fmt.Errorf("perf_event_open: %w by this kernel (%v)", errs.ErrNotSupported, err))
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			testutil.SkipOrFail(t, fmt.Sprintf("perf_event_open of task-clock:u on this thread: %v (kernel.perf_event_paranoid above 2, or a seccomp filter?)", err))
		case err != nil:
			t.Fatalf("perf_event_open of task-clock:u on this thread: %v", err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	a, b := open(), open()
	ida, err := ID(a)
	if err != nil {
		t.Fatal(err)
	}
	idb, err := ID(b)
	if err != nil {
		t.Fatal(err)
	}
	if ida == idb || ida == 0 {
		t.Errorf("ids %d and %d", ida, idb)
	}
	mem, err := unix.Mmap(a, 0, 2*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	page := (*MmapPage)(unsafe.Pointer(&mem[0]))
	if page.DataOffset != uint64(unix.Getpagesize()) || page.DataSize != uint64(unix.Getpagesize()) {
		t.Errorf("data at %d+%d, want one page after the control page", page.DataOffset, page.DataSize)
	}
	if err := SetOutput(b, a); err != nil {
		t.Error(err)
	}
	if err := SetOutput(b, -1); err != nil {
		t.Error(err)
	}
	if err := Enable(a); err != nil {
		t.Error(err)
	}
	if err := Disable(a); err != nil {
		t.Error(err)
	}
	if _, err := ID(-1); err == nil {
		t.Error("ID of a bad fd succeeded")
	}
}
