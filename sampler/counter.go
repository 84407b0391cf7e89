package sampler

import "github.com/bpfprof/bpfprof/internal/perfabi"

// OpenCounter opens e as a counting event (no sampling, no ring) on every
// process of one CPU and returns its file descriptor, enabled. Its count is
// what BPF programs read with bpf_perf_event_read_value from a
// BPF_MAP_TYPE_PERF_EVENT_ARRAY (bpfprof stat's exact counters). Needs
// CAP_PERFMON (or root); an event the machine lacks gives an error wrapping
// ErrNotSupported, a missing privilege one wrapping ErrPermission.
func OpenCounter(e Event, cpu int) (int, error) {
	attr := e.attr()
	fd, err := perfabi.Open(&attr, -1, cpu, -1, 0)
	if err != nil {
		return -1, openError(e, cpu, &Options{}, err)
	}
	return fd, nil
}
