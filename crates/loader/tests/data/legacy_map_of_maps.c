// SPDX-License-Identifier: GPL-2.0
/*
 * A map of maps in a 20-byte struct bpf_map_def (libbpf 0.x): nothing in
 * the object defines its inner maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../../../../tests/progs/legacy/legacy_defs.h"

struct bpf_map_def SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 2,
};

SEC("xdp")
int look(struct xdp_md *ctx)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&outer, &key) ? XDP_DROP : XDP_PASS;
}

char __license[] SEC("license") = "GPL";
