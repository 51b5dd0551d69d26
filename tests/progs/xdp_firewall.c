// SPDX-License-Identifier: GPL-2.0
/*
 * XDP firewall: parses Ethernet, up to two 802.1Q/802.1ad VLAN tags, IPv4 or
 * IPv6, then TCP or UDP, and decides per packet.
 *
 * Covers: SEC("xdp"), packet bounds checks, bpf_ntohs/bpf_htons, a BTF hash
 * map keyed by a struct (rule table filled from user space), a percpu_array
 * of verdict counters, `const volatile` .rodata configuration knobs.
 *
 * Expected verdicts with the default knobs and an empty rule table:
 *   - frame shorter than an Ethernet header (cannot happen in test-run)   -> XDP_ABORTED
 *   - IPv4/IPv6 TCP to port 23 (blocked_tcp_port)                         -> XDP_DROP
 *   - IPv4 with ttl <= 1 or IPv6 with hop_limit <= 1                      -> XDP_DROP
 *   - IPv4 header truncated or ihl < 5                                    -> XDP_DROP
 *   - IPv4 fragment with non-zero offset (drop_fragments = 1)             -> XDP_DROP
 *   - a packet matching a rule {proto, dport} in `rules`                  -> the rule's action
 *   - anything else (ARP, ICMP, TCP/80, UDP/53, ...)                      -> XDP_PASS
 * verdict_count[verdict] is incremented once per packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

struct rule_key {
	__u8 proto;
	__u8 pad;
	__u16 dport; /* host byte order */
};

const volatile __u16 blocked_tcp_port = 23;
const volatile __u8 drop_fragments = 1;
const volatile __u8 min_ttl = 2;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct rule_key);
	__type(value, __u32); /* an XDP action */
	__uint(max_entries, 1024);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XDP_REDIRECT + 1);
} verdict_count SEC(".maps");

static __always_inline int count(int verdict)
{
	__u32 key = verdict;
	__u64 *slot = bpf_map_lookup_elem(&verdict_count, &key);

	if (slot)
		*slot += 1;
	return verdict;
}

static __always_inline int l4_verdict(void *l4, void *data_end, __u8 proto)
{
	struct rule_key key = { .proto = proto };
	__u32 *action;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return XDP_DROP;
		key.dport = bpf_ntohs(tcp->dest);
		if (key.dport == blocked_tcp_port)
			return XDP_DROP;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return XDP_DROP;
		key.dport = bpf_ntohs(udp->dest);
	} else {
		return XDP_PASS;
	}
	action = bpf_map_lookup_elem(&rules, &key);
	if (action && *action <= XDP_REDIRECT)
		return *action;
	return XDP_PASS;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u16 proto;
	int i;

	if (cursor > data_end)
		return count(XDP_ABORTED);
	proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vlan = cursor;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > data_end)
			return count(XDP_DROP);
		proto = vlan->h_vlan_encapsulated_proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;
		__u32 hdr_len;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return count(XDP_DROP);
		hdr_len = ip->ihl * 4;
		if (cursor + hdr_len > data_end)
			return count(XDP_DROP);
		if (ip->ttl < min_ttl)
			return count(XDP_DROP);
		if (drop_fragments && (ip->frag_off & bpf_htons(0x1fff)))
			return count(XDP_DROP);
		return count(l4_verdict(cursor + hdr_len, data_end, ip->protocol));
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;

		if ((void *)(ip6 + 1) > data_end)
			return count(XDP_DROP);
		if (ip6->hop_limit < min_ttl)
			return count(XDP_DROP);
		return count(l4_verdict(ip6 + 1, data_end, ip6->nexthdr));
	}
	return count(XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
