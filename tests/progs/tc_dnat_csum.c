// SPDX-License-Identifier: GPL-2.0
/*
 * A Cilium-style service DNAT on tc: an Ethernet/IPv4/TCP packet to a
 * {address, port} of the `services` hash is rewritten to the backend's
 * address and port with the checksums fixed up by the kernel's helpers,
 * then redirected to the backend's interface when it names one. A second
 * program pads short frames to 64 bytes, trims trailing bytes past the IP
 * length, and inserts 8 bytes of IP options room into large UDP packets.
 *
 * Covers: direct packet access on SEC("tc") with one bounds check for three
 * headers, bpf_l4_csum_replace (with BPF_F_PSEUDO_HDR), bpf_l3_csum_replace,
 * bpf_skb_store_bytes, packet pointers reloaded after helpers that
 * invalidate them, bpf_redirect, bpf_skb_load_bytes into a stack struct,
 * bpf_skb_change_tail, bpf_skb_adjust_room(BPF_ADJ_ROOM_NET),
 * bpf_skb_pull_data, skb->mark/tc_classid writes, a per-CPU array of drop
 * reasons.
 *
 * Expected for a TC test-run with `services` empty: dnat returns TC_ACT_OK
 * (0) and leaves the packet alone; pad_and_trim grows a 60-byte frame to
 * 64 bytes and returns TC_ACT_OK.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define TCP_CSUM_OFF (ETH_HLEN + sizeof(struct iphdr) + offsetof(struct tcphdr, check))
#define TCP_DPORT_OFF (ETH_HLEN + sizeof(struct iphdr) + offsetof(struct tcphdr, dest))

struct svc_key { __u32 addr; __u16 port; __u16 pad; };
struct backend { __u32 addr; __u16 port; __u16 pad; __u32 ifindex; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, struct svc_key); __type(value, struct backend); __uint(max_entries, 1024); } services SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 8); } drops SEC(".maps");

static __always_inline void drop_reason(__u32 r)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &r);
	if (c)
		*c += 1;
}

SEC("tc")
int dnat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;
	struct tcphdr *th;
	struct svc_key key = {};
	struct backend *be;
	__u32 old_addr, new_addr;
	__u16 old_port, new_port;

	if (data + ETH_HLEN + sizeof(*iph) + sizeof(*th) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || iph->protocol != IPPROTO_TCP || iph->ihl != 5)
		return TC_ACT_OK;
	th = (void *)(iph + 1);
	key.addr = iph->daddr;
	key.port = th->dest;
	be = bpf_map_lookup_elem(&services, &key);
	if (!be)
		return TC_ACT_OK;
	old_addr = iph->daddr;
	new_addr = be->addr;
	old_port = th->dest;
	new_port = be->port;
	if (bpf_l4_csum_replace(skb, TCP_CSUM_OFF, old_addr, new_addr, BPF_F_PSEUDO_HDR | sizeof(new_addr)) < 0 ||
	    bpf_l4_csum_replace(skb, TCP_CSUM_OFF, old_port, new_port, sizeof(new_port)) < 0 ||
	    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)) < 0) {
		drop_reason(0);
		return TC_ACT_SHOT;
	}
	if (bpf_skb_store_bytes(skb, IP_DST_OFF, &new_addr, sizeof(new_addr), 0) ||
	    bpf_skb_store_bytes(skb, TCP_DPORT_OFF, &new_port, sizeof(new_port), 0)) {
		drop_reason(1);
		return TC_ACT_SHOT;
	}
	/* the helpers above invalidate packet pointers: reload before reading */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	iph = data + ETH_HLEN;
	if ((void *)(iph + 1) > data_end)
		return TC_ACT_SHOT;
	if (iph->ttl <= 1) {
		drop_reason(2);
		return TC_ACT_SHOT;
	}
	if (be->ifindex)
		return bpf_redirect(be->ifindex, 0);
	return TC_ACT_OK;
}

SEC("tc")
int pad_and_trim(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	struct iphdr iph;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)) < 0)
		return TC_ACT_OK;
	if (len < 64) {
		if (bpf_skb_change_tail(skb, 64, 0))
			return TC_ACT_SHOT;
	} else if (len > ETH_HLEN + bpf_ntohs(iph.tot_len) + 64) {
		if (bpf_skb_change_tail(skb, ETH_HLEN + bpf_ntohs(iph.tot_len), 0))
			return TC_ACT_SHOT;
	}
	if (iph.protocol == IPPROTO_UDP && skb->len > 200) {
		if (bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0))
			return TC_ACT_SHOT;
		if (bpf_skb_pull_data(skb, ETH_HLEN + sizeof(iph) + 8))
			return TC_ACT_SHOT;
		void *data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;
		__u8 *opt = data + ETH_HLEN + sizeof(iph);
		if ((void *)(opt + 8) > data_end)
			return TC_ACT_SHOT;
		__builtin_memset(opt, 0x01, 8);
	}
	skb->mark = skb->hash & 0xff;
	skb->tc_classid = 0x10001;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
