// Package kernelmatrix runs the tests that need another kernel than the
// host's in a QEMU guest, one Debian kernel image package at a time: it is
// 'make test-kernels'. It selects the tests (Select), fetches and unpacks the
// kernel (FetchKernel), builds an initramfs holding busybox and static test
// binaries (BuildInitramfs), boots it (Boot) and reads the tests' results
// back from a serial port (ParseGuest), then checks that every selected test
// passed there (Result.Check).
package kernelmatrix

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// Markers are the internal/testutil functions whose callers must run in the
// guest: a Test function that calls one, directly or through functions of
// its own package, is selected.
var Markers = []string{"RequireFentry", "RequireKprobes", "KernelMatrix"}

// Package is one Go package with tests to run in the guest.
type Package struct {
	// Dir is the package's directory relative to the module root, with
	// forward slashes ("cmd/bpfprof").
	Dir string
	// Tests are the names of the selected top-level Test functions, sorted.
	Tests []string
}

// Select walks the module rooted at root and returns, per package, the Test
// functions that call one of Markers as testutil.<Marker>. It reads only
// _test.go files (skipping testdata and hidden directories) and follows calls
// to functions and methods of the same package, so a helper that calls
// testutil.RequireFentry marks every test that calls the helper.
func Select(root string) ([]Package, error) {
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") {
			dir := filepath.Dir(path)
			dirs[dir] = append(dirs[dir], path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("select guest tests: %w", err)
	}
	var pkgs []Package
	for dir, files := range dirs {
		tests, err := selectTests(files)
		if err != nil {
			return nil, err
		}
		if len(tests) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, Package{Dir: filepath.ToSlash(rel), Tests: tests})
	}
	slices.SortFunc(pkgs, func(a, b Package) int { return strings.Compare(a.Dir, b.Dir) })
	return pkgs, nil
}

// selectTests returns the Test functions of one directory's test files that
// reach a marker.
func selectTests(files []string) ([]string, error) {
	fset := token.NewFileSet()
	// calls maps each function (methods by name alone: a conservative
	// guess that can only select more) to the same-package names it calls.
	calls := map[string]map[string]bool{}
	marked := map[string]bool{}
	var tests []string
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("select guest tests: %w", err)
		}
		testutilName := importName(f, "/internal/testutil")
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			if fn.Recv == nil && isTestFunc(fn) {
				tests = append(tests, name)
			}
			if calls[name] == nil {
				calls[name] = map[string]bool{}
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fun := call.Fun.(type) {
				case *ast.Ident:
					calls[name][fun.Name] = true
				case *ast.SelectorExpr:
					if x, ok := fun.X.(*ast.Ident); ok && testutilName != "" && x.Name == testutilName && slices.Contains(Markers, fun.Sel.Name) {
						marked[name] = true
					} else {
						calls[name][fun.Sel.Name] = true
					}
				}
				return true
			})
		}
	}
	// Propagate marks to callers until nothing changes.
	for changed := true; changed; {
		changed = false
		for fn, callees := range calls {
			if marked[fn] {
				continue
			}
			for callee := range callees {
				if marked[callee] {
					marked[fn], changed = true, true
					break
				}
			}
		}
	}
	var out []string
	for _, t := range tests {
		if marked[t] {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// importName returns the name under which f imports the package whose path
// ends in suffix, or "" if it does not.
func importName(f *ast.File, suffix string) string {
	for _, imp := range f.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		if !strings.HasSuffix(path, suffix) {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return path[strings.LastIndex(path, "/")+1:]
	}
	return ""
}

// isTestFunc reports whether fn is a top-level func TestXxx(t *testing.T).
func isTestFunc(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if !strings.HasPrefix(name, "Test") || name == "TestMain" {
		return false
	}
	if rest := name[len("Test"):]; rest != "" && strings.ToLower(rest[:1]) == rest[:1] && rest[0] >= 'a' && rest[0] <= 'z' {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
