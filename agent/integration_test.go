package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/pprof"
)

// driveHot loads testdata's hot loop and runs it flat out until the test
// ends (or stop is called), which also unloads it.
func driveHot(t *testing.T) (id uint32, stop func()) {
	t.Helper()
	return progtest.Drive(t, testprogs.Hot)
}

// startAgent runs an agent of cfg until the test ends; it returns the agent
// and its metrics address, if it serves one.
func startAgent(t *testing.T, cfg Config, extra ...Exporter) (*Agent, string) {
	t.Helper()
	addrc := make(chan string, 1)
	a, err := New(cfg, Options{
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Version:   "test",
		Listening: func(addr string) { addrc <- addr },
		Exporters: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	addr := ""
	if cfg.MetricsAddr != "" {
		select {
		case addr = <-addrc:
		case err := <-done:
			testutil.SkipIfNoPermission(t, err)
			t.Fatalf("agent ended: %v", err)
		}
	}
	return a, addr
}

// testWriter sends the agent's logs to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// metricValue returns the value of the series name whose labels include
// labels, from the agent's registry; ok false if there is none.
func metricValue(t *testing.T, a *Agent, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon starts a server process that the test ends, and waits until
// ready says it serves.
func startDaemon(t *testing.T, name string, ready func() bool, args ...string) *exec.Cmd {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // killed by the test
	stop := sync.OnceFunc(func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-exited
		log.Close()
	})
	t.Cleanup(stop)
	for deadline := time.Now().Add(2 * time.Minute); !ready(); time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s exited:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s not ready:\n%s", name, b)
		}
	}
	return cmd
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestPrometheusScrapesAgent: Debian's Prometheus scrapes the agent while
// the hot loop runs, and PromQL over its HTTP API finds the program's run
// time and sampled CPU time rising; once the program unloads, the agent
// stops exporting it.
func TestPrometheusScrapesAgent(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU, BPF run-time statistics")
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		testutil.SkipOrFail(t, "no prometheus binary: apt-get install -y prometheus")
	}
	id, stop := driveHot(t)
	cfg := Defaults()
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.Frequency = 99
	cfg.ProfileInterval = Duration(time.Hour)
	a, addr := startAgent(t, cfg)

	dir := t.TempDir()
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bpfprof
    static_configs:
      - targets: [%q]
`, addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	startDaemon(t, prom, func() bool { return httpOK("http://" + promAddr + "/-/ready") },
		"--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)

	sel := fmt.Sprintf(`{id="%d",name=%q,type="socket_filter"}`, id, testprogs.HotFunc)
	for _, q := range []string{
		"increase(bpfprof_prog_run_seconds_total" + sel + "[1m])",
		"increase(bpfprof_prog_runs_total" + sel + "[1m])",
		"increase(bpfprof_prog_sampled_cpu_seconds_total" + sel + "[1m])",
	} {
		var v float64
		for deadline := time.Now().Add(2 * time.Minute); v <= 0; time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no positive value from Prometheus", q)
			}
			v = promQuery(t, promAddr, q)
		}
		t.Logf("%s = %g", q, v)
	}
	if v, ok := metricValue(t, a, "bpfprof_programs_loaded", nil); !ok || v < 1 {
		t.Errorf("bpfprof_programs_loaded = %v", v)
	}

	// Unloaded, the program is no longer exported.
	stop()
	idLabel := map[string]string{"id": strconv.Itoa(int(id))}
	if _, ok := metricValue(t, a, "bpfprof_prog_runs_total", idLabel); ok {
		t.Errorf("program %d still exported after it unloaded", id)
	}
}

// promQuery runs an instant PromQL query and returns the first value, 0
// without one.
func promQuery(t *testing.T, addr, q string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("%s: %s", q, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// buildCollector returns the collector of tools/otelcol: bin/otelcol if
// 'make otelcol' built it from the current sources, else one built once per
// version of its sources into the user's cache directory (a minute or more
// the first time).
func buildCollector(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "tools", "otelcol")
	h := sha256.New()
	var newest time.Time
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		path := filepath.Join(src, f)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if fi, err := os.Stat(filepath.Join("..", "bin", "otelcol")); err == nil && fi.ModTime().After(newest) {
		return filepath.Join("..", "bin", "otelcol")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "bpfprof-test", "otelcol-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp := bin + fmt.Sprintf(".tmp%d", os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		testutil.SkipOrFail(t, fmt.Sprintf("cannot build the test collector (tools/otelcol): %v\n%s", err, out))
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// collector runs tools/otelcol with the OTLP receiver on addr, writing what
// it receives to out.
func startCollector(t *testing.T, bin, addr, out string) *exec.Cmd {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  profilefile:
    path: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    profiles:
      receivers: [otlp]
      exporters: [profilefile]
`, addr, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, bin, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "--config=file:"+cfg, "--feature-gates=service.profilesSupport")
}

