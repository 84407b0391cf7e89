package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/outfile"
	"github.com/bpfprof/bpfprof/internal/privilege"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/sampler/perfdata"
	"github.com/bpfprof/bpfprof/symbolize"
)

const convertSynopsis = "[-i perf.data] [-o FILE] [-e EVENT] [--bpf-only]"

// convertConfig is a parsed convert command line.
type convertConfig struct {
	input, output string
	event         string
	bpfOnly       bool
	args          []string
}

func parseConvertArgs(args []string, stderr io.Writer) (*convertConfig, error) {
	fs := newFlagSet("convert", convertSynopsis+"\n\n"+
		"Converts a perf.data file written by 'perf record' (file or pipe mode) into a pprof profile like\n"+
		"'bpfprof record' writes: BPF frames get their BTF function and source line from the program info\n"+
		"perf stored, also for programs long unloaded. One event per profile: the first sampling event, or -e.", stderr)
	input := fs.StringP("input", "i", "perf.data", "read `FILE` (- for standard input, as 'perf record -o -' writes it)")
	output := fs.StringP("output", "o", defaultOutput, "write the profile to `FILE` (- for standard output)")
	event := fs.StringP("event", "e", "", "convert the samples of this `EVENT` (its perf name, e.g. cpu-clock or page-faults); default: the first event that sampled")
	bpfOnly := fs.Bool("bpf-only", false, "keep only samples with a BPF frame in their stack")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if *input == "" || *output == "" {
		return nil, usagef("-i and -o need a file name, or - for standard input and output")
	}
	return &convertConfig{input: *input, output: *output, event: *event, bpfOnly: *bpfOnly, args: args}, nil
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConvertArgs(args, stderr)
	if err != nil {
		return err
	}
	return convert(cfg, os.Stdin, stdout, stderr)
}

// openPerfData opens a perf.data file (or standard input for "-") and reads
// its header.
func openPerfData(path string, stdin io.Reader) (*perfdata.Reader, func(), error) {
	if path == "-" {
		rd, err := perfdata.NewReader(stdin)
		if err != nil {
			return nil, nil, fmt.Errorf("standard input: %w", err)
		}
		return rd, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; record one with 'perf record -a -g' or name it with -i", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory (perf record --threaded writes one): not supported; record without --threaded", path)
	}
	rd, err := perfdata.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return rd, func() { f.Close() }, nil
}

// conversion is what a finished conversion reports.
type conversion struct {
	event    *perfdata.Event
	others   uint64 // samples of other events, left out
	stats    perfdata.Stats
	snap     *aggregate.Snapshot
	kernel   kernelMatch
	noInfo   []string // sampled BPF programs without info in the file
	infoErrs []string
}

// runPerfData reads every record of rd through a pipeline for the samples
// of event (the first sampling event if "").
func runPerfData(rd *perfdata.Reader, input, event string, bpfOnly bool) (*convertPipeline, error) {
	hdr := rd.Header()
	var pl *convertPipeline
	var plErr error
	err := rd.Run(sampler.HandlerFunc(func(r sampler.Record) {
		// In pipe mode the events and the features come with the stream,
		// ahead of the kernel's records: the pipeline is made once they
		// are known.
		if pl == nil && plErr == nil {
			pl, plErr = newConvertPipeline(hdr, event, bpfOnly, rd.Stats().KernelText)
		}
		if plErr == nil {
			pl.HandleRecord(r)
		}
	}))
	if err == nil {
		err = plErr
	}
	if err != nil {
		if pl != nil {
			pl.sym.Close()
		}
		return nil, err
	}
	if pl == nil {
		return nil, fmt.Errorf("%s holds no records: nothing to convert", input)
	}
	return pl, nil
}

// convertPipeline symbolizes and counts the records of one event.
type convertPipeline struct {
	event  int
	others uint64
	kernel kernelMatch
	progs  *fileProgs
	sym    *symbolize.Symbolizer
	agg    *aggregate.Aggregator
}

