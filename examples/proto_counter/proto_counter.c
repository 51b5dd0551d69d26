// SPDX-License-Identifier: GPL-2.0
/*
 * proto_counter: count packets and bytes per IP protocol number in a per-CPU
 * array, and let every packet through.
 *
 * The key is the transport protocol the packet really carries: for IPv4 the
 * header's protocol field; for IPv6 the next-header value after walking the
 * extension headers (hop-by-hop, routing, fragment, destination options, up
 * to MAX_EXT_HEADERS of them), so a UDP datagram behind a hop-by-hop header
 * counts as UDP (17), not as hop-by-hop (0). One 802.1Q tag is skipped.
 *
 * Why a per-CPU array: every CPU increments its own copy of the slot, so the
 * hot path needs neither atomics nor locks; user space sums the CPUs'
 * values when it reads (bpftool map dump shows one value per CPU).
 *
 * Frames that are not IPv4/IPv6 (ARP, ...) and IP packets too short to parse
 * are counted in the .bss counters `not_ip` and `truncated` instead.
 * Every packet returns XDP_PASS (2) and is not modified.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_EXT_HEADERS 4

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* The generic shape of hop-by-hop, routing and destination options headers:
 * next header, then the length in 8-byte units not counting the first 8. */
struct ipv6_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct proto_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32); /* IP protocol number 0..255 */
	__type(value, struct proto_stats);
	__uint(max_entries, 256);
} proto_stats SEC(".maps");

/* Shared by all CPUs, hence the atomic adds below. */
__u64 not_ip = 0;
__u64 truncated = 0;

/* Returns the transport protocol behind the IPv6 header at `ip6`, or -1 when
 * a header does not fit in the packet. */
static __always_inline int ipv6_transport(struct ipv6hdr *ip6, void *data_end)
{
	void *cursor = ip6 + 1;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	next = ip6->nexthdr;
#pragma unroll
	for (i = 0; i < MAX_EXT_HEADERS; i++) {
		struct ipv6_ext_hdr *ext = cursor;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_DSTOPTS)
			break;
		if ((void *)(ext + 1) > data_end)
			return -1;
		/* The fragment header has a fixed size of 8 bytes; its second
		 * byte is reserved, not a length. */
		if (next == IPPROTO_FRAGMENT)
			cursor += 8;
		else
			cursor += (ext->hdrlen + 1) * 8;
		next = ext->nexthdr;
	}
	return next;
}

SEC("xdp")
int count_protocols(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	struct proto_stats *stats;
	__be16 proto;
	__u32 key;
	int transport;

	if (l3 > data_end) {
		__sync_fetch_and_add(&truncated, 1);
		return XDP_PASS;
	}
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > data_end) {
			__sync_fetch_and_add(&truncated, 1);
			return XDP_PASS;
		}
		proto = vlan->encapsulated_proto;
		l3 = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		transport = (void *)(ip + 1) > data_end ? -1 : ip->protocol;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		transport = ipv6_transport(l3, data_end);
	} else {
		__sync_fetch_and_add(&not_ip, 1);
		return XDP_PASS;
	}
	if (transport < 0) {
		__sync_fetch_and_add(&truncated, 1);
		return XDP_PASS;
	}

	key = transport;
	stats = bpf_map_lookup_elem(&proto_stats, &key);
	if (stats) {
		/* This CPU's own copy: plain adds are safe. */
		stats->packets += 1;
		stats->bytes += data_end - data;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
