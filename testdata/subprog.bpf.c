// SPDX-License-Identifier: GPL-2.0
/*
 * An XDP program that spends most of its time in a BPF-to-BPF subprogram:
 * two functions in BTF, two JIT images, two symbols in kallsyms.
 */
#include "bpf_helpers.h"

#define SUB_ITERATIONS 256

/*
 * noinline keeps it a separate BPF function; the length argument comes from
 * the packet so clang cannot specialise the call away.
 */
static __noinline __u32 bpfprof_xdp_sub(__u32 len)
{
	__u32 acc = len;
	__u32 i;

	/*
	 * The whole loop, header included, sits on the marked line so every
	 * instruction of it carries that line. It stays rolled: a few
	 * instructions run hundreds of times, not a long straight run.
	 */
#pragma clang loop unroll(disable)
	for (i = 0; i < SUB_ITERATIONS; i++) acc = (acc + i) * 40503u ^ (acc >> 5); /* MARK: sub-hot */

	return acc;
}

SEC("xdp")
int bpfprof_xdp_main(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	/* Depending on the result keeps clang from deleting the call. */
	if (bpfprof_xdp_sub(len) == 0)
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
