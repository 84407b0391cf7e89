package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
)

// fakeSource hands out prepared frames, then repeats the last one.
type fakeSource struct {
	frames  []*Frame
	next    int
	details map[uint32]*Details
}

func (s *fakeSource) Refresh(context.Context) (*Frame, error) {
	if len(s.frames) == 0 {
		return nil, errors.New("no frames")
	}
	f := s.frames[min(s.next, len(s.frames)-1)]
	s.next++
	return f, nil
}

func (s *fakeSource) Details(_ context.Context, id uint32) (*Details, error) {
	d, ok := s.details[id]
	if !ok {
		return nil, fmt.Errorf("program %d: not found", id)
	}
	return d, nil
}

var fixtureTime = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

// prog is a fixture program with rates.
func prog(id uint32, typ, name string, runs, avg float64) Program {
	return Program{ID: id, Type: typ, Name: name, Tag: fmt.Sprintf("%016x", id*0x1111),
		HasStats: true, RunsPerSec: runs, AvgNs: avg, CPUPercent: runs * avg / 1e7}
}

// demoFrame is four demo programs and two idle system ones; the hot loop's
// samples fall mostly on line 25.
func demoFrame() *Frame {
	hot := prog(316206, "socket_filter", "bpfprof_hot_loop_socket", 99013, 770)
	hot.Procs = []Proc{{PID: 28697, Comm: "bpfprof"}}
	hot.Samples, hot.SampledPercent = 40, 4.0
	sub := prog(316208, "xdp", "bpfprof_xdp_main", 50000, 1200)
	sub.Procs = hot.Procs
	sub.Samples, sub.SampledPercent = 30, 3.0
	maps := prog(316209, "socket_filter", "bpfprof_maps", 200000, 90)
	maps.Procs = hot.Procs
	maps.MapsMem = 81920
	tp := prog(316210, "tracepoint", "bpfprof_sys_enter", 69044, 72)
	tp.Attach = []string{"tracepoint raw_syscalls/sys_enter"}
	tp.Procs = hot.Procs
	idle := prog(12, "cgroup_device", "sd_devices", 0, 0)
	idle.Procs = []Proc{{PID: 1, Comm: "systemd"}, {PID: 300, Comm: "systemd-logind"}}
	unnamed := prog(40, "socket_filter", "", 0, 0)
	return &Frame{
		Time:     fixtureTime,
		Period:   time.Second,
		Header:   Header{StatsNote: "our fd", Event: "cpu-clock", Frequency: 499, Samples: 1000, BPFSamples: 70, Demo: true},
		Programs: []Program{idle, unnamed, hot, sub, maps, tp},
		Heat: map[uint32]*Heat{
			316206: {
				Samples: 40,
				Lines:   map[LineKey]uint64{{"testdata/hot.bpf.c", 25}: 30, {"testdata/hot.bpf.c", 24}: 8, {"testdata/hot.bpf.c", 28}: 2},
				Addrs:   map[uint64]uint64{0xffffffffc0001010: 30, 0xffffffffc0001008: 8, 0xffffffffc0001020: 2},
				Payers:  []Payer{{PID: 28697, Comm: "bpfprof", CPU: 1, Samples: 30}, {PID: 28697, Comm: "bpfprof", CPU: 0, Samples: 10}},
			},
		},
	}
}

// hotDetails is the listing of the hot loop: one function, five lines.
func hotDetails() *Details {
	line := func(n uint32, text string, insns ...Insn) SourceLine {
		return SourceLine{LineKey: LineKey{"testdata/hot.bpf.c", n}, Text: text, Insns: insns}
	}
	insn := func(i int, text string, addr uint64, jit string) Insn {
		return Insn{Index: i, Text: text, JIT: []JITInsn{{Addr: addr, Len: 4, Text: jit}}}
	}
	return &Details{
		ID: 316206, Tag: "8015c3c422f0136e", Type: "socket_filter", Name: "bpfprof_hot_loop_socket",
		Procs: []Proc{{PID: 28697, Comm: "bpfprof"}}, LoadedAt: fixtureTime.Add(-time.Minute),
		XlatedSize: 160, JitedSize: 98, VerifiedInsns: 3012, BTFID: 77,
		Maps: []Map{{ID: 9, Name: "bpfprof_hash", Type: "hash", MaxEntries: 1024, Memlock: 81920}},
		Listing: &Listing{Funcs: []Func{{Name: "bpfprof_hot_loop_socket", Lines: []SourceLine{
			line(20, "int bpfprof_hot_loop_socket(struct __sk_buff *skb)", insn(0, "r2 = 0", 0xffffffffc0001000, "xor %esi,%esi")),
			line(24, "for (int i = 0; i < 1000; i++)", insn(1, "r1 += 1", 0xffffffffc0001008, "add $0x1,%rdi")),
			line(25, "sum += i * 7; // hot", insn(2, "r2 *= 7", 0xffffffffc0001010, "imul $0x7,%rsi,%rsi"), insn(3, "r0 += r2", 0xffffffffc0001018, "add %rsi,%rax")),
			line(28, "return sum & 1;", insn(4, "r0 &= 1", 0xffffffffc0001020, "and $0x1,%eax")),
			line(29, "}", insn(5, "exit", 0xffffffffc0001028, "leave")),
		}}}},
	}
}

// keyMsg makes the key press a terminal sends for s: a key name as
// tea.Key.String gives it, or one printable character.
func keyMsg(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}
