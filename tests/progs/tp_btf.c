// SPDX-License-Identifier: GPL-2.0
/*
 * BTF-enabled raw tracepoint on sched_switch: counts switches per next pid
 * and remembers the comm of the last task switched out.
 *
 * Covers: SEC("tp_btf/sched_switch") (BPF_TRACE_RAW_TP with attach_btf_id
 * resolved against vmlinux), BPF_PROG with typed arguments, direct loads
 * through BTF pointers (prev->pid) relocated by CO-RE field-offset
 * relocations on a local task_struct with preserve_access_index,
 * BPF_CORE_READ_STR_INTO, a hash map.
 *
 * Expected: switches{next pid} grows on every context switch; last_prev_comm
 * holds the previous task's comm.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, int);
	__type(value, __u64);
	__uint(max_entries, 8192);
} switches SEC(".maps");

char last_prev_comm[16];

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, _Bool preempt, struct task_struct *prev, struct task_struct *next)
{
	int pid = next->pid;
	__u64 *count, one = 1;

	count = bpf_map_lookup_elem(&switches, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&switches, &pid, &one, BPF_NOEXIST);
	BPF_CORE_READ_STR_INTO(&last_prev_comm, prev, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
