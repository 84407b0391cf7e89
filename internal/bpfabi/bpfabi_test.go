package bpfabi

import (
	"encoding/hex"
	"errors"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// TestLayout checks sizes and offsets against include/uapi/linux/bpf.h of
// Linux 6.18 on 64-bit machines, as offsetof and sizeof print them.
func TestLayout(t *testing.T) {
	var (
		id   IDAttr
		info InfoAttr
		get  ObjGetAttr
		prog ProgInfo
		fn   FuncInfo
		li   LineInfo
		btf  BTFInfo
		n16  LinkInfoName16
		n24  LinkInfoName24
		tfq  TaskFDQueryAttr
	)
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		// union bpf_attr, per command.
		{"sizeof start_id/next_id/open_flags", unsafe.Sizeof(id), 12},
		{"bpf_attr.next_id", unsafe.Offsetof(id.NextID), 4},
		{"bpf_attr.open_flags", unsafe.Offsetof(id.OpenFlags), 8},
		{"sizeof bpf_attr.info", unsafe.Sizeof(info), 16},
		{"bpf_attr.info.info_len", unsafe.Offsetof(info.InfoLen), 4},
		{"bpf_attr.info.info", unsafe.Offsetof(info.Info), 8},
		{"sizeof BPF_OBJ_GET attr", unsafe.Sizeof(get), 24},
		{"sizeof bpf_attr.task_fd_query", unsafe.Sizeof(tfq), 48},
		{"bpf_attr.task_fd_query.buf", unsafe.Offsetof(tfq.Buf), 16},
		{"bpf_attr.task_fd_query.prog_id", unsafe.Offsetof(tfq.ProgID), 24},
		{"bpf_attr.task_fd_query.probe_offset", unsafe.Offsetof(tfq.ProbeOffset), 32},
		{"bpf_attr.task_fd_query.probe_addr", unsafe.Offsetof(tfq.ProbeAddr), 40},
		{"bpf_attr.bpf_fd", unsafe.Offsetof(get.BPFFD), 8},
		{"bpf_attr.file_flags", unsafe.Offsetof(get.FileFlags), 12},
		{"bpf_attr.path_fd", unsafe.Offsetof(get.PathFD), 16},

		{"sizeof bpf_prog_info", unsafe.Sizeof(prog), 232},
		{"bpf_prog_info.tag", unsafe.Offsetof(prog.Tag), 8},
		{"bpf_prog_info.jited_prog_insns", unsafe.Offsetof(prog.JitedProgInsns), 24},
		{"bpf_prog_info.load_time", unsafe.Offsetof(prog.LoadTime), 40},
		{"bpf_prog_info.nr_map_ids", unsafe.Offsetof(prog.NrMapIDs), 52},
		{"bpf_prog_info.map_ids", unsafe.Offsetof(prog.MapIDs), 56},
		{"bpf_prog_info.name", unsafe.Offsetof(prog.Name), 64},
		{"bpf_prog_info.ifindex", unsafe.Offsetof(prog.Ifindex), 80},
		{"bpf_prog_info.netns_dev", unsafe.Offsetof(prog.NetnsDev), 88},
		{"bpf_prog_info.nr_jited_ksyms", unsafe.Offsetof(prog.NrJitedKsyms), 104},
		{"bpf_prog_info.jited_ksyms", unsafe.Offsetof(prog.JitedKsyms), 112},
		{"bpf_prog_info.jited_func_lens", unsafe.Offsetof(prog.JitedFuncLens), 120},
		{"bpf_prog_info.btf_id", unsafe.Offsetof(prog.BTFID), 128},
		{"bpf_prog_info.func_info", unsafe.Offsetof(prog.FuncInfo), 136},
		{"bpf_prog_info.nr_func_info", unsafe.Offsetof(prog.NrFuncInfo), 144},
		{"bpf_prog_info.line_info", unsafe.Offsetof(prog.LineInfo), 152},
		{"bpf_prog_info.jited_line_info", unsafe.Offsetof(prog.JitedLineInfo), 160},
		{"bpf_prog_info.nr_prog_tags", unsafe.Offsetof(prog.NrProgTags), 180},
		{"bpf_prog_info.prog_tags", unsafe.Offsetof(prog.ProgTags), 184},
		{"bpf_prog_info.run_time_ns", unsafe.Offsetof(prog.RunTimeNs), 192},
		{"bpf_prog_info.run_cnt", unsafe.Offsetof(prog.RunCnt), 200},
		{"bpf_prog_info.recursion_misses", unsafe.Offsetof(prog.RecursionMisses), 208},
		{"bpf_prog_info.verified_insns", unsafe.Offsetof(prog.VerifiedInsns), 216},
		{"bpf_prog_info.attach_btf_obj_id", unsafe.Offsetof(prog.AttachBTFObjID), 220},
		{"bpf_prog_info.attach_btf_id", unsafe.Offsetof(prog.AttachBTFID), 224},

		{"sizeof bpf_func_info", unsafe.Sizeof(fn), 8},
		{"bpf_func_info.type_id", unsafe.Offsetof(fn.TypeID), 4},
		{"sizeof bpf_line_info", unsafe.Sizeof(li), 16},
		{"bpf_line_info.file_name_off", unsafe.Offsetof(li.FileNameOff), 4},
		{"bpf_line_info.line_off", unsafe.Offsetof(li.LineOff), 8},
		{"bpf_line_info.line_col", unsafe.Offsetof(li.LineCol), 12},

		{"sizeof bpf_btf_info", unsafe.Sizeof(btf), 32},
		{"bpf_btf_info.btf_size", unsafe.Offsetof(btf.BTFSize), 8},
		{"bpf_btf_info.id", unsafe.Offsetof(btf.ID), 12},
		{"bpf_btf_info.name", unsafe.Offsetof(btf.Name), 16},
		{"bpf_btf_info.name_len", unsafe.Offsetof(btf.NameLen), 24},
		{"bpf_btf_info.kernel_btf", unsafe.Offsetof(btf.KernelBTF), 28},

		// struct bpf_link_info and the two views of it.
		{"sizeof bpf_link_info", LinkInfoSize, 64},
		{"sizeof LinkInfoName16", unsafe.Sizeof(n16), LinkInfoSize},
		{"sizeof LinkInfoName24", unsafe.Sizeof(n24), LinkInfoSize},
		{"bpf_link_info.raw_tracepoint.tp_name", unsafe.Offsetof(n16.Name), LinkRawTPName},
		{"bpf_link_info.iter.target_name", unsafe.Offsetof(n16.Name), LinkIterName},
		{"bpf_link_info.uprobe_multi.path", unsafe.Offsetof(n16.Name), LinkUprobeMultiPath},
		{"bpf_link_info.perf_event.type", unsafe.Offsetof(n24.PerfType), LinkPerfEventType},
		{"bpf_link_info.perf_event.*.name", unsafe.Offsetof(n24.Name), LinkPerfEventName},
		{"raw_tracepoint.tp_name_len", LinkRawTPNameLen, 24},
		{"iter.target_name_len", LinkIterNameLen, 24},
		{"perf_event.*.name_len", LinkPerfEventLen, 32},
		{"uprobe_multi.path_size", LinkUprobeMultiPathSize, 48},
		{"the union", LinkInfoUnion, 16},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestProgInfo reads a program the test loads through the wrappers: the
// fields the kernel fills must land where ProgInfo has them.
func TestProgInfo(t *testing.T) {
	testutil.RequireRoot(t, "load a BPF program and open it by ID")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bpfabi_test", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	want, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := want.ID()

	// The program must be on the list BPF_PROG_GET_NEXT_ID walks.
	found := false
	for id := uint32(0); ; {
		next, ok, err := NextID(unix.BPF_PROG_GET_NEXT_ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if next <= id {
			t.Fatalf("next ID %d after %d", next, id)
		}
		if id = next; id == uint32(wantID) {
			found = true
		}
	}
	if !found {
		t.Errorf("program %d not listed", wantID)
	}

	fd, err := FDByID(unix.BPF_PROG_GET_FD_BY_ID, uint32(wantID))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var fns [4]FuncInfo
	info := ProgInfo{NrFuncInfo: uint32(len(fns)), FuncInfoRecSize: uint32(unsafe.Sizeof(fns[0])), FuncInfo: unsafe.Pointer(&fns[0])}
	if err := ObjInfo(fd, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil {
		t.Fatal(err)
	}
	if info.ID != uint32(wantID) || info.Type != uint32(ebpf.SocketFilter) {
		t.Errorf("id %d type %d, want %d %d", info.ID, info.Type, wantID, ebpf.SocketFilter)
	}
	if name := string(info.Name[:len("bpfabi_test")+1]); name != "bpfabi_test\x00" {
		t.Errorf("name %q", name)
	}
	if tag := hex.EncodeToString(info.Tag[:]); tag != want.Tag {
		t.Errorf("tag %s, want %s", tag, want.Tag)
	}
	if info.Flags&ProgInfoGPLCompatible == 0 {
		t.Error("GPL program not gpl_compatible")
	}
	if info.XlatedProgLen != 2*8 || info.LoadTime == 0 {
		t.Errorf("xlated %d bytes, loaded at %d", info.XlatedProgLen, info.LoadTime)
	}
	if info.NrFuncInfo != 0 {
		t.Errorf("%d func infos for a program without BTF", info.NrFuncInfo)
	}

	if _, err := FDByID(unix.BPF_PROG_GET_FD_BY_ID, 0); !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		t.Errorf("FDByID(0): %v", err)
	}
	if _, err := ObjGet("/nonexistent/bpfabi", unix.BPF_F_RDONLY); !errors.Is(err, unix.ENOENT) {
		t.Errorf("ObjGet of a missing path: %v", err)
	}
}
