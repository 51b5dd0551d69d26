// SPDX-License-Identifier: GPL-2.0
/*
 * A netfilter hook program (Linux 6.4+, BPF_PROG_TYPE_NETFILTER, attached
 * with a BPF_LINK_TYPE_NETFILTER link). libbpf 1.1 does not know
 * SEC("netfilter"), and the 6.1 UAPI headers here predate the type, so the
 * context struct is declared locally (CO-RE relocated against vmlinux).
 *
 * Covers: SEC("netfilter"), struct bpf_nf_ctx with preserve_access_index,
 * CO-RE reads of nf_hook_state fields (hook, pf) and sk_buff->len,
 * NF_ACCEPT/NF_DROP verdicts, a per-hook counter array.
 *
 * Expected: packets whose skb->len exceeds max_len (65000) return NF_DROP
 * (0); all others NF_ACCEPT (1); per_hook[state->hook] counts invocations.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define NF_DROP 0
#define NF_ACCEPT 1

struct nf_hook_state {
	__u8 hook;
	__u8 pf;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
} __attribute__((preserve_access_index));

struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
} __attribute__((preserve_access_index));

const volatile __u32 max_len = 65000;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} per_hook SEC(".maps");

SEC("netfilter")
int nf_size_guard(struct bpf_nf_ctx *ctx)
{
	__u32 hook = BPF_CORE_READ(ctx, state, hook);
	__u64 *n = bpf_map_lookup_elem(&per_hook, &hook);

	if (n)
		__sync_fetch_and_add(n, 1);
	if (BPF_CORE_READ(ctx, skb, len) > max_len)
		return NF_DROP;
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
