// SPDX-License-Identifier: GPL-2.0
/*
 * Syscall probes through libbpf's ksyscall/kretsyscall, which hide the
 * kernel's syscall wrapper (arguments live in an inner struct pt_regs read
 * with CO-RE when LINUX_HAS_SYSCALL_WRAPPER is set).
 *
 * Covers: SEC("ksyscall/kill"), SEC("kretsyscall/kill"), BPF_KSYSCALL,
 * the LINUX_HAS_SYSCALL_WRAPPER .kconfig extern that BPF_KSYSCALL declares,
 * a local kernel-layout struct pt_regs with preserve_access_index
 * (so the PT_REGS_*_CORE reads relocate against vmlinux BTF), a ringbuf.
 * x86-64 only: the register names below are the kernel's x86-64 ones.
 *
 * Expected: `kill -0 <pid>` emits one event {caller tgid, target pid, sig 0}
 * into `events`; kills counts calls and last_kill_ret holds the return.
 */
#include <linux/bpf.h>

/* The kernel's own layout, as vmlinux.h would give it. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
#define __VMLINUX_H__ /* tells bpf_tracing.h to use kernel register names */

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct kill_event {
	__u32 caller;
	__s32 target;
	__s32 sig;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u64 kills;
long last_kill_ret;

SEC("ksyscall/kill")
int BPF_KSYSCALL(kill_entry, int pid, int sig)
{
	struct kill_event *e;

	__sync_fetch_and_add(&kills, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->caller = bpf_get_current_pid_tgid() >> 32;
	e->target = pid;
	e->sig = sig;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kretsyscall/kill")
int BPF_KRETPROBE(kill_exit, long ret)
{
	last_kill_ret = ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
