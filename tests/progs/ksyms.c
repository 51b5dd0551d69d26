// SPDX-License-Identifier: GPL-2.0
/*
 * A typed .ksyms extern: the per-CPU kernel variable bpf_prog_active,
 * resolved by libbpf against vmlinux BTF (BTF_KIND_VAR) and loaded as
 * LDDW BPF_PSEUDO_BTF_ID.
 *
 * Covers: extern const <type> <sym> __ksym, bpf_this_cpu_ptr,
 * bpf_per_cpu_ptr, bpf_get_smp_processor_id, a raw_tp program reading it.
 *
 * Expected: active_here holds bpf_prog_active on the current CPU while a
 * BPF program runs (>= 1 inside a raw tracepoint), cpu0_seen = 1 when the
 * CPU 0 pointer is non-NULL.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern const int bpf_prog_active __ksym;

int active_here;
int cpu0_seen;
__u32 on_cpu;

SEC("raw_tp/sys_enter")
int read_prog_active(void *ctx)
{
	const int *here = bpf_this_cpu_ptr(&bpf_prog_active);
	const int *cpu0 = bpf_per_cpu_ptr(&bpf_prog_active, 0);

	active_here = *here;
	if (cpu0)
		cpu0_seen = 1;
	on_cpu = bpf_get_smp_processor_id();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
