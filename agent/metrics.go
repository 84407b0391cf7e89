package agent

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
)

// Labels of the per-program series. Their cardinality is bounded: one
// series per loaded program and metric, at most Config.MaxPrograms programs
// (the busiest by run time), and attach is one short description.
var progLabels = []string{"id", "name", "type", "tag", "attach"}

// maxAttachLabel bounds the attach label's length.
const maxAttachLabel = 64

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descRuns     = desc("bpfprof_prog_runs_total", "Runs of the BPF program (kernel run-time statistics).", progLabels...)
	descRunSecs  = desc("bpfprof_prog_run_seconds_total", "Time spent in the BPF program (kernel run-time statistics).", progLabels...)
	descRecMiss  = desc("bpfprof_prog_recursion_misses_total", "Runs of the BPF program skipped because another BPF program was running on the CPU.", progLabels...)
	descSampled  = desc("bpfprof_prog_sampled_cpu_seconds_total", "CPU time of the BPF program as estimated from the agent's samples since it started.", progLabels...)
	descMemlock  = desc("bpfprof_prog_memlock_bytes", "Memory charged for the BPF program itself.", progLabels...)
	descMapsLock = desc("bpfprof_prog_maps_memlock_bytes", "Memory charged for the maps the BPF program uses (a map shared by programs counts for each).", progLabels...)
	descLoaded   = desc("bpfprof_programs_loaded", "BPF programs loaded on the host.")
	descHidden   = desc("bpfprof_programs_unexported", "Loaded BPF programs left out of the per-program series by max_programs.")
	descListErr  = desc("bpfprof_programs_list_errors_total", "Scrapes at which the BPF programs could not be listed.")
	descSamples  = desc("bpfprof_agent_samples_total", "Samples the agent received.")
	descLost     = desc("bpfprof_agent_lost_samples_total", "Samples the kernel dropped before the agent read them (lost records and lost samples).")
	descRecords  = desc("bpfprof_agent_records_total", "Perf records the agent read.")
	descProfiles = desc("bpfprof_agent_profiles_total", "Profiles the agent built, one per interval.")
	descSent     = desc("bpfprof_agent_profiles_sent_total", "Profiles a backend accepted.", "exporter")
	descDropped  = desc("bpfprof_agent_profiles_dropped_total", "Profiles given up: the backend's queue was full or every try failed.", "exporter")
	descFailures = desc("bpfprof_agent_send_failures_total", "Failed tries to send a profile.", "exporter")
	descBytes    = desc("bpfprof_agent_sent_bytes_total", "Bytes of profiles a backend accepted.", "exporter")
	descQueued   = desc("bpfprof_agent_queued_profiles", "Profiles waiting for a backend.", "exporter")
	descBuild    = desc("bpfprof_build_info", "Build of the agent: always 1.", "version", "goversion")
)

// collector is the Prometheus collector of the agent: it reads the current
// state at each scrape, so programs that unloaded are simply not there.
type collector struct {
	a *Agent
	// mu serializes scrapes: the sampled-CPU tracker takes one Delta at a
	// time.
	mu sync.Mutex
	// sampled is the sampled CPU time in ns per program since the agent
	// started, by id and tag; pruned to the loaded programs.
	sampled   map[progKey]uint64
	listErrs  uint64
	lastError string
	// maps caches the memlock of maps by id, read again every
	// mapMemlockTTL: opening every map and reading its fdinfo at each
	// scrape cost more than the rest of the scrape.
	maps   map[uint32]uint64
	mapsAt time.Time
}

// mapMemlockTTL is how long a map's memlock is taken as read. A map's
// memlock is set when it is created, and maps new since are read at once.
const mapMemlockTTL = time.Minute

type progKey struct {
	id  uint32
	tag string
}

