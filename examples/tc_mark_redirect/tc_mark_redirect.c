// SPDX-License-Identifier: GPL-2.0
/*
 * tc_mark_redirect: a tc classifier that tags traffic for the rest of the
 * stack and steers some of it to another interface.
 *
 * Each rule matches a transport protocol and destination port (IPv4 or
 * IPv6, one 802.1Q tag allowed) and sets:
 *   - skb->mark: read by iptables/nftables (`meta mark`), policy routing
 *     (`ip rule fwmark`) and later tc filters;
 *   - skb->priority: selects the qdisc band / class on egress (the values
 *     are the kernel's TC_PRIO_* numbers);
 *   - optionally an interface to redirect the packet to with bpf_redirect
 *     (the egress path of that ifindex, e.g. a monitoring or tunnel device).
 * The first matching rule wins. Rules are `.rodata` configuration a loader
 * may rewrite before loading; defaults:
 *   TCP 22   -> mark 0x16,  priority 6 (TC_PRIO_INTERACTIVE)
 *   UDP 53   -> mark 0x35,  priority 6
 *   TCP 443  -> mark 0x1bb, priority 0, redirect to ifindex 4
 *   UDP 4789 -> mark 0x12b5, priority 2 (TC_PRIO_BULK), redirect to ifindex 5
 * rule_hits[rule index] counts matches.
 *
 * Return values: TC_ACT_REDIRECT (7) when the matching rule redirects,
 * TC_ACT_OK (0) otherwise (matched or not). The packet bytes are never
 * changed; unmatched packets keep their mark and priority.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RULES 8

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct rule {
	__u8 proto;       /* IPPROTO_TCP / IPPROTO_UDP; 0 ends the table */
	__u8 pad;
	__u16 dport;      /* host order */
	__u32 mark;
	__u32 priority;
	__u32 redirect_ifindex; /* 0: do not redirect */
};

const volatile struct rule rules[MAX_RULES] = {
	{ .proto = IPPROTO_TCP, .dport = 22, .mark = 0x16, .priority = 6 },
	{ .proto = IPPROTO_UDP, .dport = 53, .mark = 0x35, .priority = 6 },
	{ .proto = IPPROTO_TCP, .dport = 443, .mark = 0x1bb, .priority = 0, .redirect_ifindex = 4 },
	{ .proto = IPPROTO_UDP, .dport = 4789, .mark = 0x12b5, .priority = 2, .redirect_ifindex = 5 },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32); /* rule index */
	__type(value, __u64);
	__uint(max_entries, MAX_RULES);
} rule_hits SEC(".maps");

/* Finds the transport protocol and the offset of its header; returns 0 for
 * packets that are not IPv4/IPv6 or are too short. */
static __always_inline __u8 transport(struct __sk_buff *skb, __u32 *l4_off)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__be16 proto;

	if (l3 > data_end)
		return 0;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > data_end)
			return 0;
		proto = vlan->encapsulated_proto;
		l3 = vlan + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return 0;
		/* Later fragments have no ports to match. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;
		*l4_off = l3 - data + ip->ihl * 4;
		return ip->protocol;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		*l4_off = (void *)(ip6 + 1) - data;
		return ip6->nexthdr;
	}
	return 0;
}

SEC("tc")
int mark_redirect(struct __sk_buff *skb)
{
	__u32 l4_off = 0;
	__u8 proto = transport(skb, &l4_off);
	__be16 dport_be;
	__u16 dport;
	__u64 *hits;
	__u32 i;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return TC_ACT_OK;
	/* TCP and UDP both keep the destination port at offset 2. Loading it
	 * with a helper avoids a variable-offset packet bounds check. */
	if (bpf_skb_load_bytes(skb, l4_off + 2, &dport_be, sizeof(dport_be)))
		return TC_ACT_OK;
	dport = bpf_ntohs(dport_be);

#pragma unroll
	for (i = 0; i < MAX_RULES; i++) {
		if (rules[i].proto == 0)
			break;
		if (rules[i].proto != proto || rules[i].dport != dport)
			continue;
		skb->mark = rules[i].mark;
		skb->priority = rules[i].priority;
		hits = bpf_map_lookup_elem(&rule_hits, &i);
		if (hits)
			__sync_fetch_and_add(hits, 1);
		if (rules[i].redirect_ifindex)
			return bpf_redirect(rules[i].redirect_ifindex, 0);
		return TC_ACT_OK;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
