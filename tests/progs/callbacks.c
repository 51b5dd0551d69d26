// SPDX-License-Identifier: GPL-2.0
/*
 * Callback-taking helpers: bpf_loop with a static callback and context
 * struct, and bpf_for_each_map_elem over a hash and an array.
 *
 * Covers: bpf_loop (BPF_FUNC_loop) and bpf_for_each_map_elem, whose callback
 * is passed as an LDDW with BPF_PSEUDO_FUNC (a function address in .text),
 * callback return values 0 (continue) / 1 (stop), callback context pointers
 * to the stack, SEC("syscall") so a test run takes a context and returns it.
 *
 * Expected for a syscall test-run with ctx_in = {n = 10}: the program
 * returns 0 and writes back {n = 10, sum = 45 (0+1+...+9), iterations = 10,
 * map_total = 60, elems_visited = 3, first_big_key = 2} after seeding
 * values and lookup with {0: 10, 1: 20, 2: 30}; the hash walk stops at the
 * first value >= 25, and only key 2 qualifies.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct loop_args {
	__u32 n;
	__u32 iterations;
	__u64 sum;
	__u64 map_total;
	__u32 elems_visited;
	__s32 first_big_key;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} lookup SEC(".maps");

struct walk_state {
	__u64 total;
	__u32 visited;
	__s32 big_key;
};

static long add_index(__u32 index, void *data)
{
	struct loop_args *args = data;

	args->sum += index;
	args->iterations++;
	return 0;
}

static long sum_array(void *map, __u32 *key, __u64 *value, void *data)
{
	struct walk_state *state = data;

	state->total += *value;
	state->visited++;
	return 0;
}

static long find_big(void *map, __u32 *key, __u64 *value, void *data)
{
	struct walk_state *state = data;

	if (*value >= 25) {
		state->big_key = *key;
		return 1;
	}
	return 0;
}

SEC("syscall")
int run_callbacks(struct loop_args *ctx)
{
	struct loop_args args = { .n = ctx->n };
	struct walk_state sums = {}, search = { .big_key = -1 };
	__u32 i;

	bpf_loop(args.n, add_index, &args, 0);
	for (i = 0; i < 3; i++) {
		/* A copy, so the loop counter itself never has its address taken. */
		__u32 key = i;
		__u64 v = (i + 1) * 10;

		bpf_map_update_elem(&values, &key, &v, BPF_ANY);
		bpf_map_update_elem(&lookup, &key, &v, BPF_ANY);
	}
	bpf_for_each_map_elem(&values, sum_array, &sums, 0);
	bpf_for_each_map_elem(&lookup, find_big, &search, 0);

	ctx->sum = args.sum;
	ctx->iterations = args.iterations;
	ctx->map_total = sums.total;
	ctx->elems_visited = sums.visited;
	ctx->first_big_key = search.big_key;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
