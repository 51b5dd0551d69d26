// SPDX-License-Identifier: GPL-2.0
/*
 * Task local storage, as schedulers' and security monitors' tracing
 * programs keep per-task state: a value per task that lives as long as the
 * task, created on first use, with no key to manage.
 *
 * Covers: BPF_MAP_TYPE_TASK_STORAGE (BPF_F_NO_PREALLOC, int key),
 * bpf_task_storage_get with BPF_LOCAL_STORAGE_GET_F_CREATE on a tp_btf
 * argument and on bpf_get_current_task_btf(), an initial value from the
 * stack, bpf_task_storage_delete, a field read through a trusted
 * task_struct pointer (CO-RE).
 *
 * Expected: count_switches counts, in each task's value, the times it was
 * switched in and out and remembers its pid. count_calls adds one to the
 * calling task's counter, which starts at 10, and returns it: 11 on the
 * first run with fresh maps. forget_calls deletes the calling task's
 * counter and returns 0, or -ENOENT (-2) when it has none, as with fresh
 * maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct switch_stats {
	__u64 switched_in;
	__u64 switched_out;
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct switch_stats);
} switch_stats SEC(".maps");

struct call_count {
	__u64 calls;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_count);
} call_counts SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(count_switches, int preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_stats *stats;

	stats = bpf_task_storage_get(&switch_stats, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (stats) {
		stats->switched_out++;
		stats->pid = prev->pid;
	}
	stats = bpf_task_storage_get(&switch_stats, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (stats) {
		stats->switched_in++;
		stats->pid = next->pid;
	}
	return 0;
}

SEC("syscall")
int count_calls(void *ctx)
{
	struct call_count first = { .calls = 10 };
	struct call_count *count;

	count = bpf_task_storage_get(&call_counts, bpf_get_current_task_btf(), &first,
				     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!count)
		return -1;
	count->calls++;
	return count->calls;
}

SEC("syscall")
int forget_calls(void *ctx)
{
	return bpf_task_storage_delete(&call_counts, bpf_get_current_task_btf());
}

char LICENSE[] SEC("license") = "GPL";
