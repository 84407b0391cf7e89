package testprogs

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/bpfprof/bpfprof"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// Marker finds the comment "/* MARK: <mark> */" in testdata/<name>.bpf.c, as
// embedded in bpfprof.TestdataFS, and returns that file's repo-relative name
// (the one in the object's BTF line info) and the 1-based line number. A
// mark that is missing, or present twice, is an error; a missing one matches
// errs.ErrNotFound.
func Marker(name, mark string) (file string, line int, err error) {
	file = "testdata/" + name + ".bpf.c"
	src, err := bpfprof.TestdataFS.ReadFile(file)
	if err != nil {
		return "", 0, fmt.Errorf("find mark %q: %w", mark, err)
	}
	want := "/* MARK: " + mark + " */"
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		if !strings.Contains(sc.Text(), want) {
			continue
		}
		if line != 0 {
			return "", 0, fmt.Errorf("find mark %q in %s: on lines %d and %d", mark, file, line, n)
		}
		line = n
	}
	if err := sc.Err(); err != nil {
		return "", 0, fmt.Errorf("find mark %q in %s: %w", mark, file, err)
	}
	if line == 0 {
		return "", 0, fmt.Errorf("find mark %q in %s: %w", mark, file, errs.ErrNotFound)
	}
	return file, line, nil
}
