package tui

// historyLen is how many refreshes each program's history keeps: ten
// minutes at the default 1 s delay, five at 0.5 s. Fixed, so that hours of
// running and thousands of programs coming and going hold memory bounded by
// the programs loaded now.
const historyLen = 600

// series is a ring of the last historyLen values of one measure.
type series struct {
	buf   []float32
	start int
	n     int
}

func (s *series) push(v float64) {
	if s.buf == nil {
		s.buf = make([]float32, historyLen)
	}
	if s.n < len(s.buf) {
		s.buf[(s.start+s.n)%len(s.buf)] = float32(v)
		s.n++
		return
	}
	s.buf[s.start] = float32(v)
	s.start = (s.start + 1) % len(s.buf)
}

// last returns the newest k values (fewer if the series is shorter),
// oldest first, appended to dst.
func (s *series) last(dst []float64, k int) []float64 {
	k = min(k, s.n)
	for i := s.n - k; i < s.n; i++ {
		dst = append(dst, float64(s.buf[(s.start+i)%len(s.buf)]))
	}
	return dst
}

// len returns how many values the series holds.
func (s *series) len() int { return s.n }

// history is one program's measures over the refreshes it was seen in.
type history struct {
	runs, avg, cpu series
	// seen is the refresh that last listed the program.
	seen uint64
}

// histories keeps the history of every program loaded now.
type histories struct {
	byID map[uint32]*history
	gen  uint64
}

// add appends a frame's rates to the history of each program in it, and
// forgets programs no longer loaded, except keep (the program on view,
// whose charts stay after it unloads; 0 for none).
func (h *histories) add(progs []Program, keep uint32) {
	if h.byID == nil {
		h.byID = map[uint32]*history{}
	}
	h.gen++
	for i := range progs {
		p := &progs[i]
		ph := h.byID[p.ID]
		if ph == nil {
			ph = &history{}
			h.byID[p.ID] = ph
		}
		ph.seen = h.gen
		if !p.HasStats {
			continue
		}
		ph.runs.push(p.RunsPerSec)
		ph.avg.push(p.AvgNs)
		ph.cpu.push(p.CPUPercent)
	}
	for id, ph := range h.byID {
		if ph.seen != h.gen && id != keep {
			delete(h.byID, id)
		}
	}
}

// sparkBlocks are the eight heights of a sparkline cell.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws vals in width cells, newest on the right, each cell the
// largest of the values it covers, scaled to the largest value shown. A
// cell with only zeros is a space; missing history is blank on the left.
func sparkline(vals []float64, width int) string {
	if width <= 0 {
		return ""
	}
	cells := bucketMax(vals, width)
	top := 0.0
	for _, v := range cells {
		top = max(top, v)
	}
	out := make([]rune, 0, width)
	for range width - len(cells) {
		out = append(out, ' ')
	}
	for _, v := range cells {
		switch {
		case v <= 0 || top <= 0:
			out = append(out, ' ')
		default:
			i := int(v / top * float64(len(sparkBlocks)-1))
			out = append(out, sparkBlocks[min(max(i, 0), len(sparkBlocks)-1)])
		}
	}
	return string(out)
}

// bucketMax shrinks vals to at most n values, each the maximum of a run of
// consecutive values, so that peaks survive; the last bucket holds the
// newest values.
func bucketMax(vals []float64, n int) []float64 {
	if len(vals) <= n {
		return vals
	}
	size := (len(vals) + n - 1) / n
	out := make([]float64, 0, n)
	// Buckets are aligned on the newest value.
	for end := len(vals); end > 0; end -= size {
		start := max(end-size, 0)
		m := vals[start]
		for _, v := range vals[start:end] {
			m = max(m, v)
		}
		out = append(out, m)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
