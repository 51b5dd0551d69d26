// SPDX-License-Identifier: GPL-2.0
/*
 * Open-coded numeric iterators: the kfuncs bpf_iter_num_new/next/destroy,
 * declared as `extern ... __ksym` and resolved by the loader against the
 * kernel's BTF, driven by bpf_for and bpf_repeat loops written as libbpf's
 * bpf_helpers.h documents them (the libbpf 1.1 header here predates them).
 *
 * Covers: extern kfunc calls (BPF_PSEUDO_KFUNC_CALL), iterator state on
 * the stack, a loop the verifier proves finite through the iterator rather
 * than a bound on a counter, packet reads inside an iterator loop.
 *
 * Expected: sum_bytes returns XDP_PASS and stores in `last_sum` the sum of
 * the first min(len, 64) packet bytes and in `last_len` how many it read;
 * repeat_count adds 5 to `repeats` per run and returns XDP_PASS;
 * empty_ranges returns XDP_PASS with `empty_iterations` 0 (a range with
 * start > end fails bpf_iter_num_new and the loop body never runs);
 * range_edges returns XDP_PASS and records in `edge_results` what
 * bpf_iter_num_new returns for a reversed range (-EINVAL) and one of more
 * than BPF_MAX_LOOPS numbers (-E2BIG), and in `edge_sums` the numbers and
 * counts the ranges at the ends of int give.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The iterator's opaque state, as the kernel's UAPI header defines it. */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;

/*
 * for (i = start; i < end; i++) as an iterator loop: the iterator lives in
 * the loop's first declaration and is destroyed by its cleanup attribute
 * when the loop is left; a second, unused pointer declaration calls
 * bpf_iter_num_new exactly once. Each step asks bpf_iter_num_next for the
 * next value and re-checks it against the bounds, so the verifier knows i
 * is inside [start, end) in the body.
 */
#define bpf_for(i, start, end)                                                      \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                  \
						      cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) =                                        \
		     (bpf_iter_num_new(&___it, (start), (end)),                     \
		      (void)bpf_iter_num_destroy, (void *)0);                       \
	     ({                                                                     \
		     int *___t = bpf_iter_num_next(&___it);                         \
		     (___t && ((i) = *___t, (i) >= (start) && (i) < (end)));        \
	     });)

/* Runs the body n times, without a loop variable. */
#define bpf_repeat(n)                                                               \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                  \
						      cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) =                                        \
		     (bpf_iter_num_new(&___it, 0, (n)),                             \
		      (void)bpf_iter_num_destroy, (void *)0);                       \
	     bpf_iter_num_next(&___it);)

__u64 last_sum;
__u32 last_len;
__u64 repeats;
__u32 empty_iterations;

SEC("xdp")
int sum_bytes(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *data_end = (const __u8 *)(long)ctx->data_end;
	__u64 sum = 0;
	__u32 len = 0;
	int i;

	bpf_for(i, 0, 64) {
		if (data + i + 1 > data_end)
			break;
		sum += data[i];
		len++;
	}
	last_sum = sum;
	last_len = len;
	return XDP_PASS;
}

SEC("xdp")
int repeat_count(struct xdp_md *ctx)
{
	bpf_repeat(5)
		__sync_fetch_and_add(&repeats, 1);
	return XDP_PASS;
}

SEC("xdp")
int empty_ranges(struct xdp_md *ctx)
{
	int i;

	bpf_for(i, 10, 3)
		empty_iterations++;
	bpf_for(i, 7, 7)
		empty_iterations++;
	return XDP_PASS;
}

__s64 edge_results[2];
__s64 edge_sums[6];

/* The numbers an iterator over [start, end) gives: their sum and count. */
static __always_inline void sum_range(int start, int end, __s64 *sum, __s64 *count)
{
	struct bpf_iter_num it;
	int *v;

	bpf_iter_num_new(&it, start, end);
	while ((v = bpf_iter_num_next(&it))) {
		*sum += *v;
		*count += 1;
	}
	bpf_iter_num_destroy(&it);
}

SEC("xdp")
int range_edges(struct xdp_md *ctx)
{
	struct bpf_iter_num it;

	edge_results[0] = bpf_iter_num_new(&it, 10, 3);
	bpf_iter_num_destroy(&it);
	edge_results[1] = bpf_iter_num_new(&it, 0, 0x7fffffff);
	bpf_iter_num_destroy(&it);
	sum_range(0x7fffffff - 3, 0x7fffffff, &edge_sums[0], &edge_sums[1]);
	sum_range(-0x7fffffff - 1, -0x7fffffff + 2, &edge_sums[2], &edge_sums[3]);
	sum_range(-5, -2, &edge_sums[4], &edge_sums[5]);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
