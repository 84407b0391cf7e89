package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/agent"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestAgentArgs(t *testing.T) {
	a, err := parseAgentArgs([]string{"--metrics", "-F", "99", "--profile-dir", "/tmp/x", "--profile-interval", "30s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.load()
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Defaults()
	want.MetricsAddr = agent.DefaultMetricsAddr
	want.Frequency = 99
	want.ProfileDir = "/tmp/x"
	want.ProfileInterval = agent.Duration(30 * time.Second)
	if cfg != want {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	// Nothing listens unless asked.
	a, err = parseAgentArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := a.load(); cfg.MetricsAddr != "" {
		t.Errorf("metrics at %q without --metrics-addr", cfg.MetricsAddr)
	}

	for _, args := range [][]string{
		{"--profile-interval", "soon"},
		{"-F", "0"},
		{"--otlp-endpoint", "localhost:4318"},
		{"--metrics-addr=9464"},
		{"--metrics-addr"},
		{"extra"},
		{"--queue", "0"},
	} {
		_, err := parseAgentArgs(args, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// TestAgentConfigFile: the file is read under the flags, which win; a bad
// file is a one-line error naming it.
func TestAgentConfigFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "agent.toml")
	file := "frequency = 49\nprofile_keep = 3\nmetrics_addr = \"127.0.0.1:9999\"\nprofile_dir = \"/tmp/f\"\n" +
		"all_stacks = true\nsend_timeout = \"3s\"\nservice_name = \"lb\"\npyroscope_url = \"http://p:4040\"\n"
	if err := os.WriteFile(f, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	// One flag of each kind over the file; the file's other settings stay.
	a, err := parseAgentArgs([]string{"--config", f, "-F", "99", "--profile-dir", "/tmp/flag",
		"--send-timeout", "7", "--user-symbols", "--metrics=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.load()
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Defaults()
	want.Frequency, want.ProfileKeep, want.MetricsAddr = 99, 3, "127.0.0.1:9999"
	want.ProfileDir, want.AllStacks, want.SendTimeout = "/tmp/flag", true, agent.Duration(7*time.Second)
	want.ServiceName, want.PyroscopeURL, want.UserSymbols = "lb", "http://p:4040", true
	if cfg != want {
		t.Errorf("flags over the file:\n got %+v\nwant %+v", cfg, want)
	}
	// --metrics asks for the default address, over the file's.
	if a, err = parseAgentArgs([]string{"--config", f, "--metrics"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if cfg, err := a.load(); err != nil || cfg.MetricsAddr != agent.DefaultMetricsAddr {
		t.Errorf("--metrics over the file: %q, %v", cfg.MetricsAddr, err)
	}
	if err := os.WriteFile(f, []byte("profile_keep = \"three\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = a.load()
	if err == nil || !strings.Contains(err.Error(), f) || strings.Contains(err.Error(), "\n") {
		t.Errorf("bad file: %v", err)
	}
	var stderr strings.Builder
	if code := run([]string{"agent", "--config", filepath.Join(dir, "missing.toml")}, io.Discard, &stderr); code != 1 {
		t.Errorf("missing config: exit %d, stderr %q", code, stderr.String())
	}
}

// TestAgentSignals runs the agent as a service manager does: SIGHUP
// rereads the config file (the interval so far is written first, to the
// old directory), SIGTERM ends it with exit 0 after writing the interval
// so far.
func TestAgentSignals(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU, BPF run-time statistics")
	bin := buildBinary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.toml")
	d1, d2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeConf := func(profDir string) {
		// all_stacks: an interval has samples even without BPF activity.
		s := "profile_interval = \"1h\"\nall_stacks = true\nfrequency = 49\nmetrics_addr = \"127.0.0.1:0\"\nprofile_dir = \"" + profDir + "\"\n"
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConf(d1)
	cmd := exec.Command(bin, "agent", "--config", conf)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // ended by the test unless it failed
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); strings.Count(stderr.String(), what) < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", what, stderr.String())
			}
		}
	}
	profiles := func(d string) int {
		m, _ := filepath.Glob(filepath.Join(d, "bpfprof-*.pb.gz"))
		return len(m)
	}
	waitLog("msg=sampling", 1)
	// Some samples first, so that the interval is not empty.
	m := regexp.MustCompile(`addr=(http://\S+/metrics)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", stderr.String())
	}
	for deadline := time.Now().Add(time.Minute); agentSamples(t, m[1]) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no samples counted")
		}
	}
	writeConf(d2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("config reloaded", 1)
	waitLog("msg=sampling", 2)
	if profiles(d1) != 1 {
		t.Errorf("%d profiles in the first directory after SIGHUP, want 1:\n%s", profiles(d1), stderr.String())
	}
	// Samples in the new generation too, so that its interval is not
	// empty: its counter starts at the old one's total, which is final
	// once the new one samples.
	addrs := regexp.MustCompile(`addr=(http://\S+/metrics)`).FindAllStringSubmatch(stderr.String(), -1)
	if len(addrs) < 2 {
		t.Fatalf("no metrics address after the reload in the log:\n%s", stderr.String())
	}
	url := addrs[len(addrs)-1][1]
	base := agentSamples(t, url)
	for deadline := time.Now().Add(time.Minute); agentSamples(t, url) == base; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no samples counted after the reload")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	if profiles(d2) != 1 {
		t.Errorf("%d profiles in the new directory after SIGTERM, want 1:\n%s", profiles(d2), stderr.String())
	}
}

// agentSamples reads bpfprof_agent_samples_total from the agent's metrics.
func agentSamples(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "bpfprof_agent_samples_total" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("no bpfprof_agent_samples_total in:\n%s", b)
	return 0
}
