// SPDX-License-Identifier: GPL-2.0
/*
 * A samples/bpf-era object (Linux 4.x-5.x): `struct bpf_map_def` in
 * SEC("maps"), section names libbpf 0.x matched by prefix only
 * ("socket1", "xdp_drop_small", "kprobe/..."), two programs in one
 * section, built without BTF (-g) for -mcpu=v1, and every program symbol
 * turned into a NOTYPE global as older clang wrote them (the manifest's
 * `notype`).
 *
 * Expected, on one packet of length L and protocol P:
 *   count_protocols: proto_count{P} += 1, returns 0 (socket filter: drop);
 *   sum_lengths:     lengths[0] += L, lengths[1] += 1, returns L (keep);
 *   drop_small:      XDP_DROP (1) below 64 bytes, else XDP_PASS (2);
 *   trace_write:     lengths[1] += 1 (a kprobe: listed, not test-run).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_defs.h"

struct bpf_map_def SEC("maps") proto_count = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 64,
};

struct bpf_map_def SEC("maps") lengths = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 2,
};

static __always_inline void add(__u32 slot, __u64 amount)
{
	__u64 *value = bpf_map_lookup_elem(&lengths, &slot);

	if (value)
		__sync_fetch_and_add(value, amount);
}

SEC("socket1")
int count_protocols(struct __sk_buff *skb)
{
	__u32 proto = skb->protocol;
	__u64 one = 1, *value;

	value = bpf_map_lookup_elem(&proto_count, &proto);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&proto_count, &proto, &one, BPF_NOEXIST);
	return 0;
}

SEC("socket1")
int sum_lengths(struct __sk_buff *skb)
{
	add(0, skb->len);
	add(1, 1);
	return skb->len;
}

SEC("xdp_drop_small")
int drop_small(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return data + 64 > data_end ? XDP_DROP : XDP_PASS;
}

SEC("kprobe/ksys_write")
int trace_write(void *ctx)
{
	add(1, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050400;
