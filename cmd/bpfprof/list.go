package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
)

// listInterval is the --interval flag: a duration as parseDuration reads it,
// or 0 to skip sampling.
type listInterval struct{ d time.Duration }

func (l *listInterval) String() string { return l.d.String() }

// Type names the value in pflag's messages.
func (l *listInterval) Type() string { return "duration" }

func (l *listInterval) Set(s string) error {
	d, err := parseAnyDuration(s)
	switch {
	case err != nil:
		return err
	case d < 0:
		return fmt.Errorf("interval %q is negative; give 0 to skip sampling", strings.TrimSpace(s))
	}
	l.d = d
	return nil
}

// listConfig is a parsed 'bpfprof list' command line.
type listConfig struct {
	json     bool
	pretty   bool
	interval time.Duration
	demo     bool
	sel      bpfprog.Selector
}

func parseListArgs(args []string, stderr io.Writer) (*listConfig, error) {
	fs := newFlagSet("list", "[flags] ["+bpfprog.SelectorUsage+"]", stderr)
	cfg := &listConfig{}
	interval := listInterval{d: time.Second}
	fs.BoolVarP(&cfg.json, "json", "j", false, "print a JSON array; keys follow 'bpftool prog show --json'")
	fs.BoolVarP(&cfg.pretty, "pretty", "p", false, "print the JSON indented (implies --json), as bpftool's -p")
	fs.Var(&interval, "interval", "sample run-time stats over `DURATION` (5s, 1m30s, or seconds); 0 skips sampling")
	fs.BoolVar(&cfg.demo, "demo", false, "first load and drive the bundled demo programs; unload them when done")
	// Flags may come before or after the selector.
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	cfg.interval = interval.d
	cfg.json = cfg.json || cfg.pretty
	sel, rest, err := bpfprog.ParseSelector(fs.Args())
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(rest) > 0 {
		return nil, usagef("unexpected argument %q; select programs with %s", rest[0], bpfprog.SelectorUsage)
	}
	cfg.sel = sel
	return cfg, nil
}

