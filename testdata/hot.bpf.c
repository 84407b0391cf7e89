// SPDX-License-Identifier: GPL-2.0
/*
 * A socket filter that burns its time on one source line, the one marked
 * "MARK: hot", so profiler tests know where samples must land. Its name is
 * longer than the kernel's 15 characters: the kernel keeps a truncated name,
 * BTF the full one.
 */
#include "bpf_helpers.h"

#define HOT_ITERATIONS 512

SEC("socket")
int bpfprof_hot_loop_socket(struct __sk_buff *skb)
{
	/* Seeded from the packet so the compiler cannot fold the loop away. */
	__u32 acc = skb->len;
	__u32 i;

	/*
	 * The whole loop, header included, sits on the marked line so every
	 * instruction of it carries that line. It stays rolled: a few
	 * instructions run hundreds of times, not a long straight run.
	 */
#pragma clang loop unroll(disable)
	for (i = 0; i < HOT_ITERATIONS; i++) acc = (acc ^ i) * 2654435761u + (acc >> 7); /* MARK: hot */

	/*
	 * A verdict of at least the packet length keeps the whole packet; the
	 * low bit of acc only keeps the loop's result live.
	 */
	return skb->len | (acc & 1);
}

char _license[] SEC("license") = "GPL";
