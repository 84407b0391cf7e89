package kernelmatrix

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSelect(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"go.mod": "module example.com/m\n",
		"a/a_test.go": `package a

import (
	"testing"

	"example.com/m/internal/testutil"
)

func TestDirect(t *testing.T) { testutil.RequireFentry(t) }

func TestIndirect(t *testing.T) { helper(t) }

func helper(t *testing.T) { t.Run("x", func(t *testing.T) { deeper(t) }) }

func deeper(tb testing.TB) { testutil.RequireKprobes(tb) }

func TestSmoke(t *testing.T) {
	testutil.KernelMatrix(t)
}

func TestPlain(t *testing.T) { testutil.RequireRoot(t, "x") }

func TestMethod(t *testing.T) { var f fixture; f.setup(t) }

type fixture struct{}

func (fixture) setup(t *testing.T) { testutil.RequireFentry(t) }

// Not tests: wrong signature or name.
func Testlower(t *testing.T) { testutil.RequireFentry(t) }
func TestBench(b *testing.B) { testutil.RequireFentry(b) }
func BenchmarkX(b *testing.B) { testutil.RequireFentry(b) }
`,
		"a/b_test.go": `package a_test

import (
	"testing"

	tu "example.com/m/internal/testutil"
)

func TestAliased(t *testing.T) { tu.RequireFentry(t) }
`,
		"c/c_test.go": `package c

import "testing"

type testutil struct{}

func (testutil) RequireFentry(*testing.T) {}

// A local value named like the package is not the package.
func TestLocal(t *testing.T) { var u testutil; u.RequireFentry(t) }
`,
		"a/testdata/x_test.go": `package x

import "example.com/m/internal/testutil"

func TestData(t *testing.T) { testutil.RequireFentry(t) }
`,
	})
	pkgs, err := Select(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Dir: "a", Tests: []string{"TestAliased", "TestDirect", "TestIndirect", "TestMethod", "TestSmoke"}}}
	if len(pkgs) != len(want) || pkgs[0].Dir != want[0].Dir || !slices.Equal(pkgs[0].Tests, want[0].Tests) {
		t.Errorf("Select = %+v, want %+v", pkgs, want)
	}
}

func TestSelectBrokenFile(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"a/a_test.go": "package a\nfunc TestX(t *testing.T) {"})
	if _, err := Select(root); err == nil {
		t.Error("a test file that does not parse: no error")
	}
}

// TestSelectRepo checks the tests of this repository that must run in the
// guest are found.
func TestSelectRepo(t *testing.T) {
	pkgs, err := Select("../..")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range pkgs {
		got[p.Dir] = p.Tests
	}
	for dir, tests := range map[string][]string{
		"cmd/bpfprof":        {"TestListKprobe", "TestRecordKprobe", "TestListJSONTestprogs"},
		"internal/testprogs": {"TestAttachKprobe"},
	} {
		for _, name := range tests {
			if !slices.Contains(got[dir], name) {
				t.Errorf("%s: %s not selected (got %v)", dir, name, got[dir])
			}
		}
	}
	// The testutil package's own tests call the helpers unqualified: they
	// are not guest tests.
	if _, ok := got["internal/testutil"]; ok {
		t.Errorf("internal/testutil selected: %v", got["internal/testutil"])
	}
}
