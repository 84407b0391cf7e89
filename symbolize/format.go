package symbolize

import (
	"fmt"
	"strings"
)

// String formats a frame for logs and tests: "func+0xoff file:line:col
// [mapping]", with the BPF program's id where there is one.
func (f Frame) String() string {
	var b strings.Builder
	b.WriteString(f.Func)
	if f.Offset != 0 {
		fmt.Fprintf(&b, "+%#x", f.Offset)
	}
	if f.File != "" {
		fmt.Fprintf(&b, " %s:%d", f.File, f.Line)
		if f.Column != 0 {
			fmt.Fprintf(&b, ":%d", f.Column)
		}
	}
	if f.Prog != nil {
		fmt.Fprintf(&b, " (prog %d)", f.Prog.ID)
	}
	if f.Mapping != nil {
		fmt.Fprintf(&b, " [%s]", f.Mapping.File)
	}
	return b.String()
}
