package perfdata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addSeedFiles(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.data")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzRead reads arbitrary bytes as a perf.data file and as a stream, and
// resolves every BPF program found: no panic, and every error a
// FormatError.
func FuzzRead(f *testing.F) {
	addSeedFiles(f)
	// A small stream too: mutations of it run much faster.
	f.Add(newStream().attr(1).sample(1, 30).comm(7, "a", 20).rec(recFinishedRound, nil).sample(3, 15).b)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, stream := range []bool{false, true} {
			rd, err := readAll(b, stream)
			var fe *FormatError
			if err != nil {
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a FormatError", err)
				}
				if rd != nil {
					t.Fatal("a reader with an error")
				}
				continue
			}
			for id := range rd.Header().Programs {
				if p, ok, _ := rd.Header().Program(id); !ok || p == nil {
					t.Fatalf("program %d listed but not found", id)
				}
			}
		}
	})
}

// FuzzBPFProgInfo feeds arbitrary bytes to the BPF program info and BTF
// section parsers, the largest structures in a file.
func FuzzBPFProgInfo(f *testing.F) {
	for _, file := range []string{"testdata/hot-task.data"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(featureSection(f, b, FeatBPFProgInfo), featureSection(f, b, FeatBPFBTF))
	}
	f.Fuzz(func(t *testing.T, info, btf []byte) {
		h := &Header{}
		if err := h.parseBPFProgInfo(&cursor{b: info}); err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FormatError", err)
			}
		}
		if err := h.parseBTF(&cursor{b: btf}); err != nil {
			return
		}
		for id := range h.Programs {
			h.Program(id)
		}
		if h.Programs == nil {
			h.Programs = map[uint32]*BPFProg{}
		}
		for id := range h.BTF {
			h.Programs[0] = &BPFProg{BTFID: id, FuncInfo: []FuncInfo{{0, 1}}, LineInfo: []LineInfo{{0, 1, 2, 3 << 10}}}
			h.Program(0)
		}
	})
}

// featureSection returns the bytes of feature want in file b.
func featureSection(tb testing.TB, b []byte, want Feature) []byte {
	fh, err := parseFileHeader(b, int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	at := fh.data.off + fh.data.size
	for bit := range featureBits {
		if fh.features[bit/64]&(1<<(bit%64)) == 0 {
			continue
		}
		if Feature(bit) == want {
			return b[ne.Uint64(b[at:]):][:ne.Uint64(b[at+8:])]
		}
		at += 16
	}
	tb.Fatalf("no %s section", want)
	return nil
}
