// Package perfdata reads the perf.data files 'perf record' writes, in file
// and in pipe mode ('perf record -o -'), and delivers their records as the
// same sampler.Record values the live sampler does, decoded by the same
// sampler.Decoder, in time order: symbolize, the aggregate and pprof then
// work on a file as they do on a live recording.
//
// The header gives the recorded events (perf_event_attr and their ids) and
// the feature sections present: host, os release, perf version, command
// line, event names, build IDs, sample times, and the BPF sections perf
// writes when built with libbpf (HEADER_BPF_PROG_INFO: each program's
// bpf_prog_info with its JIT image, JIT line table, func and line info;
// HEADER_BPF_BTF: their BTF).
//
// Everything read is untrusted: a corrupt or truncated file gives an error
// wrapping ErrFormat that says what is wrong and at which offset, never a
// panic. Only native-endian files are read.
package perfdata

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
	"github.com/bpfprof/bpfprof/sampler"
)

// Stats counts what a Reader read.
type Stats struct {
	// Records counts the records read, perf's own included; Bytes the
	// bytes of the data read.
	Records, Bytes uint64
	// Samples counts the samples delivered.
	Samples uint64
	// Rounds counts the PERF_RECORD_FINISHED_ROUND records.
	Rounds uint64
	// Skipped counts the records of types not delivered (perf's own,
	// and kernel records the decoder does not decode).
	Skipped uint64
	// FixedMmaps counts the MMAP2 records flagged as carrying a build ID
	// that no event asked for, read as carrying device and inode.
	FixedMmaps uint64
	// KernelText is the address of the kernel's _text on the recording
	// machine, from perf's kernel MMAP record; 0 if none was seen.
	KernelText uint64
}

// maxPending is how many bytes of records may wait for their round to end
// before the older half is delivered anyway (perf's ordered_events has the
// same kind of limit): a file without FINISHED_ROUND records still reads in
// bounded memory. A variable for the tests.
var maxPending = 64 << 20

// Reader reads one perf.data file or stream.
type Reader struct {
	hdr   Header
	stats Stats

	r   *bufio.Reader // the records: the data section, or the stream
	off int64         // file offset of the next byte of r
	end int64         // file offset where the data section ends; -1 in pipe mode

	decs     []formatDecoder
	decsFor  int // len(hdr.Events) when decs were made
	buf      []byte
	pending  []pendingRec
	arena    []byte
	seq      uint64
	maxTime  uint64
	limit    uint64 // what the last round allows to deliver
	sawRound bool
}

// formatDecoder decodes the records of the events sharing one format.
type formatDecoder struct {
	f   sampler.Format
	dec *sampler.Decoder
	// ids holds the ids of its events, to pick the decoder of a record.
	ids map[uint64]bool
	// single is the event of every sample when the samples carry no
	// id to tell events apart (f.EventIDs is nil).
	single int
}

// pendingRec is a record waiting for its round to end, in arena.
type pendingRec struct {
	time, seq uint64
	off       int64
	start, n  int
}

// NewReader reads the header of a perf.data file from r. A file (an
// io.ReaderAt that is also an io.Seeker, such as *os.File) may be in file or
// pipe mode; a stream must be in pipe mode. The records are read by Run.
func NewReader(r io.Reader) (*Reader, error) {
	var head [8]byte
	ra, isAt := r.(io.ReaderAt)
	sk, isSeeker := r.(io.Seeker)
	var size int64 = -1
	if isAt && isSeeker {
		if end, err := sk.Seek(0, io.SeekEnd); err == nil {
			size = end
		}
	}
	if size >= 0 {
		if size == 0 {
			return nil, formatErr(0, "the file is empty")
		}
		if size < 8 {
			return nil, formatErr(0, "not a perf.data file: only %d bytes", size)
		}
		if _, err := ra.ReadAt(head[:], 0); err != nil {
			return nil, readErr(0, err, "the magic number")
		}
	} else if _, err := io.ReadFull(r, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, formatErr(0, "the input is empty")
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(0, "not a perf.data file: shorter than its magic number")
		}
		return nil, readErr(0, err, "the magic number")
	}
	switch ne.Uint64(head[:]) {
	case magic:
	case magicSwapped:
		return nil, formatErr(0, "written on a machine of the other byte order: not supported")
	default:
		return nil, formatErr(0, "not a perf.data file (magic %q, want \"PERFILE2\")", printable(head[:]))
	}
	if size < 0 {
		return newPipeReader(r, 8)
	}
	var sz [8]byte
	if _, err := ra.ReadAt(sz[:], 8); err != nil {
		return nil, readErr(8, err, "the header size")
	}
	if ne.Uint64(sz[:]) == pipeHeaderSize {
		sr := io.NewSectionReader(ra, pipeHeaderSize, size-pipeHeaderSize)
		return newPipeReader(sr, pipeHeaderSize)
	}
	return newFileReader(ra, size)
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}

