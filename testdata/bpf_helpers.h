/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few definitions bpfprof's test programs need, so that building them
 * takes clang alone: no kernel or libbpf headers.
 */
#ifndef BPFPROF_BPF_HELPERS_H
#define BPFPROF_BPF_HELPERS_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;

/* Place a program or variable in the ELF section the loader expects. */
#define SEC(name) __attribute__((section(name), used))

#define __noinline __attribute__((noinline))
#define __always_inline inline __attribute__((always_inline))

/*
 * BTF-defined maps: the loader reads a map's type, size and limits from the
 * BTF of the pointer members of its definition.
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* Map types (enum bpf_map_type). */
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6

/* Flags of bpf_map_update_elem. */
#define BPF_ANY 0
#define BPF_NOEXIST 1

/* XDP verdicts (enum xdp_action). */
#define XDP_DROP 1
#define XDP_PASS 2

/* Context of socket filters: only the leading fields the programs read. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
};

/* Context of XDP programs: only the leading fields the programs read. */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
};

/* Helpers, called through their numbers in enum bpf_func_id. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key,
				   const void *value, __u64 flags) = (void *)2;
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;

#endif /* BPFPROF_BPF_HELPERS_H */
