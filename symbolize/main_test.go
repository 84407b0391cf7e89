package symbolize

import (
	"flag"
	"os"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// update rewrites the fixtures in testdata/ from programs loaded in this
// kernel (needs root).
var update = flag.Bool("update", false, "rewrite testdata fixtures from the running kernel")

func TestMain(m *testing.M) {
	flag.Parse()
	// The fuzzing engine leaves its signal goroutine running: the leak
	// check is for tests, not fuzzing runs.
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	os.Exit(testutil.LeakCheck(m))
}
