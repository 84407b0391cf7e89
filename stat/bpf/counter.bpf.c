// SPDX-License-Identifier: GPL-2.0
/*
 * Exact per-program counters for 'bpfprof stat', in the manner of bpftool's
 * profiler skeleton: an fentry and an fexit program on one target BPF
 * program read the per-CPU perf counters in the 'events' array at entry and
 * exit and add the difference, per CPU, to 'totals'. fexit also counts runs
 * and, when 'latency' is set, puts the run's duration into a log2 histogram.
 *
 * One copy of this object is loaded per target program (fentry and fexit
 * name their target at load time); the event arrays are shared by all of
 * them. Event i of CPU c is events_<i>[c]: one array per event, as loaders
 * clamp a perf event array to the number of CPUs.
 */
#include "../../testdata/bpf_helpers.h"

#define MAX_EVENTS 4
#define HIST_BUCKETS 64

#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_F_CURRENT_CPU 0xffffffffULL

/* Must match struct bpf_perf_event_value. */
struct bpf_perf_event_value {
	__u64 counter;
	__u64 enabled;
	__u64 running;
};

static long (*bpf_perf_event_read_value)(void *map, __u64 flags,
					 struct bpf_perf_event_value *buf,
					 __u32 size) = (void *)55;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;

/* Set by the loader before loading. */
const volatile __u32 num_events = 0;
const volatile __u32 latency = 0;

#define EVENT_ARRAY(name)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);	\
		__uint(key_size, sizeof(__u32));		\
		__uint(value_size, sizeof(__u32));		\
	} name SEC(".maps")

EVENT_ARRAY(events_0);
EVENT_ARRAY(events_1);
EVENT_ARRAY(events_2);
EVENT_ARRAY(events_3);

/* The array of event i; i is a constant once the loops are unrolled. */
static __always_inline void *event_array(__u32 i)
{
	switch (i) {
	case 0:
		return &events_0;
	case 1:
		return &events_1;
	case 2:
		return &events_2;
	}
	return &events_3;
}

/* Counter readings at entry of the run in progress, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_EVENTS);
	__type(key, __u32);
	__type(value, struct bpf_perf_event_value);
} starts SEC(".maps");

/* Sums of exit minus entry readings, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_EVENTS);
	__type(key, __u32);
	__type(value, struct bpf_perf_event_value);
} totals SEC(".maps");

/*
 * Slot 0: runs seen by fexit; slot 1: start time (ns) of the run in progress;
 * slot 2: readings that failed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

/*
 * Bucket i counts the runs whose duration d in ns has floor(log2(d)) == i,
 * per CPU; one entry, so that user space reads it in one lookup.
 */
struct hist {
	__u64 buckets[HIST_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hist SEC(".maps");

static __always_inline __u32 log2u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += 1;
}

SEC("fentry/target")
int bpfprof_stat_entry(void *ctx)
{
	__u32 i;

#pragma clang loop unroll(full)
	for (i = 0; i < MAX_EVENTS; i++) {
		struct bpf_perf_event_value *start;
		__u32 key = i;

		if (i >= num_events)
			break;
		start = bpf_map_lookup_elem(&starts, &key);
		if (!start)
			continue;
		if (bpf_perf_event_read_value(event_array(i), BPF_F_CURRENT_CPU,
					      start, sizeof(*start)))
			start->enabled = 0;
	}
	if (latency) {
		__u32 key = 1;
		__u64 *t = bpf_map_lookup_elem(&runs, &key);

		if (t)
			*t = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("fexit/target")
int bpfprof_stat_exit(void *ctx)
{
	__u64 now = latency ? bpf_ktime_get_ns() : 0;
	__u32 i;

#pragma clang loop unroll(full)
	for (i = 0; i < MAX_EVENTS; i++) {
		struct bpf_perf_event_value cur, *start, *total;
		__u32 key = i;

		if (i >= num_events)
			break;
		start = bpf_map_lookup_elem(&starts, &key);
		total = bpf_map_lookup_elem(&totals, &key);
		if (!start || !total)
			continue;
		if (start->enabled == 0 ||
		    bpf_perf_event_read_value(event_array(i), BPF_F_CURRENT_CPU,
					      &cur, sizeof(cur))) {
			bump(&runs, 2);
			continue;
		}
		total->counter += cur.counter - start->counter;
		total->enabled += cur.enabled - start->enabled;
		total->running += cur.running - start->running;
	}
	bump(&runs, 0);
	if (latency) {
		__u32 key = 1, zero = 0;
		__u64 *t = bpf_map_lookup_elem(&runs, &key);
		struct hist *h = bpf_map_lookup_elem(&hist, &zero);

		/* A run shorter than the clock's step lands in bucket 0. */
		if (t && *t && now >= *t && h)
			h->buckets[log2u64((now - *t) | 1) & (HIST_BUCKETS - 1)]++;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
