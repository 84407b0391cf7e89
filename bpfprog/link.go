package bpfprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"golang.org/x/sys/unix"
)

// Attach is where a BPF link attaches a program, decoded from struct
// bpf_link_info (BPF_OBJ_GET_INFO_BY_FD on a link). Only the fields that
// the link type carries are set; Describe turns them into one line.
type Attach struct {
	LinkID   uint32   `json:"link_id"`
	LinkType LinkType `json:"link_type"`
	// ProgID is the program the link runs.
	ProgID ID `json:"-"`
	// AttachType is set for cgroup, netns, tracing, tcx, netkit and
	// sockmap links.
	AttachType *AttachType `json:"attach_type,omitempty"`
	// PerfEvent is the kind of a perf_event link.
	PerfEvent *PerfEventType `json:"perf_event_type,omitempty"`
	// Name is the tracepoint ("raw_syscalls/sys_enter" where the system is
	// known, else "sys_enter"), the kprobe function, the uprobe file, the
	// iterator target or the tracing target function.
	Name       string `json:"name,omitempty"`
	Offset     uint64 `json:"offset,omitempty"`
	Addr       uint64 `json:"addr,omitempty"`
	Cookie     uint64 `json:"cookie,omitempty"`
	Ifindex    uint32 `json:"ifindex,omitempty"`
	Ifname     string `json:"ifname,omitempty"`
	CgroupID   uint64 `json:"cgroup_id,omitempty"`
	CgroupPath string `json:"cgroup_path,omitempty"`
	NetnsIno   uint32 `json:"netns_ino,omitempty"`
	MapID      uint32 `json:"map_id,omitempty"`
	// TargetObjID and TargetBTFID name the BTF object and type a tracing
	// link attaches to.
	TargetObjID uint32 `json:"target_obj_id,omitempty"`
	TargetBTFID uint32 `json:"target_btf_id,omitempty"`
	// Count is the number of functions (kprobe_multi) or offsets
	// (uprobe_multi) attached.
	Count uint32 `json:"count,omitempty"`
	// Flags of a kprobe_multi, uprobe_multi or netfilter link.
	Flags uint32 `json:"flags,omitempty"`
	// PID restricts a uprobe_multi or task iterator link to a process.
	PID uint32 `json:"pid,omitempty"`
	// Netfilter hook of a netfilter link.
	ProtocolFamily uint32 `json:"pf,omitempty"`
	Hook           uint32 `json:"hooknum,omitempty"`
	Priority       int32  `json:"priority,omitempty"`
	// Config and EventType of a perf_event link on a perf event.
	Config    uint64 `json:"config,omitempty"`
	EventType uint32 `json:"event_type,omitempty"`
	// Description is Describe's line, filled by List.
	Description string `json:"description"`
}

var errShortLinkInfo = errors.New("truncated link info")

