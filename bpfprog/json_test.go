package bpfprog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\n\x00\x1f", "héllo ✓", "bad\xffutf8\xc3", "line\u2028sep\u2029"} {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("%q: invalid JSON %s: %v", s, out, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Errorf("%q: decodes to %q, want %q", s, got, want)
		}
	}
}

func TestWriteListJSON(t *testing.T) {
	tp := PerfEventTracepoint
	progs := []Program{{
		ID: 7, Type: TypeTracepoint, Name: "bpfprof_sys_ent", FullName: "bpfprof_sys_enter",
		Tag: "d4d950593910dd42", GPL: true, LoadedAt: time.Unix(1795305489, 5e8), UID: 0,
		XlatedSize: 144, JitedSize: 91, VerifiedInsns: 11, Memlock: 4096, MapIDs: []uint32{3, 4}, BTFID: 9,
		JitedKsyms: []uint64{0xffffffffc0022194}, JitedFuncLens: []uint32{91},
		Stats:  RunStats{RunTime: 1500, RunCount: 3, RecursionMisses: 1},
		Attach: []Attach{{LinkID: 5, LinkType: LinkPerfEvent, PerfEvent: &tp, Name: "raw_syscalls/sys_enter", Description: "tracepoint raw_syscalls/sys_enter"}},
		Procs:  []Proc{{PID: 42, Comm: "a\"b"}},
	}, {
		// Unknown type, no memlock, no name: bpftool prints a number.
		ID: 8, Type: Type(99),
	}}
	var out bytes.Buffer
	rates := map[ID]Rate{7: {ID: 7, RunsPerSec: 12.5, AvgRunNs: 500, CPUPercent: 0.25}}
	if err := WriteJSON(&out, progs, rates); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out.Bytes())
	}
	if len(got) != 2 || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("want 2 objects on one line:\n%s", out.Bytes())
	}
	want := map[string]any{
		"id": 7.0, "type": "tracepoint", "name": "bpfprof_sys_enter", "tag": "d4d950593910dd42",
		"gpl_compatible": true, "run_time_ns": 1500.0, "run_cnt": 3.0, "recursion_misses": 1.0,
		"loaded_at": 1795305489.0, "uid": 0.0, "bytes_xlated": 144.0, "jited": true, "bytes_jited": 91.0,
		"bytes_memlock": 4096.0, "map_ids": []any{3.0, 4.0}, "btf_id": 9.0,
		"pids":      []any{map[string]any{"pid": 42.0, "comm": "a\"b"}},
		"full_name": "bpfprof_sys_enter", "kernel_name": "bpfprof_sys_ent", "verified_insns": 11.0,
		"subprograms": 0.0, "jited_ksyms": []any{"0xffffffffc0022194"}, "jited_func_lens": []any{91.0},
		"attach": []any{map[string]any{"link_id": 5.0, "link_type": "perf_event", "perf_event_type": "tracepoint",
			"name": "raw_syscalls/sys_enter", "description": "tracepoint raw_syscalls/sys_enter"}},
		"runs_per_sec": 12.5, "avg_run_ns": 500.0, "cpu_percent": 0.25,
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("program 7:\n got %v\nwant %v", got[0], want)
	}
	if got[1]["type"] != 99.0 || got[1]["name"] != "" || got[1]["map_ids"] == nil || got[1]["attach"] == nil {
		t.Errorf("program 8: %v", got[1])
	}
	for _, key := range []string{"bytes_memlock", "runs_per_sec"} {
		if _, ok := got[1][key]; ok {
			t.Errorf("program 8 has %s", key)
		}
	}
}
