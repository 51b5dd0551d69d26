// SPDX-License-Identifier: GPL-2.0
/*
 * A Katran-style layer-4 load balancer in XDP: parses Ethernet, IPv4
 * (no options, no fragments) and TCP/UDP, looks the destination up in a
 * table of virtual IPs, picks a real server through a per-VIP ring of
 * RING_SIZE slots (kept per flow in an LRU connection table), then
 * encapsulates the frame in IPIP towards the real (bpf_xdp_adjust_head
 * by -20, a fresh outer IPv4 header with its checksum computed by an
 * unrolled loop) and sends it back out. IPv6 frames go to a second
 * program through a prog array; it walks up to four IPv6 extension
 * headers, each a variable length, before reading the TCP flags.
 *
 * Covers: nested header parsing with a bounds check per header, an LRU
 * hash, a per-CPU array of {packets, bytes}, bpf_xdp_adjust_head with a
 * negative delta and the packet re-read after it, bpf_tail_call through
 * a prog array left empty (falls through), loops unrolled by clang over
 * packet data with variable-length steps.
 *
 * Expected for an XDP test-run with the maps empty: IPv4 TCP/UDP frames
 * return XDP_PASS (2) (no VIP matches), frames shorter than an Ethernet
 * header XDP_DROP (1), IPv6 frames XDP_PASS (the tail call finds no
 * program). With VIP {10.0.0.1, port 80 (network order), TCP} -> vip_num
 * 0, ring[hash % 64] = 1 and reals[1] = {10.1.0.1, mac}, a TCP frame to
 * 10.0.0.1:80 returns XDP_TX (3), 20 bytes longer, with an IPIP outer
 * header from 10.0.0.1 to 10.1.0.1 and a valid header checksum.
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

struct vip_key { __u32 addr; __u16 port; __u8 proto; __u8 pad; };
struct vip_meta { __u32 flags; __u32 vip_num; };
struct flow_key { __u32 src; __u32 dst; __u16 sport; __u16 dport; __u8 proto; __u8 pad[3]; };
struct real_def { __u32 addr; __u8 mac[6]; __u16 pad; };
struct lb_stats { __u64 packets; __u64 bytes; };

#define MAX_REALS 128
#define RING_SIZE 64

struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, struct vip_key); __type(value, struct vip_meta); __uint(max_entries, 512); } vips SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __type(key, struct flow_key); __type(value, __u32); __uint(max_entries, 4096); } conn_table SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32); __uint(max_entries, 512 * RING_SIZE); } ring SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct real_def); __uint(max_entries, MAX_REALS); } reals SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32); __type(value, struct lb_stats); __uint(max_entries, 4); } stats SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } jump SEC(".maps");

static __always_inline __u16 csum_fold(__u64 csum)
{
	int i;
#pragma unroll
	for (i = 0; i < 4; i++)
		if (csum >> 16)
			csum = (csum & 0xffff) + (csum >> 16);
	return ~csum;
}

static __always_inline void ipv4_csum(struct iphdr *iph)
{
	__u16 *next = (__u16 *)iph;
	__u64 csum = 0;
	int i;
	iph->check = 0;
#pragma clang loop unroll(full)
	for (i = 0; i < (int)sizeof(*iph) >> 1; i++)
		csum += *next++;
	iph->check = csum_fold(csum);
}

static __always_inline void count(__u32 idx, __u64 bytes)
{
	struct lb_stats *s = bpf_map_lookup_elem(&stats, &idx);
	if (s) { s->packets++; s->bytes += bytes; }
}

static __always_inline __u32 hash_flow(struct flow_key *f)
{
	__u32 h = f->src ^ (f->dst * 31) ^ ((__u32)f->sport << 16 | f->dport) ^ f->proto;
	h ^= h >> 13; h *= 0x5bd1e995; h ^= h >> 15;
	return h;
}

static __always_inline int encap_ipip(struct xdp_md *ctx, struct real_def *real, __u32 vip_addr, __u16 inner_len)
{
	void *data, *data_end;
	struct ethhdr *new_eth, *old_eth;
	struct iphdr *outer;

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	new_eth = data;
	outer = data + sizeof(struct ethhdr);
	old_eth = data + sizeof(struct iphdr);
	if ((void *)(new_eth + 1) > data_end || (void *)(old_eth + 1) > data_end || (void *)(outer + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(new_eth->h_source, old_eth->h_dest, ETH_ALEN);
	__builtin_memcpy(new_eth->h_dest, real->mac, ETH_ALEN);
	new_eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = 0;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = 0;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->saddr = vip_addr;
	outer->daddr = real->addr;
	ipv4_csum(outer);
	return XDP_TX;
}

SEC("xdp")
int balancer_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct vip_key vk = {};
	struct flow_key fk = {};
	struct vip_meta *vm;
	struct real_def *real;
	__u32 *real_idx, pos, idx;
	__u64 len = data_end - data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		bpf_tail_call(ctx, &jump, 1);
		return XDP_PASS;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	if (iph->ihl != 5 || (iph->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	fk.src = iph->saddr;
	fk.dst = iph->daddr;
	fk.proto = iph->protocol;
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(iph + 1);
		if ((void *)(th + 1) > data_end)
			return XDP_DROP;
		fk.sport = th->source;
		fk.dport = th->dest;
	} else if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(iph + 1);
		if ((void *)(uh + 1) > data_end)
			return XDP_DROP;
		fk.sport = uh->source;
		fk.dport = uh->dest;
	} else {
		return XDP_PASS;
	}
	vk.addr = fk.dst;
	vk.port = fk.dport;
	vk.proto = fk.proto;
	vm = bpf_map_lookup_elem(&vips, &vk);
	if (!vm)
		return XDP_PASS;
	count(0, len);
	real_idx = bpf_map_lookup_elem(&conn_table, &fk);
	if (!real_idx) {
		pos = vm->vip_num * RING_SIZE + hash_flow(&fk) % RING_SIZE;
		real_idx = bpf_map_lookup_elem(&ring, &pos);
		if (!real_idx)
			return XDP_DROP;
		idx = *real_idx;
		bpf_map_update_elem(&conn_table, &fk, &idx, BPF_ANY);
	} else {
		idx = *real_idx;
	}
	real = bpf_map_lookup_elem(&reals, &idx);
	if (!real)
		return XDP_DROP;
	count(1, len);
	return encap_ipip(ctx, real, vk.addr, bpf_ntohs(iph->tot_len));
}

SEC("xdp")
int balancer_v6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	__u8 nexthdr;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	nexthdr = ip6->nexthdr;
	count(2, data_end - data);
	/* walk up to four extension headers, each of 8 * (len + 1) bytes */
	__u8 *hdr = (void *)(ip6 + 1);
#pragma unroll
	for (i = 0; i < 4; i++) {
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING && nexthdr != IPPROTO_DSTOPTS)
			break;
		if ((void *)(hdr + 2) > data_end)
			return XDP_DROP;
		nexthdr = hdr[0];
		hdr += (hdr[1] + 1) * 8;
	}
	if (nexthdr == IPPROTO_TCP) {
		struct tcphdr *th = (void *)hdr;
		if ((void *)(th + 1) > data_end)
			return XDP_DROP;
		if (th->syn && !th->ack)
			count(3, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
