package symbolize

import (
	"testing"

	"github.com/cilium/ebpf"
)

func TestProgTypeName(t *testing.T) {
	for typ, want := range map[ebpf.ProgramType]string{
		ebpf.SocketFilter: "socket_filter", ebpf.XDP: "xdp", ebpf.SchedCLS: "sched_cls",
		ebpf.Tracing: "tracing", ebpf.Syscall: "syscall", ebpf.ProgramType(200): "type_200",
	} {
		if got := progTypeName(typ); got != want {
			t.Errorf("progTypeName(%d) = %q, want %q", typ, got, want)
		}
	}
}