// readErr turns a read error at off into a FormatError when the data ran
// out, and wraps other (I/O) errors.
func readErr(off int64, err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(off, "truncated: the file ends inside %s", what)
	}
	return fmt.Errorf("read perf.data at offset %d: %w", off, err)
}

func newPipeReader(r io.Reader, off int64) (*Reader, error) {
	if off == 8 {
		var sz [8]byte
		if _, err := io.ReadFull(r, sz[:]); err != nil {
			return nil, readErr(8, err, "the header size")
		}
		if n := ne.Uint64(sz[:]); n != pipeHeaderSize {
			return nil, formatErr(8, "header size %d: a perf.data file (not 'perf record -o -' output) must be read from a file, not a pipe", n)
		}
		off = pipeHeaderSize
	}
	return &Reader{hdr: Header{Pipe: true}, r: bufio.NewReaderSize(r, 1<<16), off: off, end: -1}, nil
}

func newFileReader(ra io.ReaderAt, size int64) (*Reader, error) {
	b := make([]byte, fileHeaderSize)
	if size < fileHeaderSize {
		return nil, formatErr(size, "truncated: %d bytes, shorter than the file header (%d)", size, fileHeaderSize)
	}
	if _, err := ra.ReadAt(b, 0); err != nil {
		return nil, readErr(0, err, "the file header")
	}
	fh, err := parseFileHeader(b, size)
	if err != nil {
		return nil, err
	}
	rd := &Reader{off: int64(fh.data.off), end: int64(fh.data.off + fh.data.size)}
	h := &rd.hdr
	h.dataOff, h.dataSize = int64(fh.data.off), int64(fh.data.size)

	// The attrs: perf_event_attr and the section of its ids.
	attrs := make([]byte, fh.attrs.size)
	if _, err := ra.ReadAt(attrs, int64(fh.attrs.off)); err != nil {
		return nil, readErr(int64(fh.attrs.off), err, "the attrs")
	}
	n := int(fh.attrs.size / fh.attrSize)
	for i := range n {
		at := int64(fh.attrs.off) + int64(i)*int64(fh.attrSize)
		a := attrs[uint64(i)*fh.attrSize : uint64(i+1)*fh.attrSize]
		ev := &Event{Attr: parseAttr(a[:len(a)-16])}
		ids := section{ne.Uint64(a[len(a)-16:]), ne.Uint64(a[len(a)-8:])}
		end, ok := ids.end()
		if !ok || end > uint64(size) || ids.size%8 != 0 {
			return nil, formatErr(at+int64(len(a))-16, "ids of event %d [%d, +%d) outside the file", i, ids.off, ids.size)
		}
		if ids.size > 0 {
			raw := make([]byte, ids.size)
			if _, err := ra.ReadAt(raw, int64(ids.off)); err != nil {
				return nil, readErr(int64(ids.off), err, "event ids")
			}
			for ; len(raw) >= 8; raw = raw[8:] {
				ev.IDs = append(ev.IDs, ne.Uint64(raw))
			}
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, formatErr(24, "no events recorded")
	}

	// The feature sections: one perf_file_section per bit set, after the
	// data section.
	secOff := fh.data.off + fh.data.size
	secs := make([]byte, fh.featureCount*16)
	if _, err := ra.ReadAt(secs, int64(secOff)); err != nil {
		return nil, readErr(int64(secOff), err, "the feature section table")
	}
	k := 0
	for bit := range featureBits {
		if fh.features[bit/64]&(1<<(bit%64)) == 0 {
			continue
		}
		s := section{ne.Uint64(secs[16*k:]), ne.Uint64(secs[16*k+8:])}
		at := int64(secOff) + int64(16*k)
		k++
		f := Feature(bit)
		h.Features = append(h.Features, f)
		if f >= featLastKnown {
			continue
		}
		end, ok := s.end()
		if !ok || end > uint64(size) {
			return nil, formatErr(at, "%s section [%d, +%d) outside the file (%d bytes): truncated?", f, s.off, s.size, size)
		}
		if !wantFeature(f) {
			continue
		}
		raw := make([]byte, s.size)
		if _, err := ra.ReadAt(raw, int64(s.off)); err != nil {
			return nil, readErr(int64(s.off), err, f.String())
		}
		if err := h.parseFeature(f, raw, int64(s.off)); err != nil {
			return nil, err
		}
	}
	rd.r = bufio.NewReaderSize(io.NewSectionReader(ra, h.dataOff, h.dataSize), 1<<16)
	rd.scanKernelText(ra)
	return rd, nil
}

// scanKernelText looks for perf's kernel MMAP record among the first
// records of the data section, where perf writes it, so that
// Stats().KernelText is known before Run.
func (rd *Reader) scanKernelText(ra io.ReaderAt) {
	b := make([]byte, min(rd.hdr.dataSize, 64<<10))
	n, _ := ra.ReadAt(b, rd.hdr.dataOff)
	b = b[:n]
	for len(b) >= perfabi.HeaderSize && rd.stats.KernelText == 0 {
		size := int(ne.Uint16(b[6:]))
		if size < perfabi.HeaderSize || size > len(b) {
			return
		}
		if ne.Uint32(b) == unix.PERF_RECORD_MMAP {
			rd.noteKernelMmap(b[perfabi.HeaderSize:size])
		}
		b = b[size:]
	}
}

// wantFeature says which sections are parsed: the others are only listed.
func wantFeature(f Feature) bool {
	switch f {
	case FeatHostname, FeatOSRelease, FeatVersion, FeatArch, FeatCPUDesc, FeatCPUID, FeatNrCPUs,
		FeatTotalMem, FeatCmdline, FeatEventDesc, FeatBuildID, FeatSampleTime, FeatClockID,
		FeatClockData, FeatBPFProgInfo, FeatBPFBTF:
		return true
	}
	return false
}

// Header returns the file's header. In pipe mode it grows while Run reads
// the stream.
func (rd *Reader) Header() *Header { return &rd.hdr }

// Stats returns the counts of what was read so far.
func (rd *Reader) Stats() Stats { return rd.stats }

// Run reads every record and hands the kernel's records to h, as the
// sampler's Decoder decodes them, in time order: records are held until the
// PERF_RECORD_FINISHED_ROUND after the one that follows them, as perf does,
// which orders the per-CPU buffers perf wrote one after the other. Records
// are valid only during the call that receives them, as with a live
// sampler.Reader.
func (rd *Reader) Run(h sampler.Handler) error {
	for {
		raw, at, err := rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := rd.handle(raw, at, h); err != nil {
			return err
		}
	}
	return rd.flush(h, ^uint64(0))
}

// next reads the next whole record into rd.buf, with its file offset.
func (rd *Reader) next() ([]byte, int64, error) {
	at := rd.off
	if rd.end >= 0 && at >= rd.end {
		return nil, at, io.EOF
	}
	var hb [perfabi.HeaderSize]byte
	n, err := io.ReadFull(rd.r, hb[:])
	if err == io.EOF && rd.end < 0 {
		return nil, at, io.EOF
	}
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, at, formatErr(at, "truncated: the data ends before its section does")
		}
		return nil, at, readErr(at, err, "a record header")
	}
	size := int(ne.Uint16(hb[6:]))
	if size < perfabi.HeaderSize {
		return nil, at, formatErr(at, "record of type %d claims %d bytes, less than its header", ne.Uint32(hb[:]), size)
	}
	if rd.end >= 0 && int64(size) > rd.end-at {
		return nil, at, formatErr(at, "record of type %d and %d bytes runs past the data section's end at %d", ne.Uint32(hb[:]), size, rd.end)
	}
	if cap(rd.buf) < size {
		rd.buf = make([]byte, size, max(size, 1<<16))
	}
	rd.buf = rd.buf[:size]
	copy(rd.buf, hb[:])
	if _, err := io.ReadFull(rd.r, rd.buf[perfabi.HeaderSize:]); err != nil {
		return nil, at, readErr(at, err, fmt.Sprintf("a record of type %d and %d bytes", ne.Uint32(hb[:]), size))
	}
	rd.off += int64(size)
	rd.stats.Records++
	rd.stats.Bytes += uint64(size)
	return rd.buf, at, nil
}

