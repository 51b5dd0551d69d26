// SPDX-License-Identifier: GPL-2.0
/*
 * A sampling profiler: on every perf sample, record the kernel and user stack
 * ids of the current task and count samples per {tgid, stacks}.
 *
 * Covers: SEC("perf_event") (struct bpf_perf_event_data: sample_period,
 * addr, regs), map type stack_trace with key_size/value_size, bpf_get_stackid
 * with BPF_F_USER_STACK, bpf_perf_prog_read_value, a hash keyed by a struct.
 *
 * Expected: each sample increments counts{tgid, kstack, ustack}; samples with
 * no user stack (kernel threads) store ustack = -EFAULT (-14).
 */
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#define MAX_DEPTH 32

struct sample_key {
	__u32 tgid;
	__s32 kstack;
	__s32 ustack;
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
	__uint(max_entries, 4096);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sample_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} counts SEC(".maps");

__u64 last_period;
__u64 last_counter;

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	struct bpf_perf_event_value value = {};
	struct sample_key key = {};
	__u64 *count, one = 1;

	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.kstack = bpf_get_stackid(ctx, &stacks, 0);
	key.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	last_period = ctx->sample_period;
	if (!bpf_perf_prog_read_value(ctx, &value, sizeof(value)))
		last_counter = value.counter;

	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
