// SPDX-License-Identifier: GPL-2.0
/*
 * Classic (perf) tracepoints under both libbpf spellings: counts openat
 * calls and failures per process.
 *
 * Covers: SEC("tracepoint/<category>/<name>"), SEC("tp/<category>/<name>"),
 * hand-written tracepoint context structs matching the format files in
 * /sys/kernel/tracing/events/syscalls/sys_{enter,exit}_openat/format,
 * bpf_probe_read_user_str, bpf_get_current_pid_tgid, a hash map.
 *
 * Expected: openat("/etc/hostname") by a process sets last_path to that
 * path; a failing openat (ret < 0) increments failures{tgid}.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sys_enter_openat_ctx {
	__u64 common; /* common_type, common_flags, common_preempt_count, common_pid */
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	const char *filename;
	__u64 flags;
	__u64 mode;
};

struct sys_exit_ctx {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__s64 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} failures SEC(".maps");

char last_path[256];
__u64 opens;

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat_enter(struct sys_enter_openat_ctx *ctx)
{
	__sync_fetch_and_add(&opens, 1);
	bpf_probe_read_user_str(last_path, sizeof(last_path), ctx->filename);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int trace_openat_exit(struct sys_exit_ctx *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *count, one = 1;

	if (ctx->ret >= 0)
		return 0;
	count = bpf_map_lookup_elem(&failures, &tgid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&failures, &tgid, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