// skip discards n bytes that follow a record (AUXTRACE data, tracing data).
func (rd *Reader) skip(n uint64, at int64, what string) error {
	if rd.end >= 0 && n > uint64(rd.end-rd.off) {
		return formatErr(at, "%s of %d bytes runs past the data section's end", what, n)
	}
	if _, err := io.CopyN(io.Discard, rd.r, int64(n)); err != nil {
		return readErr(rd.off, err, what)
	}
	rd.off += int64(n)
	rd.stats.Bytes += n
	return nil
}

// handle deals with one record read at offset at.
func (rd *Reader) handle(raw []byte, at int64, h sampler.Handler) error {
	typ := ne.Uint32(raw)
	body := raw[perfabi.HeaderSize:]
	if typ < recUserTypeStart {
		d, err := rd.decoderFor(raw, at)
		if err == errUnknownID {
			rd.stats.Skipped++
			return nil
		}
		if err != nil {
			return err
		}
		switch typ {
		case unix.PERF_RECORD_MMAP:
			rd.noteKernelMmap(body)
		case unix.PERF_RECORD_MMAP2:
			rd.fixMmap2(raw)
		}
		t, ok := d.dec.Time(raw)
		if !ok {
			// perf delivers records without a time at once.
			return rd.deliver(d, raw, at, h)
		}
		rd.queue(raw, at, t)
		if len(rd.arena) > maxPending {
			return rd.flushHalf(h)
		}
		return nil
	}
	switch typ {
	case recFinishedRound:
		rd.stats.Rounds++
		// Everything up to the newest time of the previous round is
		// complete: no CPU's buffer can still hold older records.
		if err := rd.flush(h, rd.limit); err != nil {
			return err
		}
		rd.limit = rd.maxTime
		rd.sawRound = true
	case recHeaderAttr:
		return rd.pipeAttr(body, at)
	case recHeaderFeature:
		c := &cursor{b: body, base: at + perfabi.HeaderSize}
		f := Feature(c.u64())
		if c.bad {
			return formatErr(at, "feature record of %d bytes", len(raw))
		}
		if f >= featLastKnown {
			return nil // HEADER_LAST_FEATURE ends the features
		}
		rd.hdr.Features = append(rd.hdr.Features, f)
		if wantFeature(f) {
			// The parsed values keep copies: body is reused.
			return rd.hdr.parseFeature(f, body[8:], at+16)
		}
	case recEventUpdate:
		c := &cursor{b: body, base: at + perfabi.HeaderSize}
		kind, id := c.u64(), c.u64()
		if !c.bad && kind == eventUpdateName {
			for _, ev := range rd.hdr.Events {
				if slices.Contains(ev.IDs, id) {
					ev.Name = cstring(body[16:])
				}
			}
		}
	case recHeaderBuildID:
		c := &cursor{b: raw, base: at}
		return rd.hdr.parseBuildIDs(c)
	case recHeaderTracingData:
		c := &cursor{b: body, base: at}
		n := c.u32()
		if c.bad {
			return formatErr(at, "tracing data record of %d bytes", len(raw))
		}
		return rd.skip((uint64(n)+7)&^7, at, "tracing data")
	case recAuxtrace:
		c := &cursor{b: body, base: at}
		n := c.u64()
		if c.bad {
			return formatErr(at, "AUXTRACE record of %d bytes", len(raw))
		}
		rd.stats.Skipped++
		return rd.skip(n, at, "AUXTRACE data")
	case recCompressed:
		return formatErr(at, "compressed records (perf record -z) are not supported; decompress with 'perf inject -i IN -o OUT'")
	default:
		rd.stats.Skipped++
	}
	return nil
}

