// SPDX-License-Identifier: GPL-2.0
/*
 * Maps of maps with inner map templates and initial contents: a per-tenant
 * array-of-maps and a hash-of-maps keyed by VLAN id, both pre-populated at
 * load time by libbpf from `.values = { [i] = &inner }`.
 *
 * Covers: BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS with
 * __array(values, struct inner_def) (inner map definition from BTF),
 * initial inner-map slots (relocations in .maps against inner maps),
 * two-level lookups in a program, SEC("tc").
 *
 * Expected for a TC test-run of an untagged frame: tenants[0] is
 * tenant_a_stats, so tenant_a_stats[0] += 1 and the program returns
 * TC_ACT_OK (0); tenants[1] is tenant_b_stats; slot 2 is empty. by_vlan
 * starts with {10 -> vlan10_stats}; for a frame with skb->vlan_tci 10 the
 * program also bumps vlan10_stats[0].
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct stats_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};

struct stats_array tenant_a_stats SEC(".maps");
struct stats_array tenant_b_stats SEC(".maps");
struct stats_array vlan10_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 3);
	__array(values, struct stats_array);
} tenants SEC(".maps") = {
	.values = { [0] = &tenant_a_stats, [1] = &tenant_b_stats },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 16);
	__array(values, struct stats_array);
} by_vlan SEC(".maps") = {
	.values = { [10] = &vlan10_stats },
};

static __always_inline void bump_inner(void *inner)
{
	__u32 zero = 0;
	__u64 *count;

	if (!inner)
		return;
	count = bpf_map_lookup_elem(inner, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
}

SEC("tc")
int count_per_tenant(struct __sk_buff *skb)
{
	__u32 tenant = skb->mark < 3 ? skb->mark : 0;
	__u32 vlan = skb->vlan_tci & 0x0fff;

	bump_inner(bpf_map_lookup_elem(&tenants, &tenant));
	bump_inner(bpf_map_lookup_elem(&by_vlan, &vlan));
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
