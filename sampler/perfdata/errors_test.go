package perfdata

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/sampler"
)

// readAll reads a whole file from b, as a file (seekable) or as a stream.
func readAll(b []byte, stream bool) (*Reader, error) {
	var rd *Reader
	var err error
	if stream {
		rd, err = NewReader(onlyReader{bytes.NewReader(b)})
	} else {
		rd, err = NewReader(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	if err := rd.Run(sampler.HandlerFunc(func(sampler.Record) {})); err != nil {
		return nil, err
	}
	return rd, nil
}

// onlyReader hides every method but Read: a pipe.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInput checks that empty, foreign, truncated and corrupt input gives
// one-line errors matching ErrFormat, with an offset.
func TestBadInput(t *testing.T) {
	file := testFile(t, "hot-task.data")
	pipe := testFile(t, "hot-pipe.data")
	corrupt := bytes.Clone(file)
	// The first record header of the data section claims 4 bytes.
	dataOff := ne.Uint64(file[40:])
	ne.PutUint16(corrupt[dataOff+6:], 4)
	badAttrs := bytes.Clone(file)
	ne.PutUint64(badAttrs[24:], uint64(len(file))) // attrs section past the end
	badPipe := bytes.Clone(pipe)
	ne.PutUint16(badPipe[16+6:], 3)
	cases := []struct {
		name   string
		b      []byte
		stream bool
		want   string
	}{
		{"empty", nil, false, "empty"},
		{"empty stream", nil, true, "empty"},
		{"text", []byte("hello, world\n"), false, "not a perf.data file"},
		{"ELF", []byte("\x7fELF\x02\x01\x01\x00\x00\x00"), true, "not a perf.data file"},
		{"magic only", file[:8], false, "truncated"},
		{"header cut", file[:100], false, "truncated"},
		{"data cut", file[:len(file)/2], false, "outside the file"},
		{"corrupt record", corrupt, false, "less than its header"},
		{"attrs outside", badAttrs, false, "attrs section"},
		{"file from a pipe", file, true, "must be read from a file"},
		{"pipe cut", pipe[:len(pipe)/2], true, "truncated"},
		{"pipe corrupt", badPipe, true, "less than its header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readAll(c.b, c.stream)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !errors.Is(err, ErrFormat) || !strings.Contains(msg, c.want) || !strings.Contains(msg, "offset") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line matching ErrFormat with an offset and %q", msg, c.want)
			}
		})
	}
}

// TestEveryTruncation cuts a file at every record boundary and inside
// records: reading must fail with a FormatError or succeed, never panic.
func TestEveryTruncation(t *testing.T) {
	for _, name := range []string{"hot-task.data", "hot-pipe.data"} {
		b := testFile(t, name)
		for n := 0; n < len(b); n += 97 {
			for _, stream := range []bool{false, true} {
				_, err := readAll(b[:n], stream)
				var fe *FormatError
				if err != nil && !errors.As(err, &fe) {
					t.Fatalf("%s cut at %d (stream %v): %v is not a FormatError", name, n, stream, err)
				}
			}
		}
	}
}

