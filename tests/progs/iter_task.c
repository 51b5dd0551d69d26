// SPDX-License-Identifier: GPL-2.0
/*
 * BPF iterator over all tasks: prints "pid tgid comm" lines into the
 * iterator's seq_file, with a header line on the first record.
 *
 * Covers: SEC("iter/task") (BPF_TRACE_ITER), local struct bpf_iter_meta and
 * struct bpf_iter__task context definitions with preserve_access_index,
 * BPF_SEQ_PRINTF (bpf_seq_printf with a .rodata format string),
 * bpf_seq_write, NULL task at the end of iteration.
 *
 * Expected: reading the pinned iterator yields "    PID    TGID COMM" then
 * one line per task, ending when ctx->task is NULL (the program returns 0).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

__u64 tasks_seen;

SEC("iter/task")
int dump_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	static const char header[] = "    PID    TGID COMM\n";

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		bpf_seq_write(seq, header, sizeof(header) - 1);
	tasks_seen++;
	BPF_SEQ_PRINTF(seq, "%7d %7d %s\n", task->pid, task->tgid, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