// fixMmap2 clears PERF_RECORD_MISC_MMAP_BUILD_ID in an MMAP2 record when no
// recorded event asked for build IDs. The kernel sets that bit in the header
// it shares among the listeners of an mmap when one of them (another
// profiler running meanwhile) asked for build IDs, and does not clear it
// for the next: such a record holds device and inode numbers, not a build
// ID. (perf 6.1 itself overflows a buffer on these records.)
func (rd *Reader) fixMmap2(raw []byte) {
	if rd.wantBuildIDs() {
		return
	}
	misc := ne.Uint16(raw[4:])
	if misc&unix.PERF_RECORD_MISC_MMAP_BUILD_ID != 0 {
		ne.PutUint16(raw[4:], misc&^unix.PERF_RECORD_MISC_MMAP_BUILD_ID)
		rd.stats.FixedMmaps++
	}
}

// wantBuildIDs reports whether an event asked for build IDs in MMAP2
// records (perf record --buildid-mmap).
func (rd *Reader) wantBuildIDs() bool {
	for _, ev := range rd.hdr.Events {
		if ev.Attr.Bits&perfabi.BitBuildID != 0 {
			return true
		}
	}
	return false
}

// noteKernelMmap remembers where the kernel's text was: perf's synthesized
// PERF_RECORD_MMAP for "[kernel.kallsyms]_text" (pid -1) has the address of
// _text as its page offset.
func (rd *Reader) noteKernelMmap(body []byte) {
	c := &cursor{b: body}
	pid := int32(c.u32())
	_ = c.u32()
	_, _, pgoff := c.u64(), c.u64(), c.u64()
	if c.bad || pid != -1 || rd.stats.KernelText != 0 {
		return
	}
	if name := cstring(body[c.off:]); name == "[kernel.kallsyms]_text" || name == "[kernel.kallsyms]" {
		rd.stats.KernelText = pgoff
	}
}

