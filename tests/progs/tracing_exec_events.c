// SPDX-License-Identifier: GPL-2.0
/*
 * Process tracing in the style of libbpf-tools (execsnoop, opensnoop,
 * offcputime): a tracepoint on sched_process_exec sends one ring-buffer
 * record per exec with the parent's tgid and the mm's start_code read by
 * CO-RE chains from the current task and the file name read through the
 * tracepoint's __data_loc field; a kprobe on do_sys_openat2 copies the
 * user-space path with bpf_probe_read_user_str into a perf event; a kprobe
 * on vfs_read records kernel stack ids; a raw tracepoint on sched_switch
 * reserves a record, fills it from the previous task, and also sends a
 * copied 4-byte record with bpf_ringbuf_output.
 *
 * Covers: SEC("tracepoint/..") with a local tracepoint record layout,
 * BPF_CORE_READ of two-level pointer chains on local preserve_access_index
 * structs, bpf_get_current_task, bpf_probe_read_kernel_str at a variable
 * offset from the context, bpf_ringbuf_reserve/discard/submit with
 * BPF_RB_NO_WAKEUP, bpf_ringbuf_output, bpf_probe_read_user_str into a
 * stack buffer and a check of its result, bpf_perf_event_output with
 * BPF_F_CURRENT_CPU, bpf_get_stackid on a stack_trace map, a .rodata
 * filter (`const volatile`), SEC("raw_tp/..") reading ctx->args[].
 *
 * Expected: after an exec, `events` holds one struct exec_event with the
 * new process's pid, its parent's tgid and the file name, and
 * exec_count[ppid] grows by one; opens emit {pid, path length, path} on
 * `perf`; reads store stack ids in stack_of; context switches emit a
 * 64-byte record (the previous task's comm and pid) and a 4-byte pid.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct mm_struct { unsigned long start_code; } __attribute__((preserve_access_index));
struct task_struct {
	int pid; int tgid; char comm[16];
	struct task_struct *real_parent;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

struct trace_event_raw_sched_process_exec {
	unsigned long long unused;
	unsigned int __data_loc_filename;
	int pid;
	int old_pid;
	char __data[0];
};

struct exec_event { __u32 pid, ppid; __u64 start_code; char comm[16]; char filename[128]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, sizeof(int)); __uint(value_size, sizeof(int)); } perf SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(key_size, sizeof(__u32)); __uint(value_size, 127 * sizeof(__u64)); __uint(max_entries, 1024); } stacks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 1024); } exec_count SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __s32); __uint(max_entries, 1024); } stack_of SEC(".maps");

const volatile __u32 target_tgid = 0;

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct exec_event *e;
	unsigned int off = ctx->__data_loc_filename & 0xffff;
	__u64 *n;
	__u32 ppid;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->start_code = BPF_CORE_READ(task, mm, start_code);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	if (target_tgid && e->pid != target_tgid) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	ppid = e->ppid;
	bpf_ringbuf_submit(e, 0);

	n = bpf_map_lookup_elem(&exec_count, &ppid);
	if (n) {
		__sync_fetch_and_add(n, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&exec_count, &ppid, &one, BPF_NOEXIST);
	}
	return 0;
}

struct open_event { __u32 pid; int flags; char path[256]; };

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(trace_open, int dfd, const char *filename)
{
	struct open_event ev = {};
	long len;

	ev.pid = bpf_get_current_pid_tgid() >> 32;
	len = bpf_probe_read_user_str(ev.path, sizeof(ev.path), filename);
	if (len < 0)
		return 0;
	ev.flags = (int)len;
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return 0;
}

SEC("kprobe/vfs_read")
int sample_stack(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__s32 id = bpf_get_stackid(ctx, &stacks, 0);
	if (id >= 0)
		bpf_map_update_elem(&stack_of, &pid, &id, BPF_ANY);
	return 0;
}

SEC("raw_tp/sched_switch")
int on_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (void *)ctx->args[1];
	int pid = BPF_CORE_READ(prev, pid);
	char *buf = bpf_ringbuf_reserve(&events, 64, 0);
	if (!buf)
		return 0;
	bpf_probe_read_kernel(buf, 16, &prev->comm);
	*(int *)(buf + 16) = pid;
	bpf_ringbuf_output(&events, &pid, sizeof(pid), 0);
	bpf_ringbuf_submit(buf, BPF_RB_NO_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