// TestPipeEqualsFile checks that the same kind of recording reads the same
// through a file and through a pipe.
func TestPipeAsFileAndStream(t *testing.T) {
	b := testFile(t, "hot-pipe.data")
	a, err := readAll(b, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := readAll(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stats() != s.Stats() || !a.Header().Pipe || len(a.Header().Events) != 1 {
		t.Errorf("pipe data read from a file: %+v, from a stream: %+v", a.Stats(), s.Stats())
	}
}

// stream builds a pipe-mode perf.data stream.
type stream struct{ b []byte }

func newStream() *stream {
	s := &stream{}
	s.b = ne.AppendUint64(s.b, magic)
	s.b = ne.AppendUint64(s.b, pipeHeaderSize)
	return s
}

func (s *stream) rec(typ uint32, body []byte) *stream {
	s.b = ne.AppendUint32(s.b, typ)
	s.b = ne.AppendUint16(s.b, 0)
	s.b = ne.AppendUint16(s.b, uint16(8+len(body)))
	s.b = append(s.b, body...)
	return s
}

// attr adds a PERF_RECORD_HEADER_ATTR of a cpu-clock event sampling IP and
// TIME, with side-band records carrying their time.
func (s *stream) attr(id uint64) *stream {
	a := make([]byte, attrSizeVer0)
	ne.PutUint32(a[4:], attrSizeVer0)
	ne.PutUint64(a[24:], unix.PERF_SAMPLE_IP|unix.PERF_SAMPLE_TIME)
	ne.PutUint64(a[40:], unix.PerfBitSampleIDAll)
	return s.rec(recHeaderAttr, ne.AppendUint64(a, id))
}

func (s *stream) sample(ip, time uint64) *stream {
	return s.rec(unix.PERF_RECORD_SAMPLE, ne.AppendUint64(ne.AppendUint64(nil, ip), time))
}

func (s *stream) comm(pid uint32, name string, time uint64) *stream {
	b := ne.AppendUint32(ne.AppendUint32(nil, pid), pid)
	b = append(b, name...)
	b = append(b, make([]byte, 8-len(name)%8)...)
	return s.rec(unix.PERF_RECORD_COMM, ne.AppendUint64(b, time))
}

// TestRoundOrder checks perf's ordering: records wait for the end of the
// round after their own, and come out sorted by time.
func TestRoundOrder(t *testing.T) {
	s := newStream().attr(1).
		sample(1, 30).sample(2, 10).comm(7, "a", 20).
		rec(recFinishedRound, nil).
		// A late record of the first round's time span.
		sample(3, 15).sample(4, 40).
		rec(recFinishedRound, nil).
		sample(5, 35)
	rd, err := NewReader(onlyReader{bytes.NewReader(s.b)})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	var rounds []uint64
	err = rd.Run(sampler.HandlerFunc(func(r sampler.Record) {
		switch r := r.(type) {
		case *sampler.Sample:
			got = append(got, r.Time)
		case *sampler.Comm:
			got = append(got, r.Time)
		}
		rounds = append(rounds, rd.Stats().Rounds)
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{10, 15, 20, 30, 35, 40}
	if !slices.Equal(got, want) {
		t.Errorf("times delivered %v, want %v", got, want)
	}
	// Nothing of the first round may come before the second round ends.
	if rounds[0] < 2 {
		t.Errorf("first record delivered after %d rounds, want 2", rounds[0])
	}
	if st := rd.Stats(); st.Samples != 5 || st.Rounds != 2 || st.Records != 9 {
		t.Errorf("stats %+v", st)
	}
}

// TestPendingBound checks that a stream without FINISHED_ROUND records is
// delivered in bounded memory, in time order within what was held.
func TestPendingBound(t *testing.T) {
	defer func(old int) { maxPending = old }(maxPending)
	maxPending = 64 << 10
	s := newStream().attr(1)
	n := maxPending/24 + 1000
	for i := range n {
		s.sample(uint64(i), uint64(n-i))
	}
	rd, err := NewReader(onlyReader{bytes.NewReader(s.b)})
	if err != nil {
		t.Fatal(err)
	}
	var delivered, maxHeld int
	err = rd.Run(sampler.HandlerFunc(func(sampler.Record) {
		delivered++
		maxHeld = max(maxHeld, len(rd.arena))
	}))
	if err != nil {
		t.Fatal(err)
	}
	if delivered != n || maxHeld > maxPending+64 {
		t.Errorf("%d of %d delivered, %d bytes held at most (limit %d)", delivered, n, maxHeld, maxPending)
	}
}

// TestStrayBuildIDFlag reads an MMAP2 record flagged as carrying a build ID
// by an event that did not ask for one: its device and inode are read.
func TestStrayBuildIDFlag(t *testing.T) {
	body := ne.AppendUint32(ne.AppendUint32(nil, 7), 7)
	for _, v := range []uint64{0x400000, 0x1000, 0} {
		body = ne.AppendUint64(body, v)
	}
	body = ne.AppendUint32(ne.AppendUint32(body, 0xfe), 1)   // maj, min
	body = ne.AppendUint64(ne.AppendUint64(body, 325835), 0) // ino, generation
	body = ne.AppendUint32(ne.AppendUint32(body, 5), 2)      // prot, flags
	body = append(body, "/bin/rm\x00"...)
	body = ne.AppendUint64(body, 50) // sample_id: time
	s := newStream().attr(1)
	s.b = ne.AppendUint32(s.b, unix.PERF_RECORD_MMAP2)
	s.b = ne.AppendUint16(s.b, unix.PERF_RECORD_MISC_MMAP_BUILD_ID)
	s.b = ne.AppendUint16(s.b, uint16(8+len(body)))
	s.b = append(s.b, body...)
	rd, err := NewReader(onlyReader{bytes.NewReader(s.b)})
	if err != nil {
		t.Fatal(err)
	}
	var got *sampler.Mmap2
	err = rd.Run(sampler.HandlerFunc(func(r sampler.Record) {
		if m, ok := r.(*sampler.Mmap2); ok {
			c := *m
			got = &c
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.BuildID != nil || got.Maj != 0xfe || got.Ino != 325835 || got.Filename != "/bin/rm" || rd.Stats().FixedMmaps != 1 {
		t.Errorf("MMAP2 read as %+v, stats %+v", got, rd.Stats())
	}
}

// TestSynthesizedIDZero: with events of two sample formats, a side-band
// record perf synthesized carries event id 0 in its sample_id; it is read
// as the first event's, as perf reads it (perf record -a -g -o - writes
// such records for the kernel's maps). One of an undescribed event is
// skipped and counted.
func TestSynthesizedIDZero(t *testing.T) {
	attr := func(s *stream, id, sampleType uint64) {
		a := make([]byte, attrSizeVer0)
		ne.PutUint32(a[4:], attrSizeVer0)
		ne.PutUint64(a[24:], sampleType)
		ne.PutUint64(a[40:], unix.PerfBitSampleIDAll)
		s.rec(recHeaderAttr, ne.AppendUint64(a, id))
	}
	s := newStream()
	attr(s, 1, unix.PERF_SAMPLE_IDENTIFIER|unix.PERF_SAMPLE_IP|unix.PERF_SAMPLE_TIME)
	attr(s, 2, unix.PERF_SAMPLE_IDENTIFIER|unix.PERF_SAMPLE_IP|unix.PERF_SAMPLE_TIME|unix.PERF_SAMPLE_PERIOD)
	comm := ne.AppendUint32(ne.AppendUint32(nil, 7), 7)
	comm = append(comm, "swapper\x00"...)
	comm = ne.AppendUint64(ne.AppendUint64(comm, 20), 0) // sample_id: time, id 0
	s.rec(unix.PERF_RECORD_COMM, comm)
	// A side-band record of an event the stream does not describe (perf's
	// own side-band event, in a piped recording) is skipped, as perf does.
	other := ne.AppendUint32(ne.AppendUint32(nil, 8), 8)
	other = append(other, "other\x00\x00\x00"...)
	other = ne.AppendUint64(ne.AppendUint64(other, 30), 9) // time, id 9
	s.rec(unix.PERF_RECORD_COMM, other)
	rd, err := NewReader(onlyReader{bytes.NewReader(s.b)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = rd.Run(sampler.HandlerFunc(func(r sampler.Record) {
		if c, ok := r.(*sampler.Comm); ok {
			got = append(got, fmt.Sprintf("%d %s %d", c.PID, c.Comm, c.Time))
		}
	}))
	if err != nil || !slices.Equal(got, []string{"7 swapper 20"}) {
		t.Errorf("read %q, %v; want the comm at time 20", got, err)
	}
	if st := rd.Stats(); st.Skipped != 1 {
		t.Errorf("stats %+v, want the record of id 9 skipped", st)
	}
}
