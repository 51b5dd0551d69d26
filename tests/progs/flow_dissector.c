// SPDX-License-Identifier: GPL-2.0
/*
 * A flow dissector for Ethernet/IPv4/IPv6 carrying TCP or UDP, filling
 * struct bpf_flow_keys the way the kernel's own C dissector would for these
 * simple cases.
 *
 * Covers: SEC("flow_dissector"), struct bpf_flow_keys (nhoff/thoff,
 * addr_proto, ip_proto, n_proto, sport/dport, ipv4 and ipv6 addresses),
 * bpf_skb_load_bytes on a flow-dissector context, BPF_OK/BPF_DROP returns,
 * IPv4 fragment detection.
 *
 * Expected: BPF_PROG_TEST_RUN on an Ethernet/IPv4/TCP packet from
 * 10.0.0.1:1234 to 10.0.0.2:80 returns BPF_OK (0) with keys
 * {nhoff 14, thoff 34, n_proto 0x0800, ip_proto 6, sport 1234, dport 80}
 * (ports and addresses in network order); an unknown EtherType returns
 * BPF_DROP (2); a non-first IPv4 fragment sets is_frag and returns BPF_OK
 * without ports.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline int parse_ports(struct __sk_buff *skb, struct bpf_flow_keys *keys)
{
	__be16 ports[2];

	if (keys->ip_proto != IPPROTO_TCP && keys->ip_proto != IPPROTO_UDP)
		return BPF_OK;
	if (bpf_skb_load_bytes(skb, keys->thoff, ports, sizeof(ports)))
		return BPF_DROP;
	keys->sport = ports[0];
	keys->dport = ports[1];
	return BPF_OK;
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	__u16 nhoff = keys->nhoff;

	if (keys->n_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, nhoff, &ip, sizeof(ip)) || ip.ihl < 5)
			return BPF_DROP;
		keys->addr_proto = ETH_P_IP;
		keys->ipv4_src = ip.saddr;
		keys->ipv4_dst = ip.daddr;
		keys->ip_proto = ip.protocol;
		keys->thoff = nhoff + ip.ihl * 4;
		if (ip.frag_off & bpf_htons(0x3fff)) {
			keys->is_frag = 1;
			if (ip.frag_off & bpf_htons(0x1fff))
				return BPF_OK;
			keys->is_first_frag = 1;
		}
		return parse_ports(skb, keys);
	}
	if (keys->n_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, nhoff, &ip6, sizeof(ip6)))
			return BPF_DROP;
		keys->addr_proto = ETH_P_IPV6;
		__builtin_memcpy(keys->ipv6_src, &ip6.saddr, 16);
		__builtin_memcpy(keys->ipv6_dst, &ip6.daddr, 16);
		keys->ip_proto = ip6.nexthdr;
		keys->thoff = nhoff + sizeof(ip6);
		keys->flow_label = *(__be32 *)&ip6 & bpf_htonl(0x000fffff);
		return parse_ports(skb, keys);
	}
	return BPF_DROP;
}

char LICENSE[] SEC("license") = "GPL";
