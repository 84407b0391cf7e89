package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
	"github.com/bpfprof/bpfprof/symbolize"
)

const annotateSynopsis = "[flags] " + bpfprog.SelectorUsage + "\n\n" +
	"Shows one BPF program's source lines, the xlated instructions each became (as bpftool prints them) and,\n" +
	"with --jit, its x86-64 machine code, each with its share of the samples: sampled live for -d,\n" +
	"read from a profile that 'bpfprof record' wrote (-i), or none (--no-samples)."

// defaultAnnotateDuration is how long annotate samples without -d.
const defaultAnnotateDuration = 5 * time.Second

// annotateConfig is a parsed annotate command line.
type annotateConfig struct {
	sel       bpfprog.Selector
	duration  time.Duration
	event     sampler.Event
	frequency uint64
	cpus      []int
	noSamples bool
	input     string
	jit       bool
	syntax    annotate.Syntax
	function  string
	json      bool
	color     string // auto, always or never
}

// parseAnnotateArgs parses the flags of bpfprof annotate. Mistakes are
// usage errors.
func parseAnnotateArgs(args []string, stderr io.Writer) (*annotateConfig, error) {
	fs := newFlagSet("annotate", annotateSynopsis, stderr)
	dur := fs.StringP("duration", "d", "", "sample for `DURATION` (5, 2.5, 1m30s; default 5s); Ctrl-C ends it early and still prints")
	var events eventSpecs
	fs.VarP(&events, "event", "e", "sample this `EVENT`, as record (default cycles with a hardware PMU, else cpu-clock)")
	freq := fs.StringP("freq", "F", "", "sample at this frequency in `HZ` per CPU (default 4000), or max")
	cpus := fs.StringP("cpu", "C", "", "sample only these `CPUS`, as a list such as 0,2-3")
	noSamples := fs.Bool("no-samples", false, "list the program at once, without sampling (needs no perf privileges)")
	input := fs.StringP("input", "i", "", "take the samples from `FILE`: a pprof profile 'bpfprof record' wrote (the program must still be loaded), or a perf.data 'perf record' wrote")
	jit := fs.Bool("jit", false, "add the x86-64 machine code of each source line, with samples per instruction")
	syntax := fs.String("syntax", "att", "`SYNTAX` of the machine code: att (as objdump and perf) or intel")
	function := fs.String("function", "", "list only the BPF function `NAME` (the main program or a subprogram)")
	jsonOut := fs.BoolP("json", "j", false, "print the listing as JSON")
	color := fs.String("color", "auto", "heat colours: `WHEN` is auto (on a terminal), always or never")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	set := fs.Changed
	cfg := &annotateConfig{
		duration:  defaultAnnotateDuration,
		frequency: sampler.DefaultFrequency,
		noSamples: *noSamples,
		input:     *input,
		jit:       *jit,
		function:  *function,
		json:      *jsonOut,
		color:     *color,
	}

	sel, rest, err := bpfprog.ParseSelector(fs.Args())
	switch {
	case err != nil:
		return nil, usagef("%v", err)
	case sel.Kind == bpfprog.SelectAll && len(rest) == 0:
		return nil, usagef("which program? give %s", bpfprog.SelectorUsage)
	case sel.Kind == bpfprog.SelectAll:
		return nil, usagef("%q is no program; give %s", rest[0], bpfprog.SelectorUsage)
	case len(rest) > 0:
		return nil, usagef("unexpected argument %q; annotate takes one program", rest[0])
	}
	cfg.sel = sel

	sampling := []string{}
	for _, f := range []string{"duration", "event", "freq", "cpu"} {
		if set(f) {
			sampling = append(sampling, "--"+f)
		}
	}
	switch {
	case cfg.noSamples && set("input"):
		return nil, usagef("--no-samples and -i are exclusive")
	case cfg.noSamples && len(sampling) > 0:
		return nil, usagef("--no-samples takes no sampling flags (%s)", strings.Join(sampling, ", "))
	case set("input") && len(sampling) > 0:
		return nil, usagef("-i reads its samples from the profile; it takes no sampling flags (%s)", strings.Join(sampling, ", "))
	case set("input") && cfg.input == "":
		return nil, usagef("-i needs a profile file")
	}
	switch *syntax {
	case "att", "at&t":
		cfg.syntax = annotate.ATT
	case "intel":
		cfg.syntax = annotate.Intel
	default:
		return nil, usagef("--syntax %q: want att or intel", *syntax)
	}
	switch cfg.color {
	case "auto", "always", "never":
	default:
		return nil, usagef("--color %q: want auto, always or never", cfg.color)
	}
	if set("duration") {
		if cfg.duration, err = parseDuration(*dur); err != nil {
			return nil, usagef("-d: %v", err)
		}
	}
	if set("freq") {
		if cfg.frequency, err = parseFrequency(*freq); err != nil {
			return nil, usagef("-F: %v", err)
		}
	}
	if set("cpu") {
		if cfg.cpus, err = sampler.ParseCPUList(*cpus); err != nil || len(cfg.cpus) == 0 {
			return nil, usagef("-C %q: want a CPU list such as 0,2-3", *cpus)
		}
	}
	switch {
	case len(events) > 1 || len(events) == 1 && strings.Contains(events[0], ","):
		return nil, usagef("-e %s: one event at a time", strings.Join(events, " -e "))
	case len(events) == 0:
		cfg.event = sampler.DefaultEvent()
	default:
		if cfg.event, err = sampler.ParseEvent(events[0]); err != nil {
			return nil, usagef("-e: %v", err)
		}
	}
	return cfg, nil
}