// ParseLinkInfo decodes raw, the bytes of a struct bpf_link_info the kernel
// filled, and str, the string the kernel copied into the buffer the info
// pointed to (a tracepoint, function, file or iterator name; nil if none).
// Names needing a lookup elsewhere (interface, cgroup path, tracepoint
// system) are left for the caller. An unknown link type is not an error: its
// Attach has only the link ID, type and program.
func ParseLinkInfo(raw, str []byte) (Attach, error) {
	if len(raw) < bpfabi.LinkInfoUnion {
		return Attach{}, fmt.Errorf("%w: %d bytes", errShortLinkInfo, len(raw))
	}
	bo := binary.NativeEndian
	// u32, u64 and i32 read the union; out-of-range reads give zero, as
	// an older kernel leaves fields it does not know.
	u32 := func(off int) uint32 {
		if off+4 > len(raw) {
			return 0
		}
		return bo.Uint32(raw[off:])
	}
	u64 := func(off int) uint64 {
		if off+8 > len(raw) {
			return 0
		}
		return bo.Uint64(raw[off:])
	}
	attachType := func(off int) *AttachType {
		at := AttachType(u32(off))
		return &at
	}
	a := Attach{LinkType: LinkType(u32(bpfabi.LinkInfoType)), LinkID: u32(bpfabi.LinkInfoID), ProgID: ID(u32(bpfabi.LinkInfoProgID))}
	name := unix.ByteSliceToString(str)
	// Offsets of the union members of struct bpf_link_info, Linux 6.18.
	switch a.LinkType {
	case LinkRawTracepoint:
		a.Name = name
		a.Cookie = u64(32)
	case LinkTracing:
		a.AttachType = attachType(16)
		a.TargetObjID, a.TargetBTFID = u32(20), u32(24)
		a.Cookie = u64(32)
	case LinkCgroup:
		a.CgroupID = u64(16)
		a.AttachType = attachType(24)
	case LinkIter:
		a.Name = name
		switch name {
		case "bpf_map", "bpf_map_elem", "bpf_sk_storage_map", "sockmap":
			a.MapID = u32(28)
		case "cgroup":
			a.CgroupID = u64(32)
		case "task", "task_file", "task_vma":
			a.PID = u32(36)
		}
	case LinkNetns:
		a.NetnsIno = u32(16)
		a.AttachType = attachType(20)
	case LinkXDP:
		a.Ifindex = u32(16)
	case LinkPerfEvent:
		pt := PerfEventType(u32(16))
		a.PerfEvent = &pt
		switch pt {
		case PerfEventUprobe, PerfEventUretprobe:
			a.Name, a.Offset, a.Cookie = name, uint64(u32(36)), u64(40)
		case PerfEventKprobe, PerfEventKretprobe:
			a.Name, a.Offset, a.Addr, a.Cookie = name, uint64(u32(36)), u64(40), u64(56)
		case PerfEventTracepoint:
			a.Name, a.Cookie = name, u64(40)
		case PerfEventEvent:
			a.Config, a.EventType, a.Cookie = u64(24), u32(32), u64(40)
		}
	case LinkKprobeMulti:
		a.Count, a.Flags = u32(24), u32(28)
	case LinkStructOps:
		a.MapID = u32(16)
	case LinkNetfilter:
		a.ProtocolFamily, a.Hook = u32(16), u32(20)
		a.Priority, a.Flags = int32(u32(24)), u32(28)
	case LinkTCX, LinkNetkit:
		a.Ifindex = u32(16)
		a.AttachType = attachType(20)
	case LinkUprobeMulti:
		a.Name = name
		a.Count, a.Flags, a.PID = u32(52), u32(56), u32(60)
	case LinkSockmap:
		a.MapID = u32(16)
		a.AttachType = attachType(20)
	}
	return a, nil
}

// linkNameBuffer says where a link of type typ (and, for perf_event links,
// perf event type perf) takes the pointer and size of a buffer for its name
// in a second BPF_OBJ_GET_INFO_BY_FD call; ok is false if it has no name.
func linkNameBuffer(typ LinkType, perf PerfEventType) (ptrOff, lenOff int, ok bool) {
	switch typ {
	case LinkRawTracepoint:
		return bpfabi.LinkRawTPName, bpfabi.LinkRawTPNameLen, true
	case LinkIter:
		return bpfabi.LinkIterName, bpfabi.LinkIterNameLen, true
	case LinkPerfEvent:
		switch perf {
		case PerfEventUprobe, PerfEventUretprobe, PerfEventKprobe, PerfEventKretprobe, PerfEventTracepoint:
			return bpfabi.LinkPerfEventName, bpfabi.LinkPerfEventLen, true
		}
	case LinkUprobeMulti:
		return bpfabi.LinkUprobeMultiPath, bpfabi.LinkUprobeMultiPathSize, true
	}
	return 0, 0, false
}

