package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
)

// Options are what the agent needs from the program that runs it, beside
// its Config.
type Options struct {
	// Log receives the agent's structured logs; nil discards them.
	Log *slog.Logger
	// Version is the agent's build version, for bpfprof_build_info and
	// service.version.
	Version string
	// Reload, when it receives, makes the agent reread its configuration
	// through LoadConfig (SIGHUP): the current interval's profile is sent,
	// then sampling, metrics and backends restart with the new settings.
	// A configuration that does not load is logged and the old one kept.
	Reload <-chan struct{}
	// LoadConfig rereads the configuration; nil keeps the current one.
	LoadConfig func() (Config, error)
	// Once sends the profile of one interval and returns: an error if a
	// backend did not take it.
	Once bool
	// Listening, if set, is told the metrics endpoint's address once it
	// listens (port 0 in a config picks a free one).
	Listening func(addr string)
	// Exporters are added to those the config names (tests, embedding).
	Exporters []Exporter
}

// Agent samples the host continuously, serves per-program metrics and
// exports a profile per interval.
type Agent struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	res  Resource
	reg  *prometheus.Registry

	profiles atomic.Uint64

	// mu guards the state a scrape reads while generations come and go.
	mu      sync.Mutex
	sess    *session.Session
	tracker *aggregate.Tracker
	senders []*sender
	// base holds the totals of generations that ended (before reloads),
	// so that the exported counters never go back.
	baseSenders map[string]SenderStats
	baseStats   session.Stats
}

// New returns an agent of cfg, which must be valid.
func New(cfg Config, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, opts: opts, log: log, res: HostResource(cfg.ServiceName, opts.Version), baseSenders: map[string]SenderStats{}}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(newCollector(a), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return a, nil
}

// Registry returns the agent's metrics registry.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// HostResource describes this host: its name and kernel release.
func HostResource(service, version string) Resource {
	host, _ := os.Hostname()
	var u unix.Utsname
	rel := ""
	if unix.Uname(&u) == nil {
		rel = unix.ByteSliceToString(u.Release[:])
	}
	return Resource{HostName: host, KernelRelease: rel, ServiceName: service, Version: version}
}

// agentState is what a scrape reads: the live generation and the totals.
type agentState struct {
	tracker *aggregate.Tracker
	stats   session.Stats
	senders map[string]SenderStats
}

func (a *Agent) state() agentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := agentState{tracker: a.tracker, stats: a.baseStats, senders: map[string]SenderStats{}}
	if a.sess != nil {
		addStats(&st.stats, a.sess.Stats())
	}
	for k, v := range a.baseSenders {
		st.senders[k] = v
	}
	for _, s := range a.senders {
		st.senders[s.ex.Name()] = addSender(st.senders[s.ex.Name()], s.stats())
	}
	return st
}

func addStats(dst *session.Stats, s session.Stats) {
	dst.Counters.Samples += s.Counters.Samples
	dst.Sampler.Lost += s.Sampler.Lost
	dst.Sampler.LostSamples += s.Sampler.LostSamples
	dst.Sampler.Records += s.Sampler.Records
}

func addSender(a, b SenderStats) SenderStats {
	return SenderStats{Sent: a.Sent + b.Sent, Bytes: a.Bytes + b.Bytes, Dropped: a.Dropped + b.Dropped,
		Failures: a.Failures + b.Failures, Queued: a.Queued + b.Queued}
}

// Run runs the agent until ctx is done (SIGTERM), or after one interval
// with Options.Once. On the way out it sends the profile of the interval
// so far and waits up to the send timeout for the backends. Needs what
// session.Open needs (root, in practice) and CAP_SYS_ADMIN for the run-time
// statistics, which it keeps enabled while it runs.
func (a *Agent) Run(ctx context.Context) error {
	// OpenStats's errors say what failed: enabling the stats.
	stats, err := bpfprog.OpenStats()
	if err != nil {
		return err
	}
	defer stats.Close()
	for {
		reload, err := a.generation(ctx)
		if err != nil || !reload {
			return err
		}
		if a.opts.LoadConfig == nil {
			continue
		}
		cfg, err := a.opts.LoadConfig()
		if err != nil {
			a.log.Error("config not reloaded; keeping the current one", "err", err)
			continue
		}
		a.cfg = cfg
		a.res = HostResource(cfg.ServiceName, a.opts.Version)
		a.log.Info("config reloaded")
	}
}

// exporters returns the backends the config names.
func (a *Agent) exporters() []Exporter {
	var ex []Exporter
	if a.cfg.OTLPEndpoint != "" {
		ex = append(ex, NewOTLPExporter(a.cfg.OTLPEndpoint, a.res))
	}
	if a.cfg.PyroscopeURL != "" {
		ex = append(ex, NewPyroscopeExporter(a.cfg.PyroscopeURL, a.res))
	}
	if a.cfg.ProfileDir != "" {
		ex = append(ex, &DirExporter{Dir: a.cfg.ProfileDir, Keep: a.cfg.ProfileKeep})
	}
	return append(ex, a.opts.Exporters...)
}