func newCollector(a *Agent) *collector {
	return &collector{a: a, sampled: map[progKey]uint64{}, maps: map[uint32]uint64{}}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuns, descRunSecs, descRecMiss, descSampled, descMemlock, descMapsLock,
		descLoaded, descHidden, descListErr, descSamples, descLost, descRecords, descProfiles, descSent, descDropped,
		descFailures, descBytes, descQueued, descBuild} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.a
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, a.opts.Version, runtime.Version())

	st := a.state()
	if st.tracker != nil {
		addSampled(c.sampled, st.tracker.Next().Programs)
	}
	ch <- prometheus.MustNewConstMetric(descSamples, prometheus.CounterValue, float64(st.stats.Counters.Samples))
	ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(st.stats.Sampler.Lost+st.stats.Sampler.LostSamples))
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(st.stats.Sampler.Records))
	ch <- prometheus.MustNewConstMetric(descProfiles, prometheus.CounterValue, float64(a.profiles.Load()))
	for _, name := range slices.Sorted(maps.Keys(st.senders)) {
		s := st.senders[name]
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(s.Sent), name)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.Failures), name)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.Bytes), name)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued), name)
	}

	progs, err := bpfprog.List(bpfprog.ListOptions{SkipProcs: true})
	if err != nil {
		c.listErrs++
		if msg := err.Error(); msg != c.lastError {
			a.log.Error("cannot list BPF programs", "err", err)
			c.lastError = msg
		}
	}
	ch <- prometheus.MustNewConstMetric(descListErr, prometheus.CounterValue, float64(c.listErrs))
	if err != nil {
		return
	}
	loaded := make(map[progKey]bool, len(progs))
	for i := range progs {
		loaded[progKey{uint32(progs[i].ID), progs[i].Tag}] = true
	}
	for k := range c.sampled {
		if !loaded[k] {
			delete(c.sampled, k)
		}
	}
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(len(progs)))
	hidden := 0
	if len(progs) > a.cfg.MaxPrograms {
		slices.SortStableFunc(progs, func(x, y bpfprog.Program) int {
			return cmp.Compare(y.Stats.RunTime, x.Stats.RunTime)
		})
		hidden = len(progs) - a.cfg.MaxPrograms
		progs = progs[:a.cfg.MaxPrograms]
	}
	ch <- prometheus.MustNewConstMetric(descHidden, prometheus.GaugeValue, float64(hidden))
	if now := time.Now(); now.Sub(c.mapsAt) >= mapMemlockTTL {
		clear(c.maps)
		c.mapsAt = now
	}
	mapLock := mapMemlocks(c.maps, progs)
	for i := range progs {
		p := &progs[i]
		lv := []string{fmt.Sprint(p.ID), p.FullName, p.Type.String(), p.Tag, attachLabel(p.Attach)}
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(p.Stats.RunCount), lv...)
		ch <- prometheus.MustNewConstMetric(descRunSecs, prometheus.CounterValue, p.Stats.RunTime.Seconds(), lv...)
		ch <- prometheus.MustNewConstMetric(descRecMiss, prometheus.CounterValue, float64(p.Stats.RecursionMisses), lv...)
		ch <- prometheus.MustNewConstMetric(descSampled, prometheus.CounterValue, float64(c.sampled[progKey{uint32(p.ID), p.Tag}])/1e9, lv...)
		ch <- prometheus.MustNewConstMetric(descMemlock, prometheus.GaugeValue, float64(p.Memlock), lv...)
		var mapBytes uint64
		for _, id := range p.MapIDs {
			mapBytes += mapLock[id]
		}
		ch <- prometheus.MustNewConstMetric(descMapsLock, prometheus.GaugeValue, float64(mapBytes), lv...)
	}
}

// addSampled adds the sampled periods (ns of cpu-clock) of a Delta's
// programs.
func addSampled(m map[progKey]uint64, progs []aggregate.Program) {
	for _, p := range progs {
		if p.Prog == nil {
			continue
		}
		m[progKey{p.Prog.ID, p.Prog.Tag}] += p.Period
	}
}

// attachLabel describes where a program is attached, in one bounded label
// value: the first link, and how many more there are.
func attachLabel(att []bpfprog.Attach) string {
	if len(att) == 0 {
		return ""
	}
	s := att[0].Describe()
	if len(s) > maxAttachLabel {
		s = s[:maxAttachLabel]
	}
	if len(att) > 1 {
		s += fmt.Sprintf(" (+%d)", len(att)-1)
	}
	return s
}

// mapMemlocks reads into out the memlock of every map the programs use
// that out does not hold yet, from the fdinfo of a descriptor opened by id,
// and returns out. Maps that went away meanwhile, or cannot be read, count
// 0.
func mapMemlocks(out map[uint32]uint64, progs []bpfprog.Program) map[uint32]uint64 {
	for i := range progs {
		for _, id := range progs[i].MapIDs {
			if _, ok := out[id]; ok {
				continue
			}
			out[id] = mapMemlock(id)
		}
	}
	return out
}

func mapMemlock(id uint32) uint64 {
	m, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return 0
	}
	defer m.Close()
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", m.FD()))
	if err != nil {
		return 0
	}
	defer f.Close()
	info, err := bpfprog.ParseFDInfo(f)
	if err != nil || !info.HasMemlock {
		return 0
	}
	return info.Memlock
}
