// SPDX-License-Identifier: GPL-2.0
/*
 * Raw tracepoints under both libbpf spellings: syscall-number histogram from
 * sys_enter, and a count of task renames.
 *
 * Covers: SEC("raw_tracepoint/<name>"), SEC("raw_tp/<name>"),
 * struct bpf_raw_tracepoint_args (ctx->args[]), bpf_probe_read_kernel of the
 * pt_regs argument, a percpu_array.
 *
 * Expected: run through BPF_PROG_TEST_RUN with ctx_in = {args[0] = 0,
 * args[1] = 39} the sys_enter program increments syscalls[39] on the
 * current CPU and returns 0.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_SYSCALL_NR 512

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MAX_SYSCALL_NR);
} syscalls SEC(".maps");

__u64 renames;

SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct pt_regs *regs, long id) */
	__u32 nr = (__u32)ctx->args[1];
	__u64 *count;

	if (nr >= MAX_SYSCALL_NR)
		return 0;
	count = bpf_map_lookup_elem(&syscalls, &nr);
	if (count)
		*count += 1;
	return 0;
}

SEC("raw_tp/task_rename")
int raw_task_rename(struct bpf_raw_tracepoint_args *ctx)
{
	__sync_fetch_and_add(&renames, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
