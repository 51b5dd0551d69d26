// SPDX-License-Identifier: GPL-2.0
/*
 * A BPF_PROG_TYPE_SYSCALL program: runs only through BPF_PROG_TEST_RUN with
 * a user-supplied context, which the kernel copies back after the run.
 *
 * Covers: SEC("syscall") (sleepable, ctx_in only), reading and writing the
 * context struct, a subprogram, bpf_map_update_elem from a syscall program.
 *
 * Expected: with ctx_in = {a = 6, b = 7}, the program returns 0 and the
 * context comes back as {a = 6, b = 7, sum = 13, product = 42}; last_product
 * in the `results` array holds 42. With b == 0 it returns -22 (EINVAL) and
 * leaves sum/product untouched.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	__s64 a;
	__s64 b;
	__s64 sum;
	__s64 product;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 1);
} results SEC(".maps");

static __noinline __s64 multiply(__s64 a, __s64 b)
{
	return a * b;
}

SEC("syscall")
int compute(struct args *ctx)
{
	__u32 zero = 0;
	__s64 product;

	if (ctx->b == 0)
		return -22;
	ctx->sum = ctx->a + ctx->b;
	product = multiply(ctx->a, ctx->b);
	ctx->product = product;
	/* A pointer into the context is not a valid map-value argument. */
	bpf_map_update_elem(&results, &zero, &product, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
