package symbolize

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestParseMaps(t *testing.T) {
	data, err := os.ReadFile("testdata/maps.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, skipped, err := parseMaps(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || len(entries) != 9 {
		t.Fatalf("%d entries, %d skipped; want 9, 1", len(entries), skipped)
	}
	want := []mapEntry{
		{0x55d0c5a00000, 0x55d0c5a28000, 0, false, 0xfd, 1, 1234, "/usr/bin/tiny"},
		{0x55d0c5a28000, 0x55d0c5a90000, 0x28000, true, 0xfd, 1, 1234, "/usr/bin/tiny"},
		{0x55d0c5c00000, 0x55d0c5c21000, 0, false, 0, 0, 0, "[heap]"},
		{0x7f0000000000, 0x7f0000001000, 0, true, 0, 0, 0, ""},
		{0x7f1000000000, 0x7f1000028000, 0, false, 0xfd, 1, 5678, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7f1000028000, 0x7f10001bd000, 0x28000, true, 0xfd, 1, 5678, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7f2000000000, 0x7f2000001000, 0x1000, true, 0x103, 2, 42, "/opt/with space/lib tiny.so (deleted)"},
		{0x7ffd1f3fe000, 0x7ffd1f400000, 0, true, 0, 0, 0, "[vdso]"},
		{0xffffffffff600000, 0xffffffffff601000, 0, true, 0, 0, 0, "[vsyscall]"},
	}
	for i, w := range want {
		if entries[i] != w {
			t.Errorf("entry %d: %+v, want %+v", i, entries[i], w)
		}
	}
}

func TestParseMapsEdges(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		n, skipped int
	}{
		{"empty", "", 0, 0},
		{"no newline", "1000-2000 r-xp 00000000 08:01 1 /bin/x", 1, 0},
		{"limit below start", "2000-1000 r-xp 00000000 08:01 1 /bin/x\n", 0, 1},
		{"bad perms", "1000-2000 r-x 00000000 08:01 1 /bin/x\n", 0, 1},
		{"bad device", "1000-2000 r-xp 00000000 0801 1 /bin/x\n", 0, 1},
		{"overflow", "1000-2000 r-xp 100000000000000000 08:01 1 /bin/x\n", 0, 1},
		{"long line", "1000-2000 r-xp 00000000 08:01 1 /" + strings.Repeat("x", 10000) + "\n3000-4000 r-xp 00000000 08:01 1 /bin/y\n", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, skipped, err := parseMaps(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.n || skipped != tc.skipped {
				t.Errorf("%d entries, %d skipped; want %d, %d", len(entries), skipped, tc.n, tc.skipped)
			}
		})
	}
}

// FuzzMaps checks that any input parses without panicking, that an error
// comes without entries, and that every entry is a non-empty range.
func FuzzMaps(f *testing.F) {
	data, err := os.ReadFile("testdata/maps.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("1000-2000 r-xp 00000000 08:01 1 /bin/x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := parseMaps(bytes.NewReader(data))
		if err != nil {
			if entries != nil {
				t.Fatal("error with entries")
			}
			return
		}
		for _, e := range entries {
			if e.limit <= e.start {
				t.Fatalf("empty range %+v", e)
			}
			if strings.Contains(e.path, "\n") {
				t.Fatalf("path holds a newline: %q", e.path)
			}
		}
	})
}
