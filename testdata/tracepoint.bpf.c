// SPDX-License-Identifier: GPL-2.0
/*
 * Counts every system call on the machine, so ordinary system activity
 * drives a real attached program. Slot 0 of bpfprof_calls holds the count.
 */
#include "bpf_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bpfprof_calls SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int bpfprof_sys_enter(void *ctx)
{
	__u32 key = 0;
	__u64 *count;

	count = bpf_map_lookup_elem(&bpfprof_calls, &key); /* MARK: count */
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
