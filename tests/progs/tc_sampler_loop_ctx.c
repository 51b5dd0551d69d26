// SPDX-License-Identifier: GPL-2.0
/*
 * Packet sampling and header checks in the style of tcpdump-like samplers
 * and pwru: a tc program sends each packet's length and protocol plus up
 * to 128 bytes of the packet to a perf buffer, copies 64 bytes from the
 * network header, and has a bpf_loop callback add a header byte to a
 * 64-slot per-CPU histogram it reaches through a map value pointer kept in
 * its context struct; an XDP program checksums the IPv4 header it copied
 * with bpf_xdp_load_bytes (folding bpf_csum_diff's sum); a second tc program pulls the headers into the
 * linear part before reading them directly.
 *
 * Covers: bpf_perf_event_output with BPF_F_CURRENT_CPU | (len << 32) (the
 * packet appended by the kernel), bpf_skb_load_bytes_relative
 * (BPF_HDR_START_NET), bpf_printk with three arguments, bpf_loop whose
 * callback dereferences a map value pointer read from the caller's stack
 * through its context, bpf_xdp_get_buff_len, bpf_xdp_load_bytes,
 * bpf_csum_diff of a variable length bounded by a conditional,
 * bpf_skb_pull_data then packet pointers reloaded.
 *
 * Expected for test runs: sample_packets returns 0 (TC_ACT_OK) and adds
 * the packet's IPv4 protocol byte (byte 9 from the network header) to all
 * 64 histogram slots of the CPU; frag_parse returns XDP_PASS (2) for a
 * frame with a valid IPv4 header checksum and at least 54 bytes,
 * XDP_DROP (1) for a corrupt one; pull_then_read returns 2 (TC_ACT_SHOT)
 * for ICMP and 0 otherwise.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } pkts SEC(".maps");
struct hist { __u64 slots[64]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32); __type(value, struct hist); __uint(max_entries, 1); } h SEC(".maps");
struct meta { __u16 len; __u16 proto; };

struct fill_ctx { struct hist *h; __u32 base; };
static int fill(__u32 i, struct fill_ctx *c)
{
	if (i < 64)
		c->h->slots[i] += c->base;
	return 0;
}

SEC("tc")
int sample_packets(struct __sk_buff *skb)
{
	struct meta m = { .len = skb->len, .proto = skb->protocol };
	__u64 flags = BPF_F_CURRENT_CPU;
	__u32 cap = skb->len < 128 ? skb->len : 128;
	__u32 zero = 0;
	struct hist *hh;
	__u8 hdr[64];
	long n;

	flags |= (__u64)cap << 32;
	bpf_perf_event_output(skb, &pkts, flags, &m, sizeof(m));
	n = bpf_skb_load_bytes_relative(skb, 0, hdr, sizeof(hdr), BPF_HDR_START_NET);
	if (n < 0)
		return 0;
	bpf_printk("proto %d len %d first %x", m.proto, m.len, hdr[0]);
	hh = bpf_map_lookup_elem(&h, &zero);
	if (hh) {
		struct fill_ctx c = { .h = hh, .base = hdr[9] };
		bpf_loop(64, fill, &c, 0);
	}
	return 0;
}

SEC("xdp")
int frag_parse(struct xdp_md *ctx)
{
	__u8 buf[40];
	struct iphdr *iph = (void *)(buf + 0);
	__u32 len = bpf_xdp_get_buff_len(ctx);
	__u32 off = sizeof(struct ethhdr);
	__s64 csum;

	if (len < off + sizeof(buf))
		return XDP_PASS;
	if (bpf_xdp_load_bytes(ctx, off, buf, sizeof(buf)))
		return XDP_DROP;
	if (iph->version != 4)
		return XDP_PASS;
	csum = bpf_csum_diff(0, 0, (__be32 *)buf, (iph->ihl & 0xf) * 4 > 40 ? 40 : (iph->ihl & 0xf) * 4, 0);
	if (csum < 0)
		return XDP_ABORTED;
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	return csum == 0xffff ? XDP_PASS : XDP_DROP;   /* a valid header sums to ~0 */
}

SEC("tc")
int pull_then_read(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct iphdr *iph;

	if (skb->data + 34 > skb->data_end && bpf_skb_pull_data(skb, 34))
		return 2;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	iph = data + 14;
	if ((void *)(iph + 1) > data_end)
		return 2;
	return iph->protocol == IPPROTO_ICMP ? 2 : 0;
}
char LICENSE[] SEC("license") = "GPL";
