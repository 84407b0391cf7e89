package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

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
	// columns are the table's columns, indexes into listColumns; nil for
	// the default ones.
	columns []int
}

func parseListArgs(args []string, stderr io.Writer) (*listConfig, error) {
	fs := newFlagSet("list", "[flags] ["+bpfprog.SelectorUsage+"]", stderr)
	cfg := &listConfig{}
	interval := listInterval{d: time.Second}
	fs.BoolVarP(&cfg.json, "json", "j", false, "print a JSON array; keys follow 'bpftool prog show --json'")
	fs.BoolVarP(&cfg.pretty, "pretty", "p", false, "print the JSON indented (implies --json), as bpftool's -p")
	fs.Var(&interval, "interval", "sample run-time stats over `DURATION` (5s, 1m30s, or seconds); 0 skips sampling")
	fs.BoolVar(&cfg.demo, "demo", false, "first load and drive the bundled demo programs; unload them when done")
	columns := fs.StringP("columns", "o", "", "show these `COLUMNS` of the table (comma-separated, as ps -o): "+strings.Join(listColumnNames(), ","))
	// Flags may come before or after the selector.
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	cfg.interval = interval.d
	cfg.json = cfg.json || cfg.pretty
	if fs.Changed("columns") {
		if cfg.json {
			return nil, usagef("-o/--columns chooses the table's columns; --json has every key")
		}
		cols, err := parseListColumns(*columns)
		if err != nil {
			return nil, usagef("-o: %v", err)
		}
		cfg.columns = cols
	}
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
		rates = bpfprog.Rates(before, bpfprog.SnapshotOf(progs))
	}
	if cfg.pretty {
		var compact, indented bytes.Buffer
		if err := bpfprog.WriteJSON(&compact, progs, rates); err != nil {
			return err
		}
		if err := json.Indent(&indented, compact.Bytes(), "", "    "); err != nil {
			return err
		}
		_, err := stdout.Write(indented.Bytes())
		return err
	}
	if cfg.json {
		return bpfprog.WriteJSON(stdout, progs, rates)
	}
	return writeListTable(stdout, progs, rates, cfg.columns)
}

// listColumn is one column the table can show.
type listColumn struct {
	// key names it for --columns, as the JSON key of the same value.
	key, header string
	cell        func(p *bpfprog.Program, r *bpfprog.Rate) string
}

// listColumns are the columns of the table, the default ones first.
var listColumns = []listColumn{
	{"id", "ID", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return strconv.FormatUint(uint64(p.ID), 10) }},
	{"type", "TYPE", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return p.Type.String() }},
	{"name", "NAME", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return orDash(p.FullName) }},
	{"tag", "TAG", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return p.Tag }},
	{"runs_per_sec", "RUNS/s", func(_ *bpfprog.Program, r *bpfprog.Rate) string {
		if r == nil {
			return "-"
		}
		return strconv.FormatFloat(r.RunsPerSec, 'f', 0, 64)
	}},
	{"avg_run_ns", "AVG ns", func(_ *bpfprog.Program, r *bpfprog.Rate) string {
		if r == nil || r.Runs == 0 {
			return "-"
		}
		return strconv.FormatFloat(r.AvgRunNs, 'f', 0, 64)
	}},
	{"cpu_percent", "CPU%", func(_ *bpfprog.Program, r *bpfprog.Rate) string {
		if r == nil {
			return "-"
		}
		return strconv.FormatFloat(r.CPUPercent, 'f', 2, 64)
	}},
	{"attach", "ATTACH", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return listAttach(p.Attach) }},
	{"pids", "PIDS", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return listPIDs(p.Procs) }},
	// Not shown by default.
	{"run_cnt", "RUN_CNT", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatUint(p.Stats.RunCount, 10)
	}},
	{"run_time_ns", "RUN_TIME_NS", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatInt(p.Stats.RunTime.Nanoseconds(), 10)
	}},
	{"loaded_at", "LOADED_AT", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		// bpftool's format.
		return p.LoadedAt.Format("2006-01-02T15:04:05-0700")
	}},
	{"map_ids", "MAP_IDS", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		ids := make([]string, len(p.MapIDs))
		for i, id := range p.MapIDs {
			ids[i] = strconv.FormatUint(uint64(id), 10)
		}
		return orDash(strings.Join(ids, ","))
	}},
	{"uid", "UID", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return strconv.FormatUint(uint64(p.UID), 10) }},
	{"kernel_name", "KERNEL_NAME", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return orDash(p.Name) }},
	{"bytes_xlated", "XLATED", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatUint(uint64(p.XlatedSize), 10)
	}},
	{"bytes_jited", "JITED", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatUint(uint64(p.JitedSize), 10)
	}},
	{"verified_insns", "VERIFIED", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatUint(uint64(p.VerifiedInsns), 10)
	}},
	{"recursion_misses", "RECURSION_MISSES", func(p *bpfprog.Program, _ *bpfprog.Rate) string {
		return strconv.FormatUint(p.Stats.RecursionMisses, 10)
	}},
	{"btf_id", "BTF_ID", func(p *bpfprog.Program, _ *bpfprog.Rate) string { return strconv.FormatUint(uint64(p.BTFID), 10) }},
}

// defaultListColumns is how many of listColumns the table shows without
// --columns.
const defaultListColumns = 9

// listColumnNames returns the keys --columns takes.
func listColumnNames() []string {
	names := make([]string, len(listColumns))
	for i, c := range listColumns {
		names[i] = c.key
	}
	return names
}

// parseListColumns parses --columns: keys separated by commas or spaces,
// as ps -o takes them.
func parseListColumns(s string) ([]int, error) {
	var cols []int
	for _, key := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		i := slices.IndexFunc(listColumns, func(c listColumn) bool { return strings.EqualFold(c.key, key) })
		if i < 0 {
			return nil, fmt.Errorf("no column %q; choose from %s", key, strings.Join(listColumnNames(), ","))
		}
		cols = append(cols, i)
	}
	if len(cols) == 0 {
		return nil, errors.New("name at least one column")
	}
	return cols, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeListTable writes the programs as a table of the columns cols
// (indexes into listColumns; nil for the default ones).
func writeListTable(w io.Writer, progs []bpfprog.Program, rates map[bpfprog.ID]bpfprog.Rate, cols []int) error {
	if cols == nil {
		for i := range defaultListColumns {
			cols = append(cols, i)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range cols {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, listColumns[c].header)
	}
	io.WriteString(tw, "\n")
	for i := range progs {
		p := &progs[i]
		var r *bpfprog.Rate
		if x, ok := rates[p.ID]; ok {
			r = &x
		}
		for j, c := range cols {
			if j > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, listColumns[c].cell(p, r))
		}
		io.WriteString(tw, "\n")
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