func runList(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseListArgs(args, stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if cfg.demo || cfg.interval > 0 {
		// Interrupted while sampling, still unload the demo and stop
		// the stats. A plain listing has nothing to undo, and a
		// signal handler costs it a thread.
		var cancel context.CancelFunc
		ctx, cancel = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer cancel()
	}
	return list(ctx, cfg, stdout, stderr)
}

func list(ctx context.Context, cfg *listConfig, stdout, stderr io.Writer) (err error) {
	// Say what is missing before the demo or the stats fail less clearly.
	if err := bpfprog.CheckAccess(); err != nil {
		return err
	}
	if cfg.demo {
		stop, err := testprogs.Demo(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stop(); err == nil && serr != nil {
				err = serr
			}
		}()
	}

	var before *bpfprog.Snapshot
	if cfg.interval > 0 {
		stats, err := bpfprog.OpenStats()
		if err != nil {
			return err
		}
		defer stats.Close()
		if stats.AlreadyEnabled() {
			fmt.Fprintln(stderr, "note: BPF run-time stats were already on (kernel.bpf_stats_enabled); left as they are")
		}
		if before, err = stats.Snapshot(); err != nil {
			return err
		}
		t := time.NewTimer(cfg.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("interrupted")
		case <-t.C:
		}
	}

	progs, err := bpfprog.Find(cfg.sel, bpfprog.ListOptions{})
	if err != nil {
		return err
	}
	var rates map[bpfprog.ID]bpfprog.Rate
	if before != nil {
		rates = map[bpfprog.ID]bpfprog.Rate{}
		for _, r := range bpfprog.Delta(before, bpfprog.SnapshotOf(progs)) {
			if !r.Gone {
				rates[r.ID] = r
			}
		}
	}
	if cfg.pretty {
		var compact, indented bytes.Buffer
		if err := writeListJSON(&compact, progs, rates); err != nil {
			return err
		}
		if err := json.Indent(&indented, compact.Bytes(), "", "    "); err != nil {
			return err
		}
		_, err := stdout.Write(indented.Bytes())
		return err
	}
	if cfg.json {
		return writeListJSON(stdout, progs, rates)
	}
	return writeListTable(stdout, progs, rates)
}

// writeListJSON writes the programs as a JSON array, one object per program
// on one line, as 'bpftool prog show --json' does. Keys up to "pids" are
// bpftool's, with the same values (bpftool leaves out btf_id, map_ids and
// the stats when they are zero, and has pids only when built with them);
// bpfprof's own follow: full_name is the BTF name also where the kernel's
// name is empty, kernel_name the kernel's 15-byte name, jited_ksyms are hex
// strings (kernel addresses exceed what JSON numbers keep exactly in most
// readers), and runs_per_sec, avg_run_ns and cpu_percent are over
// --interval, absent with --interval 0.
//
// It is written by hand: encoding/json's reflection took a tenth of the time
// of listing 500 programs.
func writeListJSON(w io.Writer, progs []bpfprog.Program, rates map[bpfprog.ID]bpfprog.Rate) error {
	// Written in pieces: one buffer for everything would be fresh memory,
	// page faults, for hundreds of kilobytes.
	const flushAt = 32 << 10
	b := make([]byte, 0, flushAt+4<<10)
	b = append(b, '[')
	for i := range progs {
		if i > 0 {
			b = append(b, ',')
		}
		var r *bpfprog.Rate
		if x, ok := rates[progs[i].ID]; ok {
			r = &x
		}
		var err error
		if b, err = appendProgramJSON(b, &progs[i], r); err != nil {
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

// appendProgramJSON appends one program's JSON object to b.
func appendProgramJSON(b []byte, p *bpfprog.Program, r *bpfprog.Rate) ([]byte, error) {
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
	str("name", bpftoolName(p))
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

// bpftoolName is the name 'bpftool prog show' prints: the BTF name of the
// main function when the kernel's name fills its 15 bytes, else the kernel's.
func bpftoolName(p *bpfprog.Program) string {
	if len(p.Name) == 15 {
		return p.FullName
	}
	return p.Name
}

func writeListTable(w io.Writer, progs []bpfprog.Program, rates map[bpfprog.ID]bpfprog.Rate) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tNAME\tTAG\tRUNS/s\tAVG ns\tCPU%\tATTACH\tPIDS")
	for i := range progs {
		p := &progs[i]
		runs, avg, cpu := "-", "-", "-"
		if r, ok := rates[p.ID]; ok {
			runs = strconv.FormatFloat(r.RunsPerSec, 'f', 0, 64)
			if r.Runs > 0 {
				avg = strconv.FormatFloat(r.AvgRunNs, 'f', 0, 64)
			}
			cpu = strconv.FormatFloat(r.CPUPercent, 'f', 2, 64)
		}
		name := p.FullName
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			p.ID, p.Type, name, p.Tag, runs, avg, cpu, listAttach(p.Attach), listPIDs(p.Procs))
	}
	return tw.Flush()
}

// listAttach is the ATTACH cell: the first attach point, and how many more.
func listAttach(as []bpfprog.Attach) string {
	switch len(as) {
	case 0:
		return "-"
	case 1:
		return as[0].Description
	}
	return fmt.Sprintf("%s (+%d more)", as[0].Description, len(as)-1)
}

// listPIDs is the PIDS cell: "comm(pid)" as bpftool prints them.
func listPIDs(procs []bpfprog.Proc) string {
	if len(procs) == 0 {
		return "-"
	}
	parts := make([]string, len(procs))
	for i, p := range procs {
		parts[i] = fmt.Sprintf("%s(%d)", p.Comm, p.PID)
	}
	return strings.Join(parts, ",")
}
