package testutil

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// fakeTB records what a Require helper decided instead of ending the test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Name() string                   { return "TestFake" }
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = format }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = format }
func (f *fakeTB) Fatal(a ...any)                 { f.fatal = "fatal" }
func (f *fakeTB) Skip(a ...any)                  { f.skip = "skip" }

func TestRequireFeature(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the helper skips before probing without root")
	}
	missing := errors.New("no such feature")
	tests := []struct {
		name      string
		guest     bool
		probeErr  error
		wantFatal bool
		wantSkip  bool
	}{
		{"host with the feature", false, nil, false, false},
		{"host without it skips, even under CI", false, missing, false, true},
		{"guest with the feature", true, nil, false, false},
		{"guest without it fails", true, missing, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", "true")
			if tt.guest {
				t.Setenv(GuestEnv, "linux-image-test")
			} else {
				os.Unsetenv(GuestEnv)
			}
			p := &probe{run: func() error { return tt.probeErr }}
			var f fakeTB
			requireFeature(&f, "feature", p)
			if (f.fatal != "") != tt.wantFatal || (f.skip != "") != tt.wantSkip {
				t.Errorf("fatal %q skip %q; want fatal %v skip %v", f.fatal, f.skip, tt.wantFatal, tt.wantSkip)
			}
			if tt.wantSkip && !strings.Contains(f.skip, "make test-kernels") {
				t.Errorf("skip reason %q does not say where the test runs", f.skip)
			}
		})
	}
}

// TestRequireKernelFeatures runs the real probes: each Require helper lets
// the test go on exactly when its probe worked, and never fails on the host.
func TestRequireKernelFeatures(t *testing.T) {
	if _, ok := InGuest(); ok {
		t.Skip("the guest runs only the tests that need its kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("the helpers skip before probing without root")
	}
	for _, tt := range []struct {
		name  string
		req   func(testing.TB)
		probe *probe
	}{{"fentry", RequireFentry, &fentryProbe}, {"kprobes", RequireKprobes, &kprobeProbe}} {
		ran := false
		t.Run(tt.name, func(t *testing.T) {
			tt.req(t)
			ran = true
		})
		if ran != (tt.probe.err == nil) {
			t.Errorf("%s: the test went on: %v, but the probe said %v", tt.name, ran, tt.probe.err)
		}
	}
}
