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
	return writeListTable(stdout, progs, rates)
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
