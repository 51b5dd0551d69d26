// SPDX-License-Identifier: GPL-2.0
/*
 * An `ip link set dev X xdp obj F.o` object of the Linux 4.x era: the
 * program in iproute2's default section "prog", whose type the command
 * gives; maps in the first, 28-byte `struct bpf_elf_map` (no inner_id or
 * inner_idx yet); a tail call "1/0" into the prog array whose id is 1.
 * Built without BTF for -mcpu=v1.
 *
 * Expected with --type xdp, on any packet: stats[0] += 1, tail call to
 * "1/0", which does stats[1] += 1 and returns XDP_DROP (1); without the
 * tail call xdp_main returns XDP_PASS (2).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_elf_map_v1 SEC("maps") xdp_jumps = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 2,
	.id = 1,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map_v1 SEC("maps") xdp_stats = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 2,
};

static __always_inline void bump(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&xdp_stats, &slot);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("prog")
int xdp_main(struct xdp_md *ctx)
{
	bump(0);
	bpf_tail_call(ctx, &xdp_jumps, 0);
	return XDP_PASS;
}

SEC("1/0")
int xdp_drop_all(struct xdp_md *ctx)
{
	bump(1);
	return XDP_DROP;
}

char __license[] SEC("license") = "GPL";
