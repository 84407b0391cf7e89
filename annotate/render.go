package annotate

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TextOptions shape the plain-text rendering.
type TextOptions struct {
	// Color adds ANSI heat colours for a terminal: red for the hottest
	// line and instructions with 20% or more of their function, yellow
	// for other hot lines and 5% or more, green for anything sampled.
	Color bool
}

// ANSI colours of the heat levels.
const (
	colorReset  = "\x1b[0m"
	colorRed    = "\x1b[1;31m"
	colorYellow = "\x1b[33m"
	colorGreen  = "\x1b[32m"
	colorDim    = "\x1b[2m"
)

// hotMarker starts the line of a hot source line in plain text: ">1" for
// the hottest, ">2" the next, ..., ">+" past the ninth.
const hotMarker = ">"

// WriteText renders l as text: a summary, then per function its header and
// each source line with its samples, its xlated instructions and, when
// listed, its machine code with per-instruction samples. Hot lines start
// with ">N" (N their rank). Without samples the count columns are left
// out, giving bpftool's "dump xlated linum" shape.
func WriteText(w io.Writer, l *Listing, opts TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := textWriter{w: bw, color: opts.Color, heat: l.Samples > 0}
	t.summary(l)
	for i := range l.Functions {
		t.function(&l.Functions[i])
	}
	return bw.Flush()
}

// textWriter renders one listing.
type textWriter struct {
	w     *bufio.Writer
	color bool
	heat  bool
	buf   []byte
	num   [24]byte
}

func (t *textWriter) summary(l *Listing) {
	b := t.buf[:0]
	b = fmt.Appendf(b, "program %d %s  tag %s  type %s\n", l.ID, l.Name, l.Tag, l.Type)
	if l.TotalSamples > 0 || l.Samples > 0 {
		b = fmt.Appendf(b, "samples: %d of %d (%.2f%%)", l.Samples, l.TotalSamples, l.Share)
		if l.Event != "" {
			b = fmt.Appendf(b, ", event %s", l.Event)
		}
		if l.Period > 0 {
			b = fmt.Appendf(b, " over %s", l.Period.Round(time.Millisecond))
		}
		b = append(b, '\n')
	}
	if l.RunCount > 0 {
		b = fmt.Appendf(b, "runs: %d, %.0f ns per run\n", l.RunCount, l.NsPerRun)
	}
	if hot := hottestLines(l); len(hot) > 0 {
		b = append(b, "hottest lines (share of the program):"...)
		for i, h := range hot {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, " >"...)
			b = strconv.AppendInt(b, int64(h.HotRank), 10)
			b = append(b, ' ')
			b = append(b, h.Source.String()...)
			b = append(b, " ("...)
			b = strconv.AppendFloat(b, pct(h.Samples, l.Samples), 'f', 1, 64)
			b = append(b, "%)"...)
		}
		b = append(b, '\n')
	}
	for _, n := range l.Notes {
		b = append(b, "note: "...)
		b = append(b, n...)
		b = append(b, '\n')
	}
	t.w.Write(b)
	t.buf = b
}

func (t *textWriter) function(f *Function) {
	b := t.buf[:0]
	b = append(b, '\n')
	sig := f.Signature
	if sig == "" {
		sig = f.Name
	}
	b = append(b, sig...)
	b = append(b, ':')
	if t.heat {
		b = fmt.Appendf(b, "  %d samples (%.2f%% of the program)", f.Samples, f.Percent)
	}
	b = append(b, '\n')
	t.w.Write(b)
	t.buf = b
	for i := range f.Blocks {
		t.block(&f.Blocks[i])
	}
}

// gutter is the width of the count columns: marker, percent, samples.
const gutter = "                       "

