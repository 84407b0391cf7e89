// SPDX-License-Identifier: GPL-2.0
/*
 * A socket filter that reads and writes a hash map and an array map, so
 * map helpers show up in its profile and its map IDs in its facts.
 */
#include "bpf_helpers.h"

#define HASH_ENTRIES 1024
#define ARRAY_ENTRIES 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HASH_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} bpfprof_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ARRAY_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} bpfprof_array SEC(".maps");

SEC("socket")
int bpfprof_maps(struct __sk_buff *skb)
{
	__u32 key = skb->len % HASH_ENTRIES;
	__u32 slot = skb->len % ARRAY_ENTRIES;
	__u64 one = 1;
	__u64 *count;

	count = bpf_map_lookup_elem(&bpfprof_hash, &key); /* MARK: maps-lookup */
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&bpfprof_hash, &key, &one, BPF_NOEXIST);

	count = bpf_map_lookup_elem(&bpfprof_array, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);

	return skb->len;
}

char _license[] SEC("license") = "GPL";
