// SPDX-License-Identifier: GPL-2.0
/*
 * The pre-BTF map definition style: `struct bpf_map_def` instances in
 * SEC("maps"), as in old samples/bpf and iproute2 programs. The struct is
 * defined here because libbpf >= 1.0 removed it from bpf_helpers.h; libbpf
 * >= 1.0 also refuses the section, so this object only serves loaders that
 * still accept it (the definitions are plain data: type, key_size,
 * value_size, max_entries, map_flags at 4-byte strides).
 *
 * Covers: SEC("maps") legacy definitions (hash, array, percpu_array),
 * map relocations against symbols in "maps", SEC("socket").
 *
 * Expected: each test-run of a packet adds skb->len to bytes_by_proto
 * {skb->protocol} and increments packets[0]; returns skb->len (keep all).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") bytes_by_proto = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") packets = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

struct bpf_map_def SEC("maps") scratch = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 64,
	.max_entries = 1,
	.map_flags = 0,
};

SEC("socket")
int legacy_count(struct __sk_buff *skb)
{
	__u32 proto = skb->protocol, zero = 0;
	__u64 len = skb->len, *value;

	value = bpf_map_lookup_elem(&bytes_by_proto, &proto);
	if (value)
		__sync_fetch_and_add(value, len);
	else
		bpf_map_update_elem(&bytes_by_proto, &proto, &len, BPF_NOEXIST);
	value = bpf_map_lookup_elem(&packets, &zero);
	if (value)
		__sync_fetch_and_add(value, 1);
	value = bpf_map_lookup_elem(&scratch, &zero);
	if (value)
		*value = len;
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