func runAnnotate(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseAnnotateArgs(args, stderr)
	if err != nil {
		return err
	}
	// Ctrl-C, SIGTERM, SIGHUP or SIGQUIT end the sampling early; the
	// listing still comes (to a file or pipe, if the terminal is gone).
	ctx, stop := notifyEnd(context.Background())
	defer stop()
	return annotateCmd(ctx, cfg, stdout, stderr)
}

// annotateCmd samples (or reads the profile) as cfg says and prints the
// listing.
func annotateCmd(ctx context.Context, cfg *annotateConfig, stdout, stderr io.Writer) error {
	if cfg.input != "" && isPerfData(cfg.input) {
		// perf.data stores the programs' info and BTF: no program need
		// be loaded.
		prog, counts, ks, err := perfDataProgram(cfg.input, cfg.sel, "")
		if c, ok := ks.(io.Closer); ok {
			defer c.Close()
		}
		if err != nil {
			return err
		}
		return writeListing(stdout, cfg, prog, counts, ks)
	}
	// An unreadable profile fails before anything else is read.
	var prof *profile.Profile
	if cfg.input != "" {
		var err error
		if prof, err = openProfile(cfg.input); err != nil {
			return err
		}
	}
	id, err := findOneProgram(cfg.sel)
	if err != nil {
		if prof != nil && errors.Is(err, errs.ErrNotFound) {
			return errs.Mark(fmt.Errorf("%v: -i needs the program still loaded for its instructions (a pprof profile holds only its samples); "+
				"record with 'perf record -a -g' and annotate -i perf.data to list programs that are gone", err), errs.ErrNotFound)
		}
		return err
	}

	var (
		prog   *annotate.Program
		counts annotate.Counts
		ks     session.KernelSymbols
	)
	switch {
	case cfg.noSamples || prof != nil:
		// Only kallsyms, to name helpers and call targets: no program
		// info (NoBPF), no processes.
		sym, err := symbolize.New(symbolize.Options{PIDs: []int{}, NoBPF: true})
		if err != nil {
			return fmt.Errorf("symbolizer: %w", err)
		}
		defer sym.Close()
		ks = sym
		if prog, err = session.Capture(id, sym); err != nil {
			return err
		}
		if prof != nil {
			if counts, err = profileCounts(prof, cfg.input, prog); err != nil {
				return err
			}
		}
	default:
		sess, err := session.Open(session.Options{
			Sampler: sampler.Options{
				Events:    []sampler.Event{cfg.event},
				Frequency: cfg.frequency,
				CPUs:      cfg.cpus,
			},
			Warn: func(w string) { fmt.Fprintf(stderr, "warning: %s\n", w) },
		})
		if err != nil {
			return err
		}
		defer sess.Close()
		ks = sess.KernelSymbols()
		// Captured before sampling: a program that unloads meanwhile is
		// still listed, with the samples it got.
		if prog, err = sess.Program(id); err != nil {
			return err
		}
		if counts, err = sampleProgram(ctx, sess, cfg, id, stderr); err != nil {
			return err
		}
	}

	return writeListing(stdout, cfg, prog, counts, ks)
}

// writeListing builds the listing of prog and prints it as cfg says.
func writeListing(stdout io.Writer, cfg *annotateConfig, prog *annotate.Program, counts annotate.Counts, ks annotate.KernelSymbols) error {
	l, err := annotate.Build(prog, counts, annotate.Options{
		JIT:      cfg.jit,
		Syntax:   cfg.syntax,
		Function: cfg.function,
		Kernel:   ks,
	})
	if err != nil {
		return err
	}
	if cfg.json {
		return annotate.WriteJSON(stdout, l)
	}
	color := cfg.color == "always" || cfg.color == "auto" && isTerminal(stdout) &&
		os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	return annotate.WriteText(stdout, l, annotate.TextOptions{Color: color})
}

// findOneProgram resolves sel to the id of exactly one loaded program.
func findOneProgram(sel bpfprog.Selector) (uint32, error) {
	progs, err := bpfprog.Find(sel, bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		return 0, err
	}
	if len(progs) > 1 {
		ids := make([]string, len(progs))
		for i := range progs {
			ids[i] = strconv.FormatUint(uint64(progs[i].ID), 10)
		}
		return 0, fmt.Errorf("%s matches %d programs (ids %s); annotate one, by id ID", sel, len(progs), strings.Join(ids, ", "))
	}
	return uint32(progs[0].ID), nil
}

