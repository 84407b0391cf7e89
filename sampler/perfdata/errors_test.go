package perfdata

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
