// SPDX-License-Identifier: GPL-2.0
/*
 * TC destination NAT with checksum fix-ups: rewrites the IPv4 destination
 * address of TCP/UDP packets from `match_daddr` (10.0.0.1) to `new_daddr`
 * (10.0.0.2), and the destination port from `match_dport` (8080) to
 * `new_dport` (80), then decrements the TTL.
 *
 * Covers: SEC("tc") (BPF_PROG_TYPE_SCHED_CLS), bpf_skb_load_bytes,
 * bpf_skb_store_bytes, bpf_l3_csum_replace, bpf_l4_csum_replace with
 * BPF_F_PSEUDO_HDR, bpf_csum_diff, skb->protocol, an array counter.
 *
 * Expected: for an Ethernet/IPv4/TCP packet to 10.0.0.1:8080 with valid
 * checksums, the output packet goes to 10.0.0.2:80 with TTL one lower and
 * still-valid IPv4 and TCP checksums; returns TC_ACT_OK (0). Packets to
 * other addresses come out unchanged, TC_ACT_OK. A packet with TTL <= 1 that
 * matches is dropped: TC_ACT_SHOT (2).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_OFF ETH_HLEN
#define IP_DADDR_OFF (IP_OFF + offsetof(struct iphdr, daddr))
#define IP_TTL_OFF (IP_OFF + offsetof(struct iphdr, ttl))
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))

const volatile __u32 match_daddr = 0x0a000001; /* host order */
const volatile __u32 new_daddr = 0x0a000002;
const volatile __u16 match_dport = 8080;
const volatile __u16 new_dport = 80;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} rewritten SEC(".maps");

SEC("tc")
int tc_dnat(struct __sk_buff *skb)
{
	struct iphdr ip;
	__be32 old_addr, new_addr;
	__be16 old_port, new_port;
	__u32 l4_off, csum_off, port_off, zero = 0;
	__u16 old_ttl_word, new_ttl_word;
	__s64 diff;
	__u64 *hits;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, IP_OFF, &ip, sizeof(ip)))
		return TC_ACT_OK;
	if (ip.ihl < 5 || ip.daddr != bpf_htonl(match_daddr))
		return TC_ACT_OK;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	if (ip.ttl <= 1)
		return TC_ACT_SHOT;

	l4_off = IP_OFF + ip.ihl * 4;
	if (ip.protocol == IPPROTO_TCP) {
		csum_off = l4_off + offsetof(struct tcphdr, check);
		port_off = l4_off + offsetof(struct tcphdr, dest);
	} else {
		csum_off = l4_off + offsetof(struct udphdr, check);
		port_off = l4_off + offsetof(struct udphdr, dest);
	}

	old_addr = ip.daddr;
	new_addr = bpf_htonl(new_daddr);
	bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, BPF_F_PSEUDO_HDR | sizeof(new_addr));
	/* The IPv4 header checksum is fixed with a precomputed difference. */
	diff = bpf_csum_diff(&old_addr, sizeof(old_addr), &new_addr, sizeof(new_addr), 0);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, diff, 0);
	bpf_skb_store_bytes(skb, IP_DADDR_OFF, &new_addr, sizeof(new_addr), 0);

	if (bpf_skb_load_bytes(skb, port_off, &old_port, sizeof(old_port)))
		return TC_ACT_SHOT;
	if (old_port == bpf_htons(match_dport)) {
		new_port = bpf_htons(new_dport);
		bpf_l4_csum_replace(skb, csum_off, old_port, new_port, sizeof(new_port));
		bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0);
	}

	/* TTL shares a 16-bit checksum word with the protocol field. */
	old_ttl_word = bpf_htons((__u16)ip.ttl << 8 | ip.protocol);
	new_ttl_word = bpf_htons((__u16)(ip.ttl - 1) << 8 | ip.protocol);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ttl_word, new_ttl_word, sizeof(__u16));
	ip.ttl -= 1;
	bpf_skb_store_bytes(skb, IP_TTL_OFF, &ip.ttl, sizeof(ip.ttl), 0);

	hits = bpf_map_lookup_elem(&rewritten, &zero);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