func (t *textWriter) block(blk *Block) {
	b := t.buf[:0]
	if blk.Source != nil && (blk.Source.Text != "" || blk.Source.Line > 0) {
		color := ""
		if t.heat {
			switch {
			case blk.Hot:
				b = append(b, hotMarker...)
				if blk.HotRank < 10 {
					b = strconv.AppendInt(b, int64(blk.HotRank), 10)
				} else {
					b = append(b, '+') // keeps the columns: ranks past 9 are rare
				}
				if blk.HotRank == 1 {
					color = colorRed
				} else {
					color = colorYellow
				}
			default:
				b = append(b, "  "...)
			}
			if blk.Samples > 0 {
				b = appendHeat(b, blk.Percent, blk.Samples)
			} else {
				b = append(b, gutter[2:]...)
			}
			if color == "" {
				color = heatColor(blk.Percent)
			}
		}
		if t.color && color != "" {
			b = append(b, color...)
		}
		b = append(b, "; "...)
		b = append(b, blk.Source.Text...)
		b = append(b, " ["...)
		b = append(b, blk.Source.File...)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(blk.Source.Line), 10)
		if blk.Source.Col > 0 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(blk.Source.Col), 10)
		}
		b = append(b, ']')
		if t.color && color != "" {
			b = append(b, colorReset...)
		}
		b = append(b, '\n')
	}
	for _, in := range blk.Insns {
		if t.heat {
			b = append(b, gutter...)
		}
		b = appendPadded(b, strconv.AppendInt(t.num[:0], int64(in.Index), 10), 5)
		b = append(b, ": ("...)
		b = appendHex2(b, in.Opcode)
		b = append(b, ") "...)
		b = append(b, in.Text...)
		if in.Comment != "" || in.Target >= 0 {
			b = append(b, "  ; "...)
			if t.color {
				b = append(b, colorDim...)
			}
			switch {
			case in.Comment != "" && in.Target >= 0:
				b = append(b, in.Comment...)
				b = append(b, " at "...)
				b = strconv.AppendInt(b, int64(in.Target), 10)
			case in.Comment != "":
				b = append(b, in.Comment...)
			default:
				b = append(b, "to "...)
				b = strconv.AppendInt(b, int64(in.Target), 10)
			}
			if t.color {
				b = append(b, colorReset...)
			}
		}
		b = append(b, '\n')
	}
	for _, in := range blk.JIT {
		color := ""
		if t.heat {
			if in.Samples > 0 {
				b = append(b, "  "...)
				b = appendHeat(b, in.Percent, in.Samples)
				color = heatColor(in.Percent)
			} else {
				b = append(b, gutter...)
			}
		}
		if t.color && color != "" {
			b = append(b, color...)
		}
		b = append(b, "         "...)
		b = strconv.AppendUint(b, in.Addr, 16)
		b = append(b, ":  "...)
		b = append(b, in.Text...)
		if t.color && color != "" {
			b = append(b, colorReset...)
		}
		if in.Target != "" && !strings.Contains(in.Text, in.Target) {
			b = append(b, "  ; "...)
			b = append(b, in.Target...)
		}
		b = append(b, '\n')
	}
	t.w.Write(b)
	t.buf = b
}

// appendHeat appends the percent and samples columns: "%8.2f%% %9d  ".
func appendHeat(b []byte, pct float64, n uint64) []byte {
	var num [24]byte
	b = appendPadded(b, strconv.AppendFloat(num[:0], pct, 'f', 2, 64), 8)
	b = append(b, "% "...)
	b = appendPadded(b, strconv.AppendUint(num[:0], n, 10), 9)
	return append(b, "  "...)
}

// appendPadded appends s right-aligned in width columns.
func appendPadded(b, s []byte, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// hottestLines returns the program's hot lines, hottest first.
func hottestLines(l *Listing) []LineStat {
	var hot []LineStat
	for _, f := range l.Functions {
		for _, ls := range f.Lines {
			if ls.HotRank > 0 {
				hot = append(hot, ls)
			}
		}
	}
	slices.SortFunc(hot, func(a, b LineStat) int { return cmp.Compare(a.HotRank, b.HotRank) })
	return hot
}

// heatColor is the colour of a share of a function's samples.
func heatColor(pct float64) string {
	switch {
	case pct >= 20:
		return colorRed
	case pct >= 5:
		return colorYellow
	case pct > 0:
		return colorGreen
	}
	return ""
}

// WriteJSON writes l as one indented JSON object. Its shape, by field
// name (see the types for each field's meaning):
//
//	{"id", "tag", "name", "type", "event", "period_ns",
//	 "samples", "total_samples", "share", "unattributed",
//	 "run_count", "run_time_ns", "ns_per_run", "jited", "syntax", "notes": [..],
//	 "functions": [{"name", "signature", "insn", "addr", "size",
//	   "samples", "percent",
//	   "lines": [{"file", "line", "text", "samples", "percent", "hot_rank"}],
//	   "blocks": [{"source": {"file", "line", "col", "text"},
//	     "samples", "percent", "hot", "hot_rank", "jit_start", "jit_end",
//	     "insns": [{"index", "opcode", "text", "target", "comment"}],
//	     "jit": [{"addr", "len", "text", "target", "samples", "percent"}]}]}]}
//
// Percentages are in percent (0-100): a function's of the program, a
// block's, line's or machine instruction's of its function.
func WriteJSON(w io.Writer, l *Listing) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}
