package annotate

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// bpftoolInsn is one element of 'bpftool -j prog dump xlated linum'.
type bpftoolInsn struct {
	Disasm  string `json:"disasm"`
	Src     string `json:"src"`
	LineNum uint32 `json:"line_num"`
	Proto   string `json:"proto"`
}

// bpftoolXlated runs bpftool on program id. bpftool is a test dependency
// (.ci/run installs it): missing, the test skips off CI and fails under it.
func bpftoolXlated(t *testing.T, id uint32) []bpftoolInsn {
	t.Helper()
	if _, err := exec.LookPath("bpftool"); err != nil {
		testutil.SkipOrFail(t, "bpftool not installed (apt-get install bpftool)")
	}
	out, err := exec.Command("bpftool", "-j", "prog", "dump", "xlated", "id", strconv.FormatUint(uint64(id), 10), "linum").Output()
	if err != nil {
		t.Fatalf("bpftool prog dump xlated id %d: %v", id, err)
	}
	var insns []bpftoolInsn
	if err := json.Unmarshal(out, &insns); err != nil {
		t.Fatalf("bpftool's JSON: %v", err)
	}
	return insns
}

// comparable drops what the comparison ignores: spacing and the "#..."
// bpftool appends to calls (helper immediates, JIT symbols of
// subprograms).
func comparable(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 && strings.Contains(s, "call ") {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), "")
}

// TestBpftoolXlated compares the xlated listing of every testdata program
// with bpftool's: the same instructions in the same order (ignoring
// spacing and "#" suffixes), the same source lines on the same
// instructions, and the same function prototypes (ignoring spacing and the
// "static" bpftool leaves out).
func TestBpftoolXlated(t *testing.T) {
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
			want := bpftoolXlated(t, p.ID)
			var got []bpftoolInsn
			for _, f := range l.Functions {
				proto := f.Signature
				for _, blk := range f.Blocks {
					for i, in := range blk.Insns {
						g := bpftoolInsn{Disasm: fmt.Sprintf("(%02x) %s", in.Opcode, in.Text), Proto: proto}
						if i == 0 && blk.Source != nil && blk.Source.Text != "" {
							g.Src, g.LineNum = blk.Source.Text, blk.Source.Line
						}
						got = append(got, g)
						proto = ""
					}
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d instructions, bpftool lists %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				g, w := got[i], want[i]
				if comparable(g.Disasm) != comparable(w.Disasm) {
					t.Errorf("insn %d: %q, bpftool %q", i, g.Disasm, w.Disasm)
				}
				if g.LineNum != w.LineNum || comparable(g.Src) != comparable(w.Src) {
					t.Errorf("insn %d: source line %d %q, bpftool %d %q", i, g.LineNum, g.Src, w.LineNum, w.Src)
				}
				if comparable(strings.TrimPrefix(g.Proto, "static ")) != comparable(w.Proto) {
					t.Errorf("insn %d: prototype %q, bpftool %q", i, g.Proto, w.Proto)
				}
			}
		})
	}
}