func newConvertPipeline(hdr *perfdata.Header, event string, bpfOnly bool, kernelText uint64) (*convertPipeline, error) {
	ev, err := chooseEvent(hdr, event)
	if err != nil {
		return nil, err
	}
	debugDir := perfDebugDir()
	pl := &convertPipeline{event: ev, kernel: matchKernel(hdr, debugDir), progs: &fileProgs{hdr: hdr}}
	pl.sym, err = symbolize.New(symbolize.Options{Offline: &symbolize.Offline{
		Program:       pl.progs.info,
		KernelSymbols: pl.kernel.use,
		Kallsyms:      pl.kernel.kallsyms,
		KernelText:    kernelText,
		BuildIDs:      userBuildIDs(hdr),
		DebugDir:      debugDir,
	}})
	if err != nil {
		return nil, fmt.Errorf("symbolizer: %w", err)
	}
	callGraph := hdr.Events[ev].Attr.Sample_type&sampleCallchain != 0
	pl.agg, err = aggregate.New(aggregate.Options{Resolver: pl.sym, CallGraph: callGraph, BPFOnly: bpfOnly})
	if err != nil {
		pl.sym.Close()
		return nil, err
	}
	return pl, nil
}

// HandleRecord passes side-band records and the chosen event's samples on.
func (pl *convertPipeline) HandleRecord(r sampler.Record) {
	if s, ok := r.(*sampler.Sample); ok && s.Event != pl.event {
		pl.others++
		return
	}
	pl.sym.HandleRecord(r)
	pl.agg.HandleRecord(r)
}

func convert(cfg *convertConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	out, err := outfile.Create(cfg.output, stdout)
	if err != nil {
		return err
	}
	defer out.Abort()
	rd, closeIn, err := openPerfData(cfg.input, stdin)
	if err != nil {
		return err
	}
	defer closeIn()
	hdr := rd.Header()
	pl, err := runPerfData(rd, cfg.input, cfg.event, cfg.bpfOnly)
	if err != nil {
		return err
	}
	defer pl.sym.Close()
	res := conversion{event: hdr.Events[pl.event], others: pl.others, kernel: pl.kernel, stats: rd.Stats(), snap: pl.agg.Snapshot()}
	for _, p := range res.snap.Programs {
		if _, ok := hdr.Programs[p.Prog.ID]; !ok {
			res.noInfo = append(res.noInfo, p.Prog.Name)
		}
	}
	res.infoErrs = pl.progs.errs
	if pl.kernel.use && pl.sym.KptrRestricted() {
		res.kernel = hiddenKallsyms()
	}
	pl.sym.Close()

	meta := pprof.Meta{
		Event:         res.event.BaseName(),
		Clock:         res.event.IsClock(),
		KernelRelease: hdr.OSRelease,
		CommandLine:   append([]string{"bpfprof", "convert"}, cfg.args...),
	}
	if res.event.Freq() {
		meta.Frequency = res.event.Attr.Sample
	} else {
		meta.Period = res.event.Attr.Sample
	}
	if hdr.LastSample > hdr.FirstSample {
		meta.Duration = time.Duration(hdr.LastSample - hdr.FirstSample)
	}
	switch cd := hdr.ClockData; {
	case cd != nil && res.snap.Start != 0:
		meta.Start = time.Unix(0, int64(cd.WallNanos)).Add(-time.Duration(cd.ClockNs - res.snap.Start))
	case cfg.input != "-":
		// perf writes the file last when the recording ends: its
		// modification time less the recording's span is about the start.
		if fi, err := os.Stat(cfg.input); err == nil {
			meta.Start = fi.ModTime().Add(-meta.Duration)
			meta.Comments = append(meta.Comments, "start time: the file's modification time less the recording's span (perf stored no wall clock; record with -k to store one)")
		}
	}
	if len(hdr.Cmdline) > 0 {
		meta.Comments = append(meta.Comments, "recorded with: "+strings.Join(hdr.Cmdline, " "))
	}
	if !res.kernel.use {
		meta.Comments = append(meta.Comments, "kernel frames unnamed: "+res.kernel.why)
	}
	p, err := pprof.Build(res.snap, meta)
	if err != nil {
		return err
	}
	size, err := out.Commit(func(w io.Writer) error { return pprof.Write(w, p) })
	if err != nil {
		return err
	}
	summarizeConversion(stderr, &res, out.Name(), out.Regular(), size)
	return nil
}

