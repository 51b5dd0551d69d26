// SPDX-License-Identifier: GPL-2.0
/*
 * XDP redirection through every redirect map type, plus the programs that run
 * on the far side of a devmap and a cpumap.
 *
 * Covers: SEC("xdp"), SEC("xdp/devmap"), SEC("xdp/cpumap"), map types devmap,
 * devmap_hash, cpumap, xskmap (key_size/value_size style and __type style),
 * bpf_redirect_map with a fallback action in the flags, ctx->rx_queue_index,
 * ctx->egress_ifindex.
 *
 * Expected (maps empty): xdp_redirect_by_queue returns XDP_PASS (the
 * fallback in the low bits of flags) because no xsk socket is installed;
 * xdp_redirect_dev returns XDP_ABORTED for a frame shorter than 14 bytes
 * and XDP_DROP (the fallback) otherwise; xdp_devmap_egress drops frames
 * leaving through ifindex 1 (lo) and passes others; xdp_cpumap_rx passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct bpf_devmap_val));
	__uint(max_entries, 8);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16);
} tx_ports_by_ifindex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, 4);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
	__uint(max_entries, 64);
} xsks SEC(".maps");

SEC("xdp")
int xdp_redirect_by_queue(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

SEC("xdp")
int xdp_redirect_dev(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 key;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	key = eth->h_dest[5];
	if (key & 1)
		return bpf_redirect_map(&tx_ports_by_ifindex, key, XDP_DROP);
	if (key & 2)
		return bpf_redirect_map(&cpus, key & 3, XDP_DROP);
	return bpf_redirect_map(&tx_ports, key & 7, XDP_DROP);
}

SEC("xdp/devmap")
int xdp_devmap_egress(struct xdp_md *ctx)
{
	return ctx->egress_ifindex == 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp/cpumap")
int xdp_cpumap_rx(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
