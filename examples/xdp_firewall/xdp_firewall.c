// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_firewall: drop IPv4 packets whose source address lies in a block list
 * of prefixes, count the hits of every rule, pass everything else.
 *
 * The block list is an LPM trie filled from user space: key = prefix length
 * + IPv4 address, value = a rule id. The trie answers "which is the longest
 * listed prefix containing this address" in one lookup, so overlapping
 * rules (a /24 and a /26 inside it) work without ordering them by hand.
 * rule_hits keeps packets and bytes per rule id.
 *
 * Verdicts:
 *   - IPv4 (possibly inside one or two 802.1Q/802.1ad tags) whose source
 *     matches a prefix of `blocklist`             -> XDP_DROP (1), rule_hits[id] += 1
 *   - IPv4 whose header is truncated or ihl < 5   -> XDP_DROP (it cannot be checked)
 *   - a frame with a truncated VLAN tag           -> XDP_DROP
 *   - anything else (unlisted IPv4, IPv6, ARP)    -> XDP_PASS (2)
 * The packet itself is never modified.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define MAX_VLAN_TAGS 2

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/*
 * The LPM trie's key layout is fixed by the kernel: a u32 prefix length in
 * host order, then the address bytes most significant first (an IPv4
 * address in network order is exactly that).
 */
struct ipv4_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct rule_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipv4_lpm_key);
	__type(value, __u32); /* rule id */
	__uint(max_entries, 4096);
	/* The kernel refuses LPM tries without BPF_F_NO_PREALLOC: trie nodes
	 * are allocated on insert. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* rule id */
	__type(value, struct rule_stats);
	__uint(max_entries, 4096);
} rule_hits SEC(".maps");

static __always_inline void count_hit(__u32 rule_id, __u64 bytes)
{
	struct rule_stats first = { .packets = 1, .bytes = bytes };
	struct rule_stats *stats = bpf_map_lookup_elem(&rule_hits, &rule_id);

	if (stats) {
		/* Several CPUs may hit the same rule at once: add atomically. */
		__sync_fetch_and_add(&stats->packets, 1);
		__sync_fetch_and_add(&stats->bytes, bytes);
		return;
	}
	/* First hit of this rule. BPF_NOEXIST loses a race against another CPU
	 * inserting the same id; then its entry exists and we add to it. */
	if (bpf_map_update_elem(&rule_hits, &rule_id, &first, BPF_NOEXIST) == 0)
		return;
	stats = bpf_map_lookup_elem(&rule_hits, &rule_id);
	if (stats) {
		__sync_fetch_and_add(&stats->packets, 1);
		__sync_fetch_and_add(&stats->bytes, bytes);
	}
}

static __always_inline int is_vlan_tpid(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Moves *cursor past up to MAX_VLAN_TAGS tags and returns the EtherType
 * behind them, or 0 when a tag is cut off by the end of the frame. */
static __always_inline __be16 skip_vlan_tags(void **cursor, void *data_end, __be16 proto)
{
	struct vlan_hdr *vlan;
	int depth;

#pragma unroll
	for (depth = 0; depth < MAX_VLAN_TAGS && is_vlan_tpid(proto); depth++) {
		vlan = *cursor;
		if ((void *)(vlan + 1) > data_end)
			return 0;
		proto = vlan->encapsulated_proto;
		*cursor = vlan + 1;
	}
	return proto;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	struct ipv4_lpm_key key = { .prefixlen = 32 };
	struct iphdr *ip;
	__u32 *rule_id;
	__be16 proto;

	if (cursor > data_end)
		return XDP_DROP;
	/* Blocked hosts must not slip through inside a VLAN (or QinQ) tag. */
	proto = skip_vlan_tags(&cursor, data_end, eth->h_proto);
	if (!proto)
		return XDP_DROP;

	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = cursor;
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return XDP_DROP;

	__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
	rule_id = bpf_map_lookup_elem(&blocklist, &key);
	if (!rule_id)
		return XDP_PASS;
	count_hit(*rule_id, data_end - data);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
