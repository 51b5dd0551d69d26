// SPDX-License-Identifier: GPL-2.0
/*
 * A samples/bpf bpf_load.c-era object: 28-byte map definitions where a
 * map of maps names its inner template by index (inner_map_idx), a
 * program calling a function placed in another section ("helpers", as
 * cilium/ebpf and PREVAIL allow), which calls a .text function, which
 * calls a static one; every function symbol NOTYPE (local for the static
 * one), as clang 6 and 7 wrote them; a perf event array whose key and
 * value sizes are left at 0 for the loader to fill in. Built without BTF
 * for -mcpu=v1.
 *
 * Expected on a packet of length L: stats[0] += 1; stats[1] += 1 as
 * outer[0] holds no map yet; returns XDP_DROP (1) when L is odd, else
 * XDP_PASS (2).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_load_map_def SEC("maps") stats = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 2,
};

struct bpf_load_map_def SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = sizeof(__u32),
	.max_entries = 1,
	.inner_map_idx = 0,
};

/* Sizes left at 0, as cilium/ebpf's objects do for maps of fds. */
struct bpf_load_map_def SEC("maps") events = {
	.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
	.max_entries = 4,
};

static __attribute__((noinline)) int low_bit(long value)
{
	return value & 1;
}

__attribute__((noinline)) int is_odd(long length)
{
	return low_bit(length);
}

__attribute__((noinline, section("helpers"))) int verdict(long length)
{
	return is_odd(length) ? XDP_DROP : XDP_PASS;
}

static __always_inline void bump(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &slot);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("xdp_len_parity")
int len_parity(struct xdp_md *ctx)
{
	__u32 zero = 0;

	bump(0);
	if (!bpf_map_lookup_elem(&outer, &zero))
		bump(1);
	return verdict((long)ctx->data_end - (long)ctx->data);
}

char _license[] SEC("license") = "GPL";
