// SPDX-License-Identifier: GPL-2.0
/*
 * An XDP object of the iproute2 era (`ip link set dev X xdp obj F.o sec
 * xdp`): the entry in SEC("xdp") tail-calls "1/0", slot 0 of the prog
 * array whose `struct bpf_elf_map` id is 1, which `ip` fills as `tc` does.
 * A socket filter beside it that touches no prog array makes the object's
 * typed sections disagree, so only the tail call's caller says that "1/0"
 * is an XDP program. The prog array is pinned in the object's namespace
 * (PIN_OBJECT_NS). Built without BTF for -mcpu=v1.
 *
 * Expected with --type xdp, on any packet: the tail call runs "1/0",
 * which returns XDP_DROP (1); without it xdp_entry returns XDP_PASS (2).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_elf_map SEC("maps") xdp_calls = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 1,
	.id = 1,
	.pinning = PIN_OBJECT_NS,
	.inner_idx = -1,
};

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &xdp_calls, 0);
	return XDP_PASS;
}

SEC("1/0")
int xdp_tail(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("socket")
int keep_all(struct __sk_buff *skb)
{
	return skb->len;
}

char __license[] SEC("license") = "GPL";