// pipeAttr adds the event of a PERF_RECORD_HEADER_ATTR: a perf_event_attr of
// its own size, then the event's ids.
func (rd *Reader) pipeAttr(body []byte, at int64) error {
	if len(body) < attrSizeVer0 {
		return formatErr(at, "attr record of %d bytes", len(body))
	}
	size := int(ne.Uint32(body[4:]))
	if size == 0 {
		size = attrSizeVer0
	}
	if size < attrSizeVer0 || size > len(body) || (len(body)-size)%8 != 0 {
		return formatErr(at, "attr of %d bytes in a record of %d", size, len(body))
	}
	ev := &Event{Attr: parseAttr(body[:size])}
	for b := body[size:]; len(b) >= 8; b = b[8:] {
		ev.IDs = append(ev.IDs, ne.Uint64(b))
	}
	// A name from an event description that came first.
	if old := rd.hdr.eventByIDs(ev.IDs, -1); old != nil {
		old.Attr = ev.Attr
		return nil
	}
	rd.hdr.Events = append(rd.hdr.Events, ev)
	return nil
}

// decoderFor returns the decoder of the event that wrote raw, making the
// decoders when the events changed.
func (rd *Reader) decoderFor(raw []byte, at int64) (*formatDecoder, error) {
	if rd.decs == nil || rd.decsFor != len(rd.hdr.Events) {
		if err := rd.makeDecoders(at); err != nil {
			return nil, err
		}
	}
	if len(rd.decs) == 1 {
		return &rd.decs[0], nil
	}
	// Several formats: each has PERF_SAMPLE_IDENTIFIER, which is a
	// sample's first field and a side-band record's last.
	var id uint64
	switch {
	case ne.Uint32(raw) == unix.PERF_RECORD_SAMPLE && len(raw) >= 16:
		id = ne.Uint64(raw[8:])
	case len(raw) >= 16:
		id = ne.Uint64(raw[len(raw)-8:])
	default:
		return nil, formatErr(at, "record of %d bytes has no event id", len(raw))
	}
	for i := range rd.decs {
		if rd.decs[i].ids[id] {
			return &rd.decs[i], nil
		}
	}
	if id == 0 {
		// Records perf synthesized (the kernel's and processes' maps
		// and names it writes at the start of a piped recording) carry
		// id 0; perf reads them as its first event's, as here.
		return &rd.decs[0], nil
	}
	if ne.Uint32(raw) != unix.PERF_RECORD_SAMPLE {
		return nil, errUnknownID
	}
	return nil, formatErr(at, "record of type %d has the id %d of no recorded event", ne.Uint32(raw), id)
}

// errUnknownID says a side-band record names an event the file does not
// describe (a piped perf record writes KSYMBOL records of its own side-band
// event): it is skipped and counted, as perf skips it.
var errUnknownID = errors.New("side-band record of an undescribed event")

