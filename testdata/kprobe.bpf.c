// SPDX-License-Identifier: GPL-2.0
/*
 * A kprobe on __do_sys_getpid, a kernel function present in BTF (the
 * __x64_sys_* wrappers are not): every getpid(2) runs it. It counts the
 * calls in slot 0 of bpfprof_getpid_calls and burns its time on the line
 * marked "kprobe-hot", so 'bpfprof record' has a line to find. Kprobes are
 * compiled out of some kernels: tests attach it in the 'make test-kernels'
 * guest.
 */
#include "bpf_helpers.h"

#define KPROBE_ITERATIONS 256

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bpfprof_getpid_calls SEC(".maps");

SEC("kprobe/__do_sys_getpid")
int bpfprof_getpid_kprobe(void *ctx)
{
	__u32 key = 0;
	__u64 *count;
	__u64 acc;
	__u32 i;

	count = bpf_map_lookup_elem(&bpfprof_getpid_calls, &key);
	if (!count)
		return 0;
	acc = __sync_fetch_and_add(count, 1);

	/* As in hot.bpf.c: the whole rolled loop on the marked line. */
#pragma clang loop unroll(disable)
	for (i = 0; i < KPROBE_ITERATIONS; i++) acc = (acc ^ i) * 2654435761u + (acc >> 7); /* MARK: kprobe-hot */

	return acc & 1;
}

char _license[] SEC("license") = "GPL";