// Describe returns a one-line description of the attach point, like
// "tracepoint raw_syscalls/sys_enter" or "xdp lo (ifindex 1)". It does not
// repeat the link ID.
func (a *Attach) Describe() string {
	var b strings.Builder
	at := ""
	if a.AttachType != nil {
		at = a.AttachType.String()
	}
	dev := func() string {
		if a.Ifindex == 0 {
			return "(detached)"
		}
		if a.Ifname != "" {
			return fmt.Sprintf("%s (ifindex %d)", a.Ifname, a.Ifindex)
		}
		return fmt.Sprintf("ifindex %d", a.Ifindex)
	}
	cgroup := func() string {
		if a.CgroupPath != "" {
			return "cgroup " + a.CgroupPath
		}
		return fmt.Sprintf("cgroup id %d", a.CgroupID)
	}
	switch a.LinkType {
	case LinkRawTracepoint:
		b.WriteString("raw_tracepoint " + orUnknown(a.Name))
	case LinkTracing:
		b.WriteString(tracingKind(a.AttachType) + " ")
		if a.Name != "" {
			b.WriteString(a.Name)
		} else {
			fmt.Fprintf(&b, "btf_id %d", a.TargetBTFID)
		}
		if a.TargetObjID != 0 && a.Name == "" {
			fmt.Fprintf(&b, " in btf %d", a.TargetObjID)
		}
	case LinkCgroup:
		fmt.Fprintf(&b, "%s %s", at, cgroup())
	case LinkIter:
		b.WriteString("iter " + orUnknown(a.Name))
		switch {
		case a.MapID != 0:
			fmt.Fprintf(&b, " map %d", a.MapID)
		case a.CgroupID != 0:
			b.WriteString(" " + cgroup())
		case a.PID != 0:
			fmt.Fprintf(&b, " pid %d", a.PID)
		}
	case LinkNetns:
		fmt.Fprintf(&b, "%s netns %d", at, a.NetnsIno)
	case LinkXDP:
		b.WriteString("xdp " + dev())
	case LinkPerfEvent:
		pt := PerfEventUnspec
		if a.PerfEvent != nil {
			pt = *a.PerfEvent
		}
		switch pt {
		case PerfEventUprobe, PerfEventUretprobe:
			fmt.Fprintf(&b, "%s %s+%#x", pt, orUnknown(a.Name), a.Offset)
		case PerfEventKprobe, PerfEventKretprobe:
			switch {
			case a.Name != "" && a.Offset != 0:
				fmt.Fprintf(&b, "%s %s+%#x", pt, a.Name, a.Offset)
			case a.Name != "":
				fmt.Fprintf(&b, "%s %s", pt, a.Name)
			default:
				fmt.Fprintf(&b, "%s %#x", pt, a.Addr)
			}
		case PerfEventTracepoint:
			b.WriteString("tracepoint " + orUnknown(a.Name))
		case PerfEventEvent:
			fmt.Fprintf(&b, "perf_event type %d config %#x", a.EventType, a.Config)
		default:
			fmt.Fprintf(&b, "perf_event %s", pt)
		}
	case LinkKprobeMulti:
		kind := "kprobe_multi"
		if a.Flags&1 != 0 { // BPF_F_KPROBE_MULTI_RETURN
			kind = "kretprobe_multi"
		}
		fmt.Fprintf(&b, "%s %d functions", kind, a.Count)
	case LinkStructOps:
		fmt.Fprintf(&b, "struct_ops map %d", a.MapID)
	case LinkNetfilter:
		fmt.Fprintf(&b, "netfilter %s %s priority %d", nfFamily(a.ProtocolFamily), nfHook(a.Hook), a.Priority)
	case LinkTCX, LinkNetkit:
		fmt.Fprintf(&b, "%s %s", at, dev())
	case LinkUprobeMulti:
		kind := "uprobe_multi"
		if a.Flags&1 != 0 { // BPF_F_UPROBE_MULTI_RETURN
			kind = "uretprobe_multi"
		}
		fmt.Fprintf(&b, "%s %s %d offsets", kind, orUnknown(a.Name), a.Count)
		if a.PID != 0 {
			fmt.Fprintf(&b, " pid %d", a.PID)
		}
	case LinkSockmap:
		fmt.Fprintf(&b, "%s map %d", at, a.MapID)
	default:
		if a.LinkType.Known() {
			b.WriteString(a.LinkType.String())
		} else {
			fmt.Fprintf(&b, "link type %d", uint32(a.LinkType))
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// tracingKind names the attach type of a tracing link as libbpf's section
// names do.
func tracingKind(at *AttachType) string {
	if at == nil {
		return "tracing"
	}
	switch *at {
	case AttachTraceFentry:
		return "fentry"
	case AttachTraceFexit:
		return "fexit"
	case AttachModifyReturn:
		return "fmod_ret"
	case AttachLSMMac, AttachLSMCgroup:
		return "lsm"
	case AttachTraceRawTP:
		return "tp_btf"
	case AttachTraceIter:
		return "iter"
	}
	return at.String()
}

// nfFamily names a netfilter protocol family (NFPROTO_*).
func nfFamily(pf uint32) string {
	switch pf {
	case 1:
		return "inet"
	case 2:
		return "ipv4"
	case 3:
		return "arp"
	case 5:
		return "netdev"
	case 7:
		return "bridge"
	case 10:
		return "ipv6"
	}
	return "pf " + strconv.FormatUint(uint64(pf), 10)
}

// nfHook names a netfilter hook (NF_INET_*).
func nfHook(h uint32) string {
	names := [...]string{"prerouting", "input", "forward", "output", "postrouting"}
	if int(h) < len(names) {
		return names[h]
	}
	return "hook " + strconv.FormatUint(uint64(h), 10)
}
