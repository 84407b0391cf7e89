package symbolize

import (
	"encoding/json"
	"os"
	"testing"
)

// progFixture is a program's info saved from a real kernel, with the
// kallsyms names of its JIT images (a subprogram's name carries its own
// tag, which the info does not give).
type progFixture struct {
	Info  progInfo     `json:"info"`
	Ksyms []fixtureSym `json:"ksyms"`
}

type fixtureSym struct {
	Addr uint64 `json:"addr"`
	Name string `json:"name"`
}

func (f *progFixture) sysName(addr uint64) string {
	for _, k := range f.Ksyms {
		if k.Addr == addr {
			return k.Name
		}
	}
	return ""
}

func fixturePath(name string) string { return "testdata/" + name + ".prog.json" }

func loadProgFixture(tb testing.TB, name string) *progFixture {
	tb.Helper()
	data, err := os.ReadFile(fixturePath(name))
	if err != nil {
		tb.Fatal(err)
	}
	var f progFixture
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatal(err)
	}
	return &f
}
