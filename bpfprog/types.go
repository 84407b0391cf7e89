package bpfprog

import "strconv"

//go:generate go tool stringer -type=Type,LinkType,AttachType,PerfEventType -linecomment -output=types_string.go

// Type is a BPF program type (enum bpf_prog_type). Its String is the name
// bpftool prints: "xdp", "socket_filter", "sched_cls", ...
type Type uint32

// Program types, in the kernel's order.
const (
	TypeUnspec                Type = iota // unspec
	TypeSocketFilter                      // socket_filter
	TypeKprobe                            // kprobe
	TypeSchedCLS                          // sched_cls
	TypeSchedACT                          // sched_act
	TypeTracepoint                        // tracepoint
	TypeXDP                               // xdp
	TypePerfEvent                         // perf_event
	TypeCgroupSKB                         // cgroup_skb
	TypeCgroupSock                        // cgroup_sock
	TypeLWTIn                             // lwt_in
	TypeLWTOut                            // lwt_out
	TypeLWTXmit                           // lwt_xmit
	TypeSockOps                           // sock_ops
	TypeSkSKB                             // sk_skb
	TypeCgroupDevice                      // cgroup_device
	TypeSkMsg                             // sk_msg
	TypeRawTracepoint                     // raw_tracepoint
	TypeCgroupSockAddr                    // cgroup_sock_addr
	TypeLWTSeg6Local                      // lwt_seg6local
	TypeLircMode2                         // lirc_mode2
	TypeSkReuseport                       // sk_reuseport
	TypeFlowDissector                     // flow_dissector
	TypeCgroupSysctl                      // cgroup_sysctl
	TypeRawTracepointWritable             // raw_tracepoint_writable
	TypeCgroupSockopt                     // cgroup_sockopt
	TypeTracing                           // tracing
	TypeStructOps                         // struct_ops
	TypeExt                               // ext
	TypeLSM                               // lsm
	TypeSkLookup                          // sk_lookup
	TypeSyscall                           // syscall
	TypeNetfilter                         // netfilter
	numTypes
)

// Known reports whether t is a program type bpfprof has a name for.
func (t Type) Known() bool { return t < numTypes }

// Name returns the name bpftool prints for t, or "type_N" for a type newer
// than bpfprof: the one table of program type names.
func (t Type) Name() string {
	if !t.Known() {
		return "type_" + strconv.FormatUint(uint64(t), 10)
	}
	return t.String()
}

// MarshalJSON writes the bpftool name of t, or its number when the type is
// newer than bpfprof, as bpftool does.
func (t Type) MarshalJSON() ([]byte, error) {
	if !t.Known() {
		return strconv.AppendUint(nil, uint64(t), 10), nil
	}
	return strconv.AppendQuote(nil, t.String()), nil
}

// LinkType is a BPF link type (enum bpf_link_type), named as bpftool names it.
type LinkType uint32

// Link types, in the kernel's order.
const (
	LinkUnspec        LinkType = iota // unspec
	LinkRawTracepoint                 // raw_tracepoint
	LinkTracing                       // tracing
	LinkCgroup                        // cgroup
	LinkIter                          // iter
	LinkNetns                         // netns
	LinkXDP                           // xdp
	LinkPerfEvent                     // perf_event
	LinkKprobeMulti                   // kprobe_multi
	LinkStructOps                     // struct_ops
	LinkNetfilter                     // netfilter
	LinkTCX                           // tcx
	LinkUprobeMulti                   // uprobe_multi
	LinkNetkit                        // netkit
	LinkSockmap                       // sockmap
	numLinkTypes
)

// Known reports whether l is a link type bpfprof has a name for.
func (l LinkType) Known() bool { return l < numLinkTypes }

// MarshalJSON writes the name of l, or its number when it is unknown.
func (l LinkType) MarshalJSON() ([]byte, error) {
	if !l.Known() {
		return strconv.AppendUint(nil, uint64(l), 10), nil
	}
	return strconv.AppendQuote(nil, l.String()), nil
}

// AttachType is a BPF attach type (enum bpf_attach_type), named as bpftool
// names it: the kernel name in lower case without "BPF_".
type AttachType uint32

