// SPDX-License-Identifier: GPL-2.0
/*
 * Global functions as libbpf 1.3+ programs write them: a context argument
 * declared `void *` and tagged __arg_ctx, a map value argument tagged
 * __arg_nonnull (callers must check the lookup), and an untagged pointer
 * argument that the caller may pass straight from a lookup (the callee
 * checks it for NULL). The kernel verifies each global function once,
 * against its BTF signature and tags, not in each caller's state.
 *
 * Covers: BTF decl tags "arg:ctx" and "arg:nonnull" on global function
 * parameters (defined here as libbpf's bpf_helpers.h 1.3 does, the host's
 * libbpf 1.1 has no macros for them), a possibly-NULL map value passed to
 * a pointer parameter, struct map values updated in place.
 *
 * Expected for an XDP test-run of an N-byte frame on rx queue 0, with the
 * array empty: returns XDP_PASS (2); stats[0] = {pkts 2, bytes N} (counted
 * by account_checked and account_nonnull); other queues count in their
 * own slot, queues past 3 are counted nowhere.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

struct stats {
	__u64 pkts;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 4);
} stats SEC(".maps");

__noinline int frame_len(void *ctx __arg_ctx)
{
	struct xdp_md *xdp = ctx;

	return xdp->data_end - xdp->data;
}

__noinline int account_nonnull(struct stats *s __arg_nonnull, __u32 len)
{
	s->pkts++;
	s->bytes += len;
	return 0;
}

/* s comes straight from a lookup: NULL is this function's to handle */
__noinline int account_checked(struct stats *s)
{
	if (!s)
		return -1;
	s->pkts++;
	return 0;
}

SEC("xdp")
int global_args(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index;
	struct stats *s = bpf_map_lookup_elem(&stats, &key);
	int len = frame_len(ctx);

	account_checked(bpf_map_lookup_elem(&stats, &key));
	if (s)
		account_nonnull(s, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
