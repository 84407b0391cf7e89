package bpfprog

import (
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
)

// anonPerfEvent is the name /proc/PID/fd links have for perf event fds.
const anonPerfEvent = "anon_inode:[perf_event]"

// fillOldPerfLinks names the attach points of perf_event links whose link
// info says nothing but their type: before Linux 6.6 the kernel fills no
// perf_event member of struct bpf_link_info. It asks BPF_TASK_FD_QUERY
// (Linux 4.19), as 'bpftool perf' does, about the perf event fds of the
// processes that hold each such link's program or the link itself, and
// gives each link the event whose program it runs. Links nobody holds (a
// pinned link) stay unnamed.
func fillOldPerfLinks(links []Attach, hold *holders, r *resolver) {
	want := map[ID][]int{} // program → links still to name
	pids := map[int]bool{}
	for i := range links {
		a := &links[i]
		if a.LinkType != LinkPerfEvent || (a.PerfEvent != nil && *a.PerfEvent != PerfEventUnspec) {
			continue
		}
		want[a.ProgID] = append(want[a.ProgID], i)
		for _, p := range hold.progs[a.ProgID] {
			pids[p.PID] = true
		}
		for _, p := range hold.links[a.LinkID] {
			pids[p.PID] = true
		}
	}
	if len(want) == 0 {
		return
	}
	name := make([]byte, linkNameMax)
	for pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // gone
		}
		for _, e := range entries {
			if target, err := os.Readlink(dir + "/" + e.Name()); err != nil || target != anonPerfEvent {
				continue
			}
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			clear(name)
			q := bpfabi.TaskFDQueryAttr{PID: uint32(pid), FD: uint32(fd), Buf: unsafe.Pointer(&name[0]), BufLen: uint32(len(name))}
			// ENOENT: no program on this event. Others: the fd or the
			// process went away.
			if bpfabi.TaskFDQuery(&q) != nil {
				continue
			}
			idx := want[ID(q.ProgID)]
			if len(idx) == 0 {
				continue
			}
			if !taskFDAttach(&links[idx[0]], q.FDType, unix.ByteSliceToString(name), q.ProbeOffset, q.ProbeAddr) {
				continue
			}
			want[ID(q.ProgID)] = idx[1:]
			r.resolve(&links[idx[0]])
			links[idx[0]].Description = links[idx[0]].Describe()
		}
	}
}

// taskFDAttach sets a perf_event link's kind and names from what
// BPF_TASK_FD_QUERY said about its event (fdType is a BPF_FD_TYPE_*); false
// if the kind has no perf_event link counterpart.
func taskFDAttach(a *Attach, fdType uint32, name string, offset, addr uint64) bool {
	var pt PerfEventType
	switch fdType {
	case unix.BPF_FD_TYPE_TRACEPOINT:
		pt = PerfEventTracepoint
	case unix.BPF_FD_TYPE_KPROBE:
		pt = PerfEventKprobe
	case unix.BPF_FD_TYPE_KRETPROBE:
		pt = PerfEventKretprobe
	case unix.BPF_FD_TYPE_UPROBE:
		pt = PerfEventUprobe
	case unix.BPF_FD_TYPE_URETPROBE:
		pt = PerfEventUretprobe
	default:
		return false
	}
	a.PerfEvent = &pt
	a.Name = name
	switch pt {
	case PerfEventKprobe, PerfEventKretprobe:
		a.Offset = offset
		if name == "" {
			a.Addr = addr
		}
	case PerfEventUprobe, PerfEventUretprobe:
		a.Offset = offset
	}
	return true
}
