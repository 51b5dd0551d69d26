// SPDX-License-Identifier: GPL-2.0
/*
 * An iproute2/tc-era object (Cilium 1.x, tc examples): `struct
 * bpf_elf_map` definitions in SEC("maps") with ids, pinning and a
 * map-in-map linked by id; the entry program in SEC("classifier"); a
 * second entry section whose type `tc filter ... sec from-netdev`
 * chooses; tail-call sections "2/1" (slot 1 of the prog array whose id
 * is 2) and "3/0" (no prog array has id 3: tc skips it). Built without
 * BTF for -mcpu=v1; from_netdev's symbol is NOTYPE and the "2/1"
 * program has no symbol at all (the manifest's `notype` and `strip`).
 *
 * Expected on one packet of length L:
 *   cls_entry: counters[0] += 1, then tail-calls "2/1", which does
 *     counters[1] += 1 and inner[0] += L (through outer slot 0) and
 *     returns TC_ACT_SHOT (2); without the tail call cls_entry returns
 *     TC_ACT_OK (0);
 *   from_netdev: counters[2] += 1; TC_ACT_SHOT above 100 bytes, else
 *     TC_ACT_OK.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_elf_map SEC("maps") jmp_map = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 4,
	.id = 2,
	.pinning = PIN_GLOBAL_NS,
	.inner_idx = -1,
};

struct bpf_elf_map SEC("maps") counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 1,
	.id = 7,
	.inner_idx = 0,
};

struct bpf_elf_map SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 2,
	.inner_id = 7,
};

static __always_inline void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &slot);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("classifier")
int cls_entry(struct __sk_buff *skb)
{
	count(0);
	bpf_tail_call(skb, &jmp_map, 1);
	return TC_ACT_OK;
}

SEC("2/1")
int tail_one(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *value;
	void *map;

	count(1);
	map = bpf_map_lookup_elem(&outer, &zero);
	if (map) {
		value = bpf_map_lookup_elem(map, &zero);
		if (value)
			__sync_fetch_and_add(value, skb->len);
	}
	return TC_ACT_SHOT;
}

SEC("3/0")
int orphan_tail(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("from-netdev")
int from_netdev(struct __sk_buff *skb)
{
	count(2);
	return skb->len > 100 ? TC_ACT_SHOT : TC_ACT_OK;
}

char __license[] SEC("license") = "GPL";