// generation runs one configuration until ctx is done (false) or a reload
// is asked for (true).
func (a *Agent) generation(ctx context.Context) (reload bool, err error) {
	cfg := a.cfg
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return false, fmt.Errorf("profile directory: %w", err)
		}
	}
	var srv *http.Server
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return false, fmt.Errorf("metrics endpoint: %w (choose another --metrics-addr)", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelError)}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed at Shutdown.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx) //nolint:errcheck // nothing to do about it on the way out
		}()
		a.log.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
		if a.opts.Listening != nil {
			a.opts.Listening(ln.Addr().String())
		}
	}

	// cpu-clock, whatever the hardware: sampled CPU seconds are its
	// periods, in nanoseconds.
	clock, err := sampler.ParseEvent("cpu-clock")
	if err != nil {
		return false, err
	}
	sess, err := session.Open(session.Options{
		Sampler: sampler.Options{
			Events:    []sampler.Event{clock},
			Frequency: cfg.Frequency,
			CallGraph: true,
		},
		BPFOnly:       !cfg.AllStacks,
		NoUserSymbols: !cfg.UserSymbols,
		Window:        sessionWindow(cfg),
		Warn:          func(w string) { a.log.Warn(w) },
	})
	if err != nil {
		return false, err
	}
	defer sess.Close()
	profTracker := sess.NewTracker()
	var senders []*sender
	for _, ex := range a.exporters() {
		senders = append(senders, newSender(ex, cfg.Queue, cfg.Retries, time.Duration(cfg.SendTimeout), a.log))
	}
	if len(senders) == 0 && cfg.MetricsAddr == "" {
		a.log.Warn("no metrics endpoint and no backend: the agent samples for nothing (add --metrics, --otlp-endpoint, --pyroscope-url or --profile-dir)")
	}
	a.mu.Lock()
	a.sess, a.tracker, a.senders = sess, sess.NewTracker(), senders
	a.mu.Unlock()
	defer a.retire(sess, senders)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sess.Start(runCtx)
	a.log.Info("sampling", "frequency_hz", sess.Frequency(), "cpus", len(sess.CPUs()), "profile_interval", time.Duration(cfg.ProfileInterval).String(), "exporters", len(senders))

	tick := time.NewTicker(time.Duration(cfg.ProfileInterval))
	defer tick.Stop()
	start := time.Now()
	finish := func() error {
		cancel()
		if err := sess.Stop(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("sampling ended", "err", err)
		}
		a.emit(sess, profTracker, start, time.Now(), senders)
		return a.drain(senders)
	}
	for {
		select {
		case <-ctx.Done():
			a.log.Info("stopping")
			return false, finish()
		case <-a.opts.Reload:
			a.log.Info("reloading config")
			return true, finish()
		case <-sess.Done():
			if err := sess.Err(); err != nil {
				return false, fmt.Errorf("sampling: %w", err)
			}
			return false, errors.New("sampling ended unexpectedly")
		case now := <-tick.C:
			if a.opts.Once {
				a.log.Info("one interval done (--once)")
				return false, finish()
			}
			a.emit(sess, profTracker, start, now, senders)
			start = now
		}
	}
}

// drain closes the senders, waiting up to the send timeout (and the
// retries' backoff) for what is queued; with Once, a profile not delivered
// is an error.
func (a *Agent) drain(senders []*sender) error {
	grace := time.Duration(a.cfg.SendTimeout) * time.Duration(1+a.cfg.Retries)
	var errs []error
	for _, s := range senders {
		s.close(grace)
		if st := s.stats(); a.opts.Once && st.Dropped > 0 {
			errs = append(errs, fmt.Errorf("profile not delivered to %s (see the log above)", s.ex.Name()))
		}
	}
	return errors.Join(errs...)
}

// retire folds the totals of a generation that ended into the base, so the
// exported counters carry over a reload.
func (a *Agent) retire(sess *session.Session, senders []*sender) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addStats(&a.baseStats, sess.Stats())
	for _, s := range senders {
		a.baseSenders[s.ex.Name()] = addSender(a.baseSenders[s.ex.Name()], s.stats())
	}
	a.sess, a.tracker, a.senders = nil, nil, nil
}

// emit builds the profile of the interval start..end from the tracker's
// Delta and queues it for every backend. An interval without samples sends
// nothing.
func (a *Agent) emit(sess *session.Session, tr *aggregate.Tracker, start, end time.Time, senders []*sender) {
	d := tr.Next()
	a.profiles.Add(1)
	if d.Samples == 0 || len(d.Stacks) == 0 {
		a.log.Info("interval without BPF samples: nothing to send", "start", start)
		return
	}
	snap := &aggregate.Snapshot{
		Start: d.Start, End: d.End, Counters: d.Counters, Locations: d.Locations,
		Stacks: d.Stacks, Programs: d.Programs, Lines: d.Lines, Addrs: d.Addrs,
	}
	p, err := pprof.Build(snap, pprof.Meta{
		Event:         sess.Events()[0].String(),
		Clock:         true,
		Frequency:     sess.Frequency(),
		Start:         start,
		Duration:      end.Sub(start),
		KernelRelease: a.res.KernelRelease,
		CommandLine:   []string{"bpfprof", "agent"},
		SystemWide:    true,
	})
	if err != nil {
		a.log.Error("profile not built", "err", err)
		return
	}
	// A Delta carries every location seen so far; the profile keeps only
	// those of the interval's samples.
	p = p.Compact()
	var buf bytes.Buffer
	if err := pprof.Write(&buf, p); err != nil {
		a.log.Error("profile not encoded", "err", err)
		return
	}
	a.log.Info("profile", "start", start, "samples", d.Samples, "bpf_samples", d.BPFSamples, "programs", len(d.Programs), "bytes", buf.Len())
	pl := &Payload{Profile: p, Gzipped: buf.Bytes(), Start: start, End: end}
	for _, s := range senders {
		s.enqueue(pl)
	}
}
