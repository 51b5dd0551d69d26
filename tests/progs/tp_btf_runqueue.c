// SPDX-License-Identifier: GPL-2.0
/*
 * A run-queue latency tracer in the style of runqlat/offcputime on BTF
 * tracepoints: sched_wakeup stores the wake-up time of user tasks whose
 * group leader is themselves, sched_switch drops it again and sends the
 * switched-in task's pid, the previous task's pid, its mm's total_vm plus
 * its thread count and its comm to a ring buffer; kernel threads (no mm)
 * are only counted.
 *
 * Covers: SEC("tp_btf/..") with BPF_PROG, arguments typed by the kernel's
 * BTF (struct task_struct *), direct loads through btf_id pointers and
 * pointer walks (next->mm->total_vm, next->signal->nr_threads,
 * p->group_leader->pid) relocated by CO-RE on local preserve_access_index
 * structs, a NULL check of a walked pointer, a comm copied by
 * __builtin_memcpy from kernel memory, bpf_ringbuf_reserve/submit.
 *
 * Expected: every context switch increments `switches` (and `kthreads`
 * when the next task has no mm); each switch to a user task emits one
 * struct sw record and deletes the task's runq entry.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct qstr { unsigned int len; const unsigned char *name; } __attribute__((preserve_access_index));
struct dentry { struct qstr d_name; struct dentry *d_parent; } __attribute__((preserve_access_index));
struct mm_struct { unsigned long total_vm; unsigned long start_stack; } __attribute__((preserve_access_index));
struct signal_struct { int nr_threads; } __attribute__((preserve_access_index));
struct task_struct {
	int pid; int tgid; char comm[16]; unsigned int flags;
	struct task_struct *real_parent; struct task_struct *group_leader;
	struct mm_struct *mm; struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct sw { __u32 prev, next; __u64 vm; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 64 * 4096); } out SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 10240); } runq SEC(".maps");
__u64 kthreads, switches;

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, int preempt, struct task_struct *prev, struct task_struct *next)
{
	struct sw *e;
	struct mm_struct *mm = next->mm;         /* direct BTF pointer walk */
	__u32 pid = next->pid;
	__u64 *t;

	switches++;
	if (!mm) {
		kthreads++;
		return 0;
	}
	t = bpf_map_lookup_elem(&runq, &pid);
	if (t)
		bpf_map_delete_elem(&runq, &pid);
	e = bpf_ringbuf_reserve(&out, sizeof(*e), 0);
	if (!e)
		return 0;
	e->prev = prev->pid;
	e->next = pid;
	e->vm = mm->total_vm + next->signal->nr_threads;
	__builtin_memcpy(e->comm, next->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	__u32 pid = p->pid;
	__u64 now = bpf_ktime_get_ns();
	if (p->flags & 0x00200000 /* PF_KTHREAD */)
		return 0;
	if (p->group_leader->pid != p->tgid)
		return 0;
	bpf_map_update_elem(&runq, &pid, &now, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
