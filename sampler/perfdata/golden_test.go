package perfdata

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden reads each committed perf.data and compares its summary with
// testdata/TestGolden/<name>.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.data")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.data: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".data")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := summarize(f)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			golden := filepath.Join("testdata", "TestGolden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: summary differs from %s:\n--- got\n%s--- want\n%s", file, golden, got, want)
			}
		})
	}
}