// readCollected decodes the profiles the collector's file holds.
func readCollected(t *testing.T, path string) []pprofile.Profiles {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []pprofile.Profiles
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		pd, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(sc.Bytes())
		if err != nil {
			t.Fatalf("collector's file: %v", err)
		}
		out = append(out, pd)
	}
	return out
}

// TestCollectorReceivesProfiles: an OpenTelemetry Collector (otlpreceiver)
// receives the agent's profiles; decoded, their top line for the hot-loop
// program is its hot source line. Then the collector and a Pyroscope push
// endpoint are killed mid-run: the agent keeps sampling and counts the
// drops; brought back, both receive profiles again.
func TestCollectorReceivesProfiles(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU, BPF program info")
	bin := buildCollector(t)
	file, line, err := testprogs.Marker(testprogs.Hot, "hot")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := driveHot(t)
	colAddr := freePort(t)
	out := filepath.Join(t.TempDir(), "profiles.jsonl")
	col := startCollector(t, bin, colAddr, out)
	ps := &pushServer{}
	startPushServer(t, ps, "127.0.0.1:0")
	defer ps.stop()

	cfg := Defaults()
	cfg.Frequency = 99
	cfg.ProfileInterval = Duration(2 * time.Second)
	cfg.OTLPEndpoint = "http://" + colAddr
	cfg.PyroscopeURL = "http://" + ps.addr
	cfg.Retries = 0
	cfg.SendTimeout = Duration(5 * time.Second)
	a, _ := startAgent(t, cfg)

	mine := func(attrs map[string]any) bool { return attrs[pprof.LabelProgID] == int64(id) }
	var top LineCount
	waitFor2(t, "a profile of the hot loop at the collector", 2*time.Minute, func() bool {
		for _, pd := range readCollected(t, out) {
			if lines := LeafLines(pd, 0, mine); len(lines) > 0 && lines[0].Value >= 3 {
				top = lines[0]
				return true
			}
		}
		return false
	})
	if top.Function != testprogs.HotFunc || top.File != file || top.Line != int64(line) {
		t.Errorf("top line %+v, want %s at %s:%d", top, testprogs.HotFunc, file, line)
	}
	if len(ps.received()) == 0 {
		t.Error("nothing pushed to Pyroscope")
	}

	// Both backends die.
	col.Process.Kill() //nolint:errcheck // waited for by the cleanup
	ps.stop()
	samples := func() float64 { v, _ := metricValue(t, a, "bpfprof_agent_samples_total", nil); return v }
	dropped := func(ex string) float64 {
		v, _ := metricValue(t, a, "bpfprof_agent_profiles_dropped_total", map[string]string{"exporter": ex})
		return v
	}
	before := samples()
	waitFor2(t, "drops counted for both backends", time.Minute, func() bool { return dropped("otlp") > 0 && dropped("pyroscope") > 0 })
	if after := samples(); after <= before {
		t.Errorf("sampling stopped while the backends were down: %v samples, then %v", before, after)
	}

	// And come back.
	sentBefore, _ := metricValue(t, a, "bpfprof_agent_profiles_sent_total", map[string]string{"exporter": "otlp"})
	pushes := len(ps.received())
	os.Remove(out)
	startCollector(t, bin, colAddr, out)
	startPushServer(t, ps, ps.addr)
	// The collector writes a profile out before its answer reaches the
	// agent, which counts the send then: wait for both.
	sent := func() float64 {
		v, _ := metricValue(t, a, "bpfprof_agent_profiles_sent_total", map[string]string{"exporter": "otlp"})
		return v
	}
	waitFor2(t, "profiles at the restarted backends, counted as sent", 2*time.Minute, func() bool {
		return len(readCollected(t, out)) > 0 && len(ps.received()) > pushes && sent() > sentBefore
	})
	if b, _ := metricValue(t, a, "bpfprof_agent_sent_bytes_total", map[string]string{"exporter": "otlp"}); b <= 0 {
		t.Error("no bytes counted as sent")
	}
}

func waitFor2(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}
