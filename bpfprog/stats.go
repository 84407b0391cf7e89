package bpfprog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// statsSysctl is the sysctl that turns BPF run-time statistics on for good.
const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// Stats keeps the kernel's BPF run-time statistics (run time, run count) on
// while it is open, through a BPF_ENABLE_STATS file descriptor: the kernel
// turns them off again when the last such fd closes, even if the process
// crashes. It also takes snapshots of every program's counters.
type Stats struct {
	closer  io.Closer
	already bool
}

// OpenStats enables BPF run-time statistics until Close. If the
// kernel.bpf_stats_enabled sysctl is already on, it is left on and
// AlreadyEnabled reports it. Requires CAP_SYS_ADMIN and Linux 5.8.
func OpenStats() (*Stats, error) {
	already := false
	if raw, err := os.ReadFile(statsSysctl); err == nil {
		already = string(bytes.TrimSpace(raw)) != "0"
	}
	closer, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return nil, errs.New(ErrPermission, "enabling BPF run-time stats needs CAP_SYS_ADMIN: run as root")
	case errors.Is(err, unix.EINVAL), errors.Is(err, ebpf.ErrNotSupported):
		return nil, fmt.Errorf("enabling BPF run-time stats (BPF_ENABLE_STATS, Linux 5.8): %w", ErrNotSupported)
	case err != nil:
		return nil, fmt.Errorf("enabling BPF run-time stats: %w", err)
	}
	return &Stats{closer: closer, already: already}, nil
}

// AlreadyEnabled reports whether the kernel.bpf_stats_enabled sysctl was on
// when OpenStats ran: then counters include runs from before, and stats stay
// on after Close. (The sysctl does not show BPF_ENABLE_STATS fds that other
// processes hold.)
func (s *Stats) AlreadyEnabled() bool { return s.already }

// Close lets the kernel turn statistics off again, unless someone else
// keeps them on.
func (s *Stats) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.closer = nil
	return err
}

// Sample is one program's counters at one moment.
type Sample struct {
	ID ID
	// LoadTime is when the program was loaded, in ns on CLOCK_BOOTTIME: it
	// tells a program from a later one that reuses its ID.
	LoadTime int64
	// Time is when the counters were read, in ns on CLOCK_BOOTTIME.
	Time int64
	RunStats
}

// Snapshot holds the counters of every program at one moment.
type Snapshot struct {
	// Time is when the snapshot began, in ns on CLOCK_BOOTTIME (a
	// monotonic clock that also counts suspend).
	Time int64
	// Samples are sorted by ID.
	Samples []Sample
}

