package agent

import (
	"os"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }
