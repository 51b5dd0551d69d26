// SPDX-License-Identifier: GPL-2.0
/*
 * fentry/fexit on bpf_fentry_test1, the kernel function that exists for
 * exactly this purpose: BPF_PROG_TEST_RUN of a tracing program calls
 * bpf_fentry_test1(1) (returns 2) among other test functions.
 *
 * Covers: SEC("fentry/<func>"), SEC("fexit/<func>") (attach_btf_id resolved
 * against vmlinux at load), BPF_PROG with the return value as the last
 * argument of fexit, bpf_get_func_ip, .bss results.
 *
 * Expected after BPF_PROG_TEST_RUN of the attached programs:
 * entry_arg = 1, exit_arg = 1, exit_ret = 2, calls = 1 per run; both
 * programs return 0.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

int entry_arg;
int exit_arg;
int exit_ret;
__u64 calls;
__u64 func_ip;

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(test1_entry, int a)
{
	entry_arg = a;
	func_ip = bpf_get_func_ip(ctx);
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(test1_exit, int a, int ret)
{
	exit_arg = a;
	exit_ret = ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