// Snapshot reads the counters of every loaded program: one cheap
// BPF_OBJ_GET_INFO_BY_FD per program, for live views that sample often.
// Requires CAP_SYS_ADMIN.
func (s *Stats) Snapshot() (*Snapshot, error) {
	clock := newBootClock()
	snap := &Snapshot{Time: clock.now()}
	var info bpfabi.ProgInfo
	err := forEachProgram(func(fd int) error {
		info = bpfabi.ProgInfo{}
		err := bpfabi.ObjInfo(fd, unsafe.Pointer(&info), unsafe.Sizeof(info))
		closeFD(fd)
		if err != nil {
			return kernelError("reading BPF program stats", err)
		}
		snap.Samples = append(snap.Samples, Sample{
			ID:       ID(info.ID),
			LoadTime: int64(info.LoadTime),
			Time:     clock.now(),
			RunStats: RunStats{
				RunTime:         time.Duration(info.RunTimeNs),
				RunCount:        info.RunCnt,
				RecursionMisses: info.RecursionMisses,
			},
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// SnapshotOf makes a snapshot from a listing: the counters List read, with
// the time it read each program.
func SnapshotOf(progs []Program) *Snapshot {
	snap := &Snapshot{Samples: make([]Sample, 0, len(progs))}
	for i := range progs {
		p := &progs[i]
		if snap.Time == 0 || p.readAt < snap.Time {
			snap.Time = p.readAt
		}
		snap.Samples = append(snap.Samples, Sample{ID: p.ID, LoadTime: p.loadTime, Time: p.readAt, RunStats: p.Stats})
	}
	if snap.Time == 0 {
		snap.Time = bootTime()
	}
	slices.SortFunc(snap.Samples, func(a, b Sample) int { return cmp.Compare(a.ID, b.ID) })
	return snap
}

// Rate is one program's activity between two snapshots.
type Rate struct {
	ID ID
	// New: the program appeared after the first snapshot; its counters
	// count from its load. Gone: it was unloaded before the second, and
	// the numbers below are zero.
	New, Gone bool
	// Period is the time the rates are over: between the two readings of
	// the program, or from its load for a new one.
	Period time.Duration
	// Runs, RunTime and RecursionMisses are the increase of the counters.
	Runs            uint64
	RunTime         time.Duration
	RecursionMisses uint64
	// RunsPerSec is Runs over Period.
	RunsPerSec float64
	// AvgRunNs is the average duration of one run in the period, in ns; 0
	// without runs.
	AvgRunNs float64
	// CPUPercent is RunTime over Period in percent: 100 is one CPU busy
	// the whole time.
	CPUPercent float64
}

// Delta computes the activity of each program between snapshots prev and
// cur, sorted by ID: programs in both, programs new in cur (counted from
// their load, or from prev.Time if loaded before it), and programs gone from
// cur. A nil prev counts every program from its load. Pure: it reads no
// clock.
func Delta(prev, cur *Snapshot) []Rate {
	var before []Sample
	var start int64
	if prev != nil {
		before, start = prev.Samples, prev.Time
	}
	var after []Sample
	if cur != nil {
		after = cur.Samples
	}
	rates := make([]Rate, 0, len(after))
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && before[i].ID < after[j].ID):
			rates = append(rates, Rate{ID: before[i].ID, Gone: true})
			i++
		case i == len(before) || after[j].ID < before[i].ID:
			rates = append(rates, fresh(after[j], start))
			j++
		default:
			p, c := before[i], after[j]
			i++
			j++
			if p.LoadTime != c.LoadTime || c.RunCount < p.RunCount || c.RunTime < p.RunTime {
				// The ID was reused by a new program.
				rates = append(rates, Rate{ID: p.ID, Gone: true}, fresh(c, start))
				continue
			}
			rates = append(rates, rate(c.ID, time.Duration(c.Time-p.Time), c.RunStats, p.RunStats))
		}
	}
	return rates
}

// fresh is the rate of a program absent from the first snapshot, which
// began at start.
func fresh(s Sample, start int64) Rate {
	r := rate(s.ID, time.Duration(s.Time-max(start, s.LoadTime)), s.RunStats, RunStats{})
	r.New = true
	return r
}

func rate(id ID, period time.Duration, cur, prev RunStats) Rate {
	r := Rate{
		ID:              id,
		Period:          max(period, 0),
		Runs:            cur.RunCount - prev.RunCount,
		RunTime:         cur.RunTime - prev.RunTime,
		RecursionMisses: cur.RecursionMisses - min(prev.RecursionMisses, cur.RecursionMisses),
	}
	if r.Runs > 0 {
		r.AvgRunNs = float64(r.RunTime.Nanoseconds()) / float64(r.Runs)
	}
	if r.Period > 0 {
		r.RunsPerSec = float64(r.Runs) / r.Period.Seconds()
		r.CPUPercent = 100 * float64(r.RunTime) / float64(r.Period)
	}
	return r
}

// Rates returns the activity of the programs still loaded in cur since
// prev (Delta without the programs gone), by ID: the RUNS/s, AVG ns and CPU%
// columns of list, stat and top.
func Rates(prev, cur *Snapshot) map[ID]Rate {
	rates := make(map[ID]Rate)
	for _, r := range Delta(prev, cur) {
		if !r.Gone {
			rates[r.ID] = r
		}
	}
	return rates
}
