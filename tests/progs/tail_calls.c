// SPDX-License-Identifier: GPL-2.0
/*
 * A tail-call dispatcher: the entry program parses the EtherType and jumps
 * through a prog_array that libbpf fills at load time from
 * `.values = { [i] = &prog }` to a per-protocol handler.
 *
 * Covers: BPF_MAP_TYPE_PROG_ARRAY with __array(values, int (void *)) and
 * initial function-pointer values, bpf_tail_call with a constant and a
 * variable index, fall-through when the slot is empty, several SEC("xdp")
 * programs and a SEC("xdp") program only reachable by tail call.
 *
 * Expected: IPv4 frames reach handle_ipv4 (slot 0) which returns XDP_PASS
 * (2) and counts; IPv6 frames reach handle_ipv6 (slot 1) which returns
 * XDP_DROP (1); ARP (slot 2 is empty) falls through: the entry returns
 * XDP_ABORTED (0). tail_calls counts successful jumps as seen by the
 * handlers.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum { SLOT_IPV4, SLOT_IPV6, SLOT_ARP, SLOT_COUNT };

__u64 tail_calls;
__u64 ipv4_frames;

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&tail_calls, 1);
	__sync_fetch_and_add(&ipv4_frames, 1);
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&tail_calls, 1);
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLOT_COUNT);
	__type(key, __u32);
	__array(values, int (void *));
} dispatch SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&handle_ipv4,
		[SLOT_IPV6] = (void *)&handle_ipv6,
	},
};

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 slot;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		bpf_tail_call(ctx, &dispatch, SLOT_IPV4);
		return XDP_ABORTED;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		slot = SLOT_IPV6;
	else if (eth->h_proto == bpf_htons(ETH_P_ARP))
		slot = SLOT_ARP;
	else
		return XDP_PASS;
	bpf_tail_call(ctx, &dispatch, slot);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