// Attach types, in the kernel's order.
const (
	AttachCgroupInetIngress          AttachType = iota // cgroup_inet_ingress
	AttachCgroupInetEgress                             // cgroup_inet_egress
	AttachCgroupInetSockCreate                         // cgroup_inet_sock_create
	AttachCgroupSockOps                                // cgroup_sock_ops
	AttachSkSKBStreamParser                            // sk_skb_stream_parser
	AttachSkSKBStreamVerdict                           // sk_skb_stream_verdict
	AttachCgroupDevice                                 // cgroup_device
	AttachSkMsgVerdict                                 // sk_msg_verdict
	AttachCgroupInet4Bind                              // cgroup_inet4_bind
	AttachCgroupInet6Bind                              // cgroup_inet6_bind
	AttachCgroupInet4Connect                           // cgroup_inet4_connect
	AttachCgroupInet6Connect                           // cgroup_inet6_connect
	AttachCgroupInet4PostBind                          // cgroup_inet4_post_bind
	AttachCgroupInet6PostBind                          // cgroup_inet6_post_bind
	AttachCgroupUDP4Sendmsg                            // cgroup_udp4_sendmsg
	AttachCgroupUDP6Sendmsg                            // cgroup_udp6_sendmsg
	AttachLircMode2                                    // lirc_mode2
	AttachFlowDissector                                // flow_dissector
	AttachCgroupSysctl                                 // cgroup_sysctl
	AttachCgroupUDP4Recvmsg                            // cgroup_udp4_recvmsg
	AttachCgroupUDP6Recvmsg                            // cgroup_udp6_recvmsg
	AttachCgroupGetsockopt                             // cgroup_getsockopt
	AttachCgroupSetsockopt                             // cgroup_setsockopt
	AttachTraceRawTP                                   // trace_raw_tp
	AttachTraceFentry                                  // trace_fentry
	AttachTraceFexit                                   // trace_fexit
	AttachModifyReturn                                 // modify_return
	AttachLSMMac                                       // lsm_mac
	AttachTraceIter                                    // trace_iter
	AttachCgroupInet4Getpeername                       // cgroup_inet4_getpeername
	AttachCgroupInet6Getpeername                       // cgroup_inet6_getpeername
	AttachCgroupInet4Getsockname                       // cgroup_inet4_getsockname
	AttachCgroupInet6Getsockname                       // cgroup_inet6_getsockname
	AttachXDPDevmap                                    // xdp_devmap
	AttachCgroupInetSockRelease                        // cgroup_inet_sock_release
	AttachXDPCpumap                                    // xdp_cpumap
	AttachSkLookup                                     // sk_lookup
	AttachXDP                                          // xdp
	AttachSkSKBVerdict                                 // sk_skb_verdict
	AttachSkReuseportSelect                            // sk_reuseport_select
	AttachSkReuseportSelectOrMigrate                   // sk_reuseport_select_or_migrate
	AttachPerfEvent                                    // perf_event
	AttachTraceKprobeMulti                             // trace_kprobe_multi
	AttachLSMCgroup                                    // lsm_cgroup
	AttachStructOps                                    // struct_ops
	AttachNetfilter                                    // netfilter
	AttachTCXIngress                                   // tcx_ingress
	AttachTCXEgress                                    // tcx_egress
	AttachTraceUprobeMulti                             // trace_uprobe_multi
	AttachCgroupUnixConnect                            // cgroup_unix_connect
	AttachCgroupUnixSendmsg                            // cgroup_unix_sendmsg
	AttachCgroupUnixRecvmsg                            // cgroup_unix_recvmsg
	AttachCgroupUnixGetpeername                        // cgroup_unix_getpeername
	AttachCgroupUnixGetsockname                        // cgroup_unix_getsockname
	AttachNetkitPrimary                                // netkit_primary
	AttachNetkitPeer                                   // netkit_peer
	AttachTraceKprobeSession                           // trace_kprobe_session
	AttachTraceUprobeSession                           // trace_uprobe_session
	numAttachTypes
)

// Known reports whether a is an attach type bpfprof has a name for.
func (a AttachType) Known() bool { return a < numAttachTypes }

// MarshalJSON writes the name of a, or its number when it is unknown.
func (a AttachType) MarshalJSON() ([]byte, error) {
	if !a.Known() {
		return strconv.AppendUint(nil, uint64(a), 10), nil
	}
	return strconv.AppendQuote(nil, a.String()), nil
}

// PerfEventType says what a perf_event link attaches to (enum
// bpf_perf_event_type).
type PerfEventType uint32

// Perf event link kinds, in the kernel's order.
const (
	PerfEventUnspec     PerfEventType = iota // unspec
	PerfEventUprobe                          // uprobe
	PerfEventUretprobe                       // uretprobe
	PerfEventKprobe                          // kprobe
	PerfEventKretprobe                       // kretprobe
	PerfEventTracepoint                      // tracepoint
	PerfEventEvent                           // event
	numPerfEventTypes
)

// Known reports whether p is a perf event link kind bpfprof has a name for.
func (p PerfEventType) Known() bool { return p < numPerfEventTypes }

// MarshalJSON writes the name of p, or its number when it is unknown.
func (p PerfEventType) MarshalJSON() ([]byte, error) {
	if !p.Known() {
		return strconv.AppendUint(nil, uint64(p), 10), nil
	}
	return strconv.AppendQuote(nil, p.String()), nil
}
