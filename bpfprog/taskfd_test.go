package bpfprog

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestTaskFDAttach(t *testing.T) {
	tests := []struct {
		fdType       uint32
		name         string
		offset, addr uint64
		want         string
	}{
		{unix.BPF_FD_TYPE_KPROBE, "__do_sys_getpid", 0, 0, "kprobe __do_sys_getpid"},
		{unix.BPF_FD_TYPE_KRETPROBE, "do_sys_open", 4, 0, "kretprobe do_sys_open+0x4"},
		{unix.BPF_FD_TYPE_KPROBE, "", 0, 0xffffffff81000000, "kprobe 0xffffffff81000000"},
		{unix.BPF_FD_TYPE_UPROBE, "/bin/sh", 0x1234, 0, "uprobe /bin/sh+0x1234"},
		{unix.BPF_FD_TYPE_TRACEPOINT, "raw_syscalls/sys_enter", 0, 0, "tracepoint raw_syscalls/sys_enter"},
	}
	for _, tt := range tests {
		a := Attach{LinkType: LinkPerfEvent}
		if !taskFDAttach(&a, tt.fdType, tt.name, tt.offset, tt.addr) {
			t.Errorf("%d %s: not taken", tt.fdType, tt.name)
			continue
		}
		if got := a.Describe(); got != tt.want {
			t.Errorf("%d %s: %q, want %q", tt.fdType, tt.name, got, tt.want)
		}
	}
	a := Attach{LinkType: LinkPerfEvent}
	if taskFDAttach(&a, unix.BPF_FD_TYPE_RAW_TRACEPOINT, "sys_enter", 0, 0) || a.PerfEvent != nil {
		t.Errorf("a raw tracepoint fd named a perf_event link: %+v", a)
	}
}