// sampleCallchain is PERF_SAMPLE_CALLCHAIN.
const sampleCallchain = unix.PERF_SAMPLE_CALLCHAIN

// chooseEvent picks the event whose samples to convert: the one named, or
// the first that samples (not perf's dummy).
func chooseEvent(hdr *perfdata.Header, name string) (int, error) {
	var names []string
	for i, ev := range hdr.Events {
		if name == "" && !ev.IsDummy() {
			return i, nil
		}
		if name != "" && (ev.Name == name || ev.BaseName() == name) {
			return i, nil
		}
		names = append(names, ev.BaseName())
	}
	if name == "" {
		return 0, fmt.Errorf("the file has no sampling event (only %s)", strings.Join(names, ", "))
	}
	return 0, fmt.Errorf("-e %s: %w in the file; it has %s", name, errs.ErrNotFound, strings.Join(names, ", "))
}

// kernelMatch says whether the running kernel's symbols serve for the
// recording's kernel frames, and why not.
type kernelMatch struct {
	use bool
	// why says why kernel frames are unnamed, fix what would name them.
	why, fix string
	// kallsyms is the recording kernel's kallsyms in perf's build-ID
	// cache, when the running kernel is another.
	kallsyms string
}

// matchKernel compares the recording's kernel with the running one: by
// build ID when both are known, else by release. For another kernel, the
// copy of its kallsyms in perf's build-ID cache under debugDir serves, if
// there is one.
func matchKernel(hdr *perfdata.Header, debugDir string) kernelMatch {
	rec, hasRec := hdr.KernelBuildID()
	live, hasLive := symbolize.RunningKernelBuildID()
	release := kernelRelease()
	var m kernelMatch
	switch {
	case hasRec && hasLive && hex.EncodeToString(rec) == live:
		return kernelMatch{use: true}
	case hasRec && hasLive:
		m.why = fmt.Sprintf("recorded on kernel %s (build ID %x), this is %s (build ID %s)", orUnknown(hdr.OSRelease), rec, release, live)
	case hdr.OSRelease != "" && hdr.OSRelease == release:
		return kernelMatch{use: true}
	case hdr.OSRelease == "":
		m.why = "the file names no kernel release or build ID"
	default:
		m.why = fmt.Sprintf("recorded on kernel %s, this is %s", hdr.OSRelease, release)
	}
	if hasRec && debugDir != "" {
		cached := filepath.Join(debugDir, "[kernel.kallsyms]", hex.EncodeToString(rec), "kallsyms")
		if fi, err := os.Stat(cached); err == nil && fi.Mode().IsRegular() {
			return kernelMatch{use: true, kallsyms: cached}
		}
	}
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// userBuildIDs gives the build IDs perf recorded for user-space files.
func userBuildIDs(hdr *perfdata.Header) map[string]string {
	m := map[string]string{}
	for _, b := range hdr.BuildIDs {
		if !b.Kernel && strings.HasPrefix(b.Path, "/") {
			m[b.Path] = hex.EncodeToString(b.ID)
		}
	}
	return m
}

// perfDebugDir is perf's build-ID cache: $PERF_BUILDID_DIR, else
// ~/.debug.
func perfDebugDir() string {
	if d := os.Getenv("PERF_BUILDID_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".debug")
	}
	return ""
}

// fileProgs hands the symbolizer the BPF program info stored in the file.
type fileProgs struct {
	hdr  *perfdata.Header
	errs []string
}

func (f *fileProgs) info(id uint32) (*symbolize.ProgInfo, error) {
	p, ok, err := f.hdr.Program(id)
	if !ok {
		return nil, fmt.Errorf("BPF program %d: %w in the file", id, errs.ErrNotFound)
	}
	if err != nil {
		// Names and lines are missing; the JIT images still serve.
		f.errs = append(f.errs, err.Error())
	}
	return progInfo(p), nil
}

// progInfo turns a program of the file into what the symbolizer takes.
func progInfo(p *perfdata.Program) *symbolize.ProgInfo {
	info := &symbolize.ProgInfo{
		ID:        p.ID,
		Tag:       p.HexTag(),
		Type:      bpfprog.Type(p.Type).Name(),
		Name:      p.FullName,
		KsymAddrs: p.JitedKsyms,
		FuncLens:  p.JitedFuncLens,
	}
	if len(p.Funcs) == len(p.FuncInfo) {
		for i, fi := range p.FuncInfo {
			info.Funcs = append(info.Funcs, symbolize.ProgFunc{Insn: fi.InsnOff, Name: p.Funcs[i]})
		}
	}
	if len(p.Lines) == len(p.LineInfo) && len(p.JitedLineInfo) == len(p.LineInfo) {
		for i, l := range p.Lines {
			info.Lines = append(info.Lines, symbolize.ProgLine{
				Insn: p.LineInfo[i].InsnOff, File: l.File, Line: l.Line, Col: l.Column, Source: l.Source,
			})
		}
		info.JitedLines = p.JitedLineInfo
	}
	return info
}

// summarizeConversion prints what was converted, on stderr always.
func summarizeConversion(w io.Writer, r *conversion, written string, regular bool, size int64) {
	c := r.snap.Counters
	fmt.Fprintf(w, "converted %s of %s", plural(c.Samples, "sample"), r.event.BaseName())
	if c.Dropped > 0 {
		fmt.Fprintf(w, " (%d without a BPF frame left out)", c.Dropped)
	}
	fmt.Fprintf(w, " from %d records (%s)", r.stats.Records, byteSize(int64(r.stats.Bytes)))
	if r.others > 0 {
		fmt.Fprintf(w, "; %s of other events left out (choose with -e)", plural(r.others, "sample"))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "BPF programs: %d in samples, %d loaded and %d unloaded while recording\n", c.ProgramsSeen, c.ProgLoads, c.ProgUnloads)
	if len(r.noInfo) > 0 {
		fmt.Fprintf(w, "warning: BPF programs without info in the file (pipe mode, or perf built without libbpf): %s: "+
			"named by kernel symbol only, without source lines\n", strings.Join(r.noInfo, ", "))
	}
	for _, e := range r.infoErrs {
		fmt.Fprintf(w, "warning: %s\n", e)
	}
	if r.kernel.kallsyms != "" {
		fmt.Fprintf(w, "kernel frames named from the recording kernel's symbols in perf's build-ID cache (%s)\n", r.kernel.kallsyms)
	}
	if !r.kernel.use {
		fix := r.kernel.fix
		if fix == "" {
			fix = "convert on the recording machine to name them"
		}
		fmt.Fprintf(w, "warning: kernel frames are unnamed: %s; %s\n", r.kernel.why, fix)
	}
	if lost := c.Lost + c.LostSamples; lost > 0 {
		fmt.Fprintf(w, "warning: the recording lost %s\n", plural(lost, "record"))
	}
	printWritten(w, written, regular, size)
}

// hiddenKallsyms is the kernel match of a conversion on the recording
// kernel whose /proc/kallsyms shows this process only zero addresses.
func hiddenKallsyms() kernelMatch {
	m := kernelMatch{why: "/proc/kallsyms hides the kernel's addresses from this user",
		fix: "run as root or with CAP_SYSLOG to name them"}
	if f, err := privilege.Read(); err == nil {
		if why, fix := symbolize.KernelAddressesHidden(f); why != "" {
			m.why, m.fix = why, fix
		}
	}
	return m
}