// sampleProgram runs the session until cfg.duration passes or ctx ends,
// with the program's run-time stats on, and returns the counts of program
// id.
func sampleProgram(ctx context.Context, sess *session.Session, cfg *annotateConfig, id uint32, stderr io.Writer) (annotate.Counts, error) {
	// Run-time stats need CAP_SYS_ADMIN, which reading the program
	// already did; without them the listing has no run count.
	var before *bpfprog.Snapshot
	stats, err := bpfprog.OpenStats()
	if err == nil {
		defer stats.Close()
		before, _ = stats.Snapshot()
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	if isTerminal(stderr) {
		fmt.Fprintf(stderr, "sampling for %s (Ctrl-C to stop early)...", cfg.duration)
		defer fmt.Fprint(stderr, "\r\x1b[K")
	}
	if err := sess.Run(runCtx); err != nil {
		return annotate.Counts{}, err
	}
	st := sess.Stats()
	c := annotate.CountsFromSnapshot(sess.Snapshot(), id)
	c.Period, c.Event = st.Elapsed, cfg.event.String()
	if before != nil {
		if after, err := stats.Snapshot(); err == nil {
			if r, ok := bpfprog.Rates(before, after)[bpfprog.ID(id)]; ok {
				c.RunCount, c.RunTimeNs = r.Runs, uint64(r.RunTime.Nanoseconds())
			}
		}
	}
	if lost := st.Sampler.Lost + st.Sampler.LostSamples; lost > 0 {
		fmt.Fprintf(stderr, "warning: %d samples were lost; use a lower -F\n", lost)
	}
	return c, nil
}

// openProfile reads a pprof profile, gzipped or not.
func openProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-i: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("-i %s: not a pprof profile (%v); give a file 'bpfprof record' wrote", path, err)
	}
	return p, nil
}

// profileCounts gathers the samples of prog from a profile: by exact JIT
// address where the profile was recorded from this very load of the
// program (its addresses lie in the captured JIT image), else by source
// line. Samples of the program are those whose leaf frame is in a BPF
// mapping with the program's tag.
func profileCounts(p *profile.Profile, path string, prog *annotate.Program) (annotate.Counts, error) {
	c := annotate.Counts{
		ByAddr: map[uint64]uint64{},
		ByLine: map[annotate.LineKey]uint64{},
		Period: time.Duration(p.DurationNanos),
	}
	if len(p.SampleType) > 1 {
		c.Event = p.SampleType[1].Type
		if c.Event == "cpu" {
			c.Event = "cpu-clock"
		}
	}
	for _, cm := range p.Comments {
		if ev, ok := strings.CutPrefix(cm, "event: "); ok {
			c.Event, _, _ = strings.Cut(ev, " ")
		}
	}
	inImage := func(addr uint64) bool {
		if prog.JIT == nil {
			return false
		}
		for i, start := range prog.JIT.Ksyms {
			size := uint64(len(prog.JIT.Image))
			if i < len(prog.JIT.FuncLens) {
				size = uint64(prog.JIT.FuncLens[i])
			}
			if addr >= start && addr < start+size {
				return true
			}
		}
		return false
	}
	exact := true
	found := false
	for _, s := range p.Sample {
		if len(s.Value) == 0 {
			continue
		}
		n := uint64(max(s.Value[0], 0))
		c.Total += n
		if len(s.Location) == 0 {
			continue
		}
		leaf := s.Location[0]
		m := leaf.Mapping
		if m == nil || !strings.HasPrefix(m.File, "[bpf]") || m.BuildID != prog.Tag {
			continue
		}
		found = true
		c.Program += n
		if leaf.Address != 0 && inImage(leaf.Address) {
			c.ByAddr[leaf.Address] += n
		} else {
			exact = false
		}
		if len(leaf.Line) > 0 && leaf.Line[0].Function != nil {
			ln := leaf.Line[0]
			c.ByLine[annotate.LineKey{Func: ln.Function.Name, File: ln.Function.Filename, Line: uint32(ln.Line)}] += n
		}
	}
	if !found {
		return c, errs.New(errs.ErrNotFound, fmt.Sprintf("%s has no samples in BPF program %d (%s, tag %s); annotate it live, or record while it runs", path, prog.ID, prog.Name, prog.Tag))
	}
	if exact {
		c.ByLine = nil
		return c, nil
	}
	// Another load of the same code: its addresses mean nothing here, its
	// source lines do.
	c.ByAddr = nil
	if len(prog.Lines) == 0 {
		return c, fmt.Errorf("BPF program %d has no BTF line info, and %s was recorded from another load of it: its samples cannot be placed; annotate it live", prog.ID, path)
	}
	if len(c.ByLine) == 0 {
		return c, errors.New(path + " has no source lines for the program's samples; annotate it live")
	}
	return c, nil
}
