// SPDX-License-Identifier: GPL-2.0
/*
 * BTF-defined maps of file descriptors with no key or value size, as the
 * Cilium datapath writes them for cilium/ebpf since clang 14: the loader
 * gives them the 4-byte keys and values the kernel requires.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 4);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
} jumps SEC(".maps");

SEC("xdp")
int notify(struct xdp_md *ctx)
{
	__u64 value = 1;

	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &value, sizeof(value));
	bpf_tail_call(ctx, &jumps, 0);
	return XDP_PASS;
}

char __license[] SEC("license") = "GPL";