// makeDecoders groups the events by format and makes a decoder for each.
func (rd *Reader) makeDecoders(at int64) error {
	evs := rd.hdr.Events
	if len(evs) == 0 {
		return formatErr(at, "a record comes before any event is described")
	}
	rd.decs = rd.decs[:0]
	rd.decsFor = len(evs)
	for i, ev := range evs {
		f := sampler.Format{
			SampleType:  ev.Attr.Sample_type,
			ReadFormat:  ev.Attr.Read_format,
			SampleIDAll: ev.Attr.Bits&unix.PerfBitSampleIDAll != 0,
		}
		var d *formatDecoder
		for j := range rd.decs {
			g := &rd.decs[j].f
			if g.SampleType == f.SampleType && g.ReadFormat == f.ReadFormat && g.SampleIDAll == f.SampleIDAll {
				d = &rd.decs[j]
			}
		}
		if d == nil {
			f.EventIDs = map[uint64]int{}
			rd.decs = append(rd.decs, formatDecoder{f: f, ids: map[uint64]bool{}, single: i})
			d = &rd.decs[len(rd.decs)-1]
		}
		for _, id := range ev.IDs {
			d.f.EventIDs[id] = i
			d.ids[id] = true
		}
	}
	for i := range rd.decs {
		d := &rd.decs[i]
		st := d.f.SampleType
		if len(rd.decs) > 1 && st&unix.PERF_SAMPLE_IDENTIFIER == 0 {
			return formatErr(at, "events of different sample formats without PERF_SAMPLE_IDENTIFIER: records cannot be told apart")
		}
		// With one event, or samples without ids, every sample is the
		// first event's of its format.
		if len(evs) == 1 || st&(unix.PERF_SAMPLE_ID|unix.PERF_SAMPLE_IDENTIFIER) == 0 {
			d.f.EventIDs = nil
		}
		d.dec = sampler.NewDecoder(d.f)
	}
	return nil
}

// queue copies a record into the arena to wait for its round.
func (rd *Reader) queue(raw []byte, at int64, t uint64) {
	start := len(rd.arena)
	rd.arena = append(rd.arena, raw...)
	rd.pending = append(rd.pending, pendingRec{time: t, seq: rd.seq, off: at, start: start, n: len(raw)})
	rd.seq++
	rd.maxTime = max(rd.maxTime, t)
}

// flush delivers the pending records with a time up to limit, in time
// order (file order among equal times), and keeps the others.
func (rd *Reader) flush(h sampler.Handler, limit uint64) error {
	if len(rd.pending) == 0 {
		return nil
	}
	slices.SortFunc(rd.pending, func(a, b pendingRec) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	n := 0
	for ; n < len(rd.pending) && rd.pending[n].time <= limit; n++ {
		p := rd.pending[n]
		raw := rd.arena[p.start : p.start+p.n]
		d, err := rd.decoderFor(raw, p.off)
		if err != nil {
			return err
		}
		if err := rd.deliver(d, raw, p.off, h); err != nil {
			return err
		}
	}
	rd.keep(n)
	return nil
}

// flushHalf delivers the older half of the pending records: too many wait.
func (rd *Reader) flushHalf(h sampler.Handler) error {
	slices.SortFunc(rd.pending, func(a, b pendingRec) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	return rd.flush(h, rd.pending[len(rd.pending)/2].time)
}

// keep drops the first n pending records, moving the rest to a fresh arena.
func (rd *Reader) keep(n int) {
	rest := rd.pending[n:]
	if len(rest) == 0 {
		rd.pending = rd.pending[:0]
		rd.arena = rd.arena[:0]
		return
	}
	arena := make([]byte, 0, max(cap(rd.arena)/2, 1<<16))
	for i := range rest {
		p := &rest[i]
		start := len(arena)
		arena = append(arena, rd.arena[p.start:p.start+p.n]...)
		p.start = start
	}
	rd.pending = append(rd.pending[:0], rest...)
	rd.arena = arena
}

// deliver decodes a record and hands it to h.
func (rd *Reader) deliver(d *formatDecoder, raw []byte, at int64, h sampler.Handler) error {
	rec, err := d.dec.Decode(0, raw)
	if err != nil {
		return formatErr(at, "%v", err)
	}
	if rec == nil {
		rd.stats.Skipped++
		return nil
	}
	if s, ok := rec.(*sampler.Sample); ok {
		if d.f.EventIDs == nil {
			s.Event = d.single
		}
		rd.stats.Samples++
	}
	h.HandleRecord(rec)
	return nil
}

// HasBPFInfo reports whether the file holds BPF program info: perf built
// with libbpf, recording with the side-band that sees BPF programs.
func (h *Header) HasBPFInfo() bool { return h.Has(FeatBPFProgInfo) && len(h.Programs) > 0 }
