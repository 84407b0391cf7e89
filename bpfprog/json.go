package bpfprog

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// WriteJSON writes the programs as a JSON array, one object per program
// on one line, as 'bpftool prog show --json' does. Keys up to "pids" are
// bpftool's, with the same values (bpftool leaves out btf_id, map_ids and
// the stats when they are zero, and has pids only when built with them);
// bpfprof's own follow: full_name is the BTF name also where the kernel's
// name is empty, kernel_name the kernel's 15-byte name, jited_ksyms are hex
// strings (kernel addresses exceed what JSON numbers keep exactly in most
// readers), and runs_per_sec, avg_run_ns and cpu_percent are the
// program's entry in rates, absent without one.
//
// It is written by hand: encoding/json's reflection took a tenth of the time
// of listing 500 programs.
func WriteJSON(w io.Writer, progs []Program, rates map[ID]Rate) error {
	// Written in pieces: one buffer for everything would be fresh memory,
	// page faults, for hundreds of kilobytes.
	const flushAt = 32 << 10
	b := make([]byte, 0, flushAt+4<<10)
	b = append(b, '[')
	for i := range progs {
		if i > 0 {
			b = append(b, ',')
		}
		var r *Rate
		if x, ok := rates[progs[i].ID]; ok {
			r = &x
		}
		var err error
		if b, err = AppendJSON(b, &progs[i], r); err != nil {
			return err
		}
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]\n"...)
	_, err := w.Write(b)
	return err
}

// AppendJSON appends one program's JSON object, as WriteJSON writes it, to
// b; r may be nil.
func AppendJSON(b []byte, p *Program, r *Rate) ([]byte, error) {
	num := func(key string, v uint64) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = strconv.AppendUint(b, v, 10)
	}
	str := func(key, v string) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	}
	boolean := func(key string, v bool) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = strconv.AppendBool(b, v)
	}
	list := func(key string, n int, elem func(i int)) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':', '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			elem(i)
		}
		b = append(b, ']')
	}

	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(p.ID), 10)
	typ, err := p.Type.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = append(b, `,"type":`...)
	b = append(b, typ...)
	str("name", p.BpftoolName())
	str("tag", p.Tag)
	boolean("gpl_compatible", p.GPL)
	num("run_time_ns", uint64(p.Stats.RunTime.Nanoseconds()))
	num("run_cnt", p.Stats.RunCount)
	num("recursion_misses", p.Stats.RecursionMisses)
	b = append(b, `,"loaded_at":`...)
	b = strconv.AppendInt(b, p.LoadedAt.Unix(), 10)
	num("uid", uint64(p.UID))
	num("bytes_xlated", uint64(p.XlatedSize))
	boolean("jited", p.JitedSize > 0)
	num("bytes_jited", uint64(p.JitedSize))
	if p.Memlock > 0 {
		num("bytes_memlock", p.Memlock)
	}
	list("map_ids", len(p.MapIDs), func(i int) { b = strconv.AppendUint(b, uint64(p.MapIDs[i]), 10) })
	num("btf_id", uint64(p.BTFID))
	list("pids", len(p.Procs), func(i int) {
		b = append(b, `{"pid":`...)
		b = strconv.AppendInt(b, int64(p.Procs[i].PID), 10)
		b = append(b, `,"comm":`...)
		b = appendJSONString(b, p.Procs[i].Comm)
		b = append(b, '}')
	})
	str("full_name", p.FullName)
	str("kernel_name", p.Name)
	num("verified_insns", uint64(p.VerifiedInsns))
	num("subprograms", uint64(p.Subprograms))
	list("jited_ksyms", len(p.JitedKsyms), func(i int) {
		b = append(b, `"0x`...)
		b = strconv.AppendUint(b, p.JitedKsyms[i], 16)
		b = append(b, '"')
	})
	list("jited_func_lens", len(p.JitedFuncLens), func(i int) { b = strconv.AppendUint(b, uint64(p.JitedFuncLens[i]), 10) })
	for i := range p.Attach {
		a, err := json.Marshal(&p.Attach[i])
		if err != nil {
			return nil, err
		}
		if i == 0 {
			b = append(b, `,"attach":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	if len(p.Attach) == 0 {
		b = append(b, `,"attach":[`...)
	}
	b = append(b, ']')
	if r != nil {
		for _, f := range []struct {
			key string
			v   float64
		}{{"runs_per_sec", r.RunsPerSec}, {"avg_run_ns", r.AvgRunNs}, {"cpu_percent", r.CPUPercent}} {
			b = append(b, ',', '"')
			b = append(b, f.key...)
			b = append(b, '"', ':')
			b = strconv.AppendFloat(b, f.v, 'f', -1, 64)
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (comms and
// names are bytes from the kernel).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// BpftoolName is the name 'bpftool prog show' prints: the BTF name of the
// main function when the kernel's name fills its 15 bytes, else the kernel's.
func (p *Program) BpftoolName() string {
	if len(p.Name) == 15 {
		return p.FullName
	}
	return p.Name
}
