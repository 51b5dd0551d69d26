// SPDX-License-Identifier: GPL-2.0
/*
 * XDP header surgery: strip an 802.1Q tag, push one, and truncate frames.
 *
 * Covers: bpf_xdp_adjust_head (positive and negative deltas),
 * bpf_xdp_adjust_tail, re-validating packet pointers after an adjust,
 * __builtin_memmove of a fixed-size header, .rodata knobs.
 *
 * Expected:
 *   xdp_vlan_pop:  a frame with one 802.1Q tag comes out 4 bytes shorter,
 *                  the tag removed, EtherType = encapsulated protocol; XDP_PASS.
 *                  Untagged frames are unchanged; XDP_PASS.
 *   xdp_vlan_push: every frame comes out 4 bytes longer with an 802.1Q tag
 *                  carrying VID push_vid (100) inserted after the MACs; XDP_PASS.
 *                  Frames shorter than 14 bytes: XDP_DROP.
 *   xdp_truncate:  frames longer than max_len (128) are cut to 128 bytes;
 *                  XDP_TX. Shorter frames are unchanged; XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_ethhdr {
	unsigned char h_dest[ETH_ALEN];
	unsigned char h_source[ETH_ALEN];
	__be16 h_vlan_proto;
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

const volatile __u16 push_vid = 100;
const volatile __u32 max_len = 128;

SEC("xdp")
int xdp_vlan_pop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vlan_ethhdr *veth = data;
	struct ethhdr *eth;
	__be16 inner;

	if ((void *)(veth + 1) > data_end)
		return XDP_PASS;
	if (veth->h_vlan_proto != bpf_htons(ETH_P_8021Q))
		return XDP_PASS;
	inner = veth->h_vlan_encapsulated_proto;
	/* Move the MAC addresses forward over the tag, then drop 4 bytes. */
	__builtin_memmove(data + 4, data, 2 * ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, 4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	eth->h_proto = inner;
	return XDP_PASS;
}

SEC("xdp")
int xdp_vlan_push(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vlan_ethhdr *veth;
	struct ethhdr *eth = data;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	proto = eth->h_proto;
	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	veth = data;
	if ((void *)(veth + 1) > data_end)
		return XDP_ABORTED;
	__builtin_memmove(data, data + 4, 2 * ETH_ALEN);
	veth->h_vlan_proto = bpf_htons(ETH_P_8021Q);
	veth->h_vlan_TCI = bpf_htons(push_vid & 0x0fff);
	veth->h_vlan_encapsulated_proto = proto;
	return XDP_PASS;
}

SEC("xdp")
int xdp_truncate(struct xdp_md *ctx)
{
	long len = (long)ctx->data_end - (long)ctx->data;

	if (len <= max_len)
		return XDP_PASS;
	if (bpf_xdp_adjust_tail(ctx, (int)(max_len - len)))
		return XDP_ABORTED;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
