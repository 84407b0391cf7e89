package annotate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>.golden, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("listing differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Per-load values the golden files leave out: program and map IDs, and
// helper immediates (offsets into this kernel build).
var (
	reProgID = regexp.MustCompile(`^program \d+ `)
	reMapID  = regexp.MustCompile(`map\[id:\d+\]`)
	reCallID = regexp.MustCompile(`(call [A-Za-z_0-9.]+)#-?\d+`)
	// reNamedImm matches an AT&T immediate spelled as a symbol.
	reNamedImm = regexp.MustCompile(`\$[A-Za-z_]`)
)

func normalize(b []byte) []byte {
	b = reProgID.ReplaceAll(b, []byte("program ID "))
	b = reMapID.ReplaceAll(b, []byte("map[id:ID]"))
	return reCallID.ReplaceAll(b, []byte("$1#IMM"))
}

// TestGoldenStatic checks the static listing (no samples, no JIT) of every
// testdata program as loaded into this kernel.
func TestGoldenStatic(t *testing.T) {
	ks := loadKallsyms(t)
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			o, info := loadInfo(t, tp.name)
			p, err := FromDetail(info, CaptureOptions{MapNames: mapNames(o), Kernel: ks, CallBase: ks.base})
			if err != nil {
				t.Fatal(err)
			}
			l, err := Build(p, Counts{}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteText(&buf, l, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			golden(t, "TestGoldenStatic_"+tp.name, normalize(buf.Bytes()))
		})
	}
}

// TestJITStructure checks the JIT listing of every testdata program for
// structure, as its addresses change with every load: each function's
// machine code covers its image exactly, each block's instructions lie in
// its range, and calls to subprograms and helpers are named.
func TestJITStructure(t *testing.T) {
	ks := loadKallsyms(t)
	for _, tp := range testPrograms {
		t.Run(tp.name, func(t *testing.T) {
			o, info := loadInfo(t, tp.name)
			p, err := FromDetail(info, CaptureOptions{MapNames: mapNames(o), Kernel: ks, CallBase: ks.base})
			if err != nil {
				t.Fatal(err)
			}
			for _, syntax := range []Syntax{ATT, Intel} {
				l, err := Build(p, Counts{}, Options{JIT: true, Syntax: syntax, Kernel: ks})
				if err != nil {
					t.Fatal(err)
				}
				if !l.JITed || len(l.Notes) != 0 {
					t.Fatalf("jited %v, notes %q: want a JIT listing without notes", l.JITed, l.Notes)
				}
				var calls []string
				for _, f := range l.Functions {
					next := f.Addr
					for _, blk := range f.Blocks {
						for _, in := range blk.JIT {
							if in.Addr != next {
								t.Fatalf("%s: instruction at %#x, want %#x (gap or overlap)", f.Name, in.Addr, next)
							}
							if in.Addr < blk.JITStart || in.Addr >= blk.JITEnd {
								t.Errorf("%s: instruction at %#x outside its block [%#x, %#x)", f.Name, in.Addr, blk.JITStart, blk.JITEnd)
							}
							if strings.HasPrefix(in.Text, ".byte") {
								t.Errorf("%s: undecoded byte at %#x", f.Name, in.Addr)
							}
							if strings.HasPrefix(in.Text, "call") && in.Target != "" {
								calls = append(calls, in.Target)
							}
							if syntax == ATT && reNamedImm.MatchString(in.Text) {
								t.Errorf("%s: %q names an immediate as a symbol", f.Name, in.Text)
							}
							next += uint64(in.Len)
						}
					}
					if next != f.Addr+uint64(f.Size) {
						t.Errorf("%s: machine code ends at %#x, image at %#x", f.Name, next, f.Addr+uint64(f.Size))
					}
				}
				want := map[string]string{
					"subprog": tp.funcs[len(tp.funcs)-1],
					"maps":    "htab_map_update_elem",
				}[tp.name]
				if want != "" && !strings.Contains(strings.Join(calls, " "), want) {
					t.Errorf("%s syntax: named calls %q, want one to %s", syntax, calls, want)
				}
			}
		})
	}
}
