// SPDX-License-Identifier: GPL-2.0
/*
 * No SEC() at all: the functions land in .text, which libbpf 1.x takes
 * for subprograms, so it finds no program. `--type xdp` makes each
 * global function a program, as libbpf 0.x's ".text" program and
 * `bpftool prog load ... type xdp` did. Built without BTF for -mcpu=v2.
 *
 * Expected: xdp_parity returns XDP_DROP (1) for packets of odd length,
 * else XDP_PASS (2), counting both in hits[0]; its helper is_odd stays a
 * subprogram call.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_map_def SEC("maps") hits = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

static __attribute__((noinline)) int is_odd(long length)
{
	return length & 1;
}

int xdp_parity(struct xdp_md *ctx)
{
	long length = (long)ctx->data_end - (long)ctx->data;
	__u32 zero = 0;
	__u64 *value = bpf_map_lookup_elem(&hits, &zero);

	if (value)
		__sync_fetch_and_add(value, 1);
	return is_odd(length) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
