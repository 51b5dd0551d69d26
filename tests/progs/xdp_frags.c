// SPDX-License-Identifier: GPL-2.0
/*
 * Multi-buffer XDP: a program that accepts fragmented (jumbo) frames.
 *
 * Covers: SEC("xdp.frags") (BPF_F_XDP_HAS_FRAGS), bpf_xdp_get_buff_len,
 * bpf_xdp_load_bytes (reads across fragments), a .bss counter.
 *
 * Expected: returns XDP_PASS when the whole frame (all fragments) is at
 * least 14 bytes and its EtherType can be read, XDP_DROP otherwise;
 * last_len holds the total length of the last frame and last_proto its
 * EtherType in host order.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u64 last_len;
__u16 last_proto;

SEC("xdp.frags")
int xdp_frags_len(struct xdp_md *ctx)
{
	struct ethhdr eth;
	__u64 len = bpf_xdp_get_buff_len(ctx);

	last_len = len;
	if (len < sizeof(eth))
		return XDP_DROP;
	if (bpf_xdp_load_bytes(ctx, 0, &eth, sizeof(eth)))
		return XDP_DROP;
	last_proto = bpf_ntohs(eth.h_proto);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
