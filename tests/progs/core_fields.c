// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE field relocations against local, minimal definitions of kernel
 * structs (no vmlinux.h): libbpf rewrites offsets, sizes, existence bits and
 * bitfield shifts against the running kernel's BTF.
 *
 * Covers: BPF_CORE_READ chains (task->real_parent->tgid),
 * bpf_core_field_exists, bpf_core_field_size, bpf_core_field_offset,
 * BPF_CORE_READ_BITFIELD_PROBED (byte offset, byte size, signedness,
 * lshift_u64, rshift_u64 relocations), struct flavors
 * (struct task_struct___old with the pre-5.14 `long state`, dead code after
 * relocation), a field that does not exist in this kernel
 * (task_struct.apiary_missing), bpf_get_current_task, SEC("raw_tp/...").
 *
 * Expected for a raw_tp test-run (ctx_in of 16 zero bytes) on Linux 6.18:
 * has_new_state = 1, has_old_state = 0, has_missing = 0, comm_size = 16,
 * pid_offset = the kernel's offsetof(struct task_struct, pid), pid/tgid the
 * calling thread's, parent_tgid its parent's, in_execve = 0, and the
 * program returns 0.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	unsigned int __state;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
	unsigned int in_execve:1;
	unsigned int in_iowait:1;
	int apiary_missing;
} __attribute__((preserve_access_index));

/* The same struct as kernels before 5.14 had it. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

int has_new_state;
int has_old_state;
int has_missing;
__u32 comm_size;
__u32 pid_offset;
int pid;
int tgid;
int parent_tgid;
long state;
__u64 in_execve;
__u64 in_iowait;
char comm[16];

static __always_inline long task_state(struct task_struct *task)
{
	struct task_struct___old *old = (void *)task;

	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ(old, state);
}

SEC("raw_tp/sys_enter")
int read_task_fields(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct___old *old = (void *)task;

	has_new_state = bpf_core_field_exists(task->__state);
	has_old_state = bpf_core_field_exists(old->state);
	has_missing = bpf_core_field_exists(task->apiary_missing);
	comm_size = bpf_core_field_size(task->comm);
	pid_offset = bpf_core_field_offset(task->pid);

	pid = BPF_CORE_READ(task, pid);
	tgid = BPF_CORE_READ(task, tgid);
	parent_tgid = BPF_CORE_READ(task, real_parent, tgid);
	state = task_state(task);
	in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	in_iowait = BPF_CORE_READ_BITFIELD_PROBED(task, in_iowait);
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
