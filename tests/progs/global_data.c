// SPDX-License-Identifier: GPL-2.0
/*
 * Every kind of global data section libbpf turns into an internal map:
 * initialised .data, zeroed .bss, read-only .rodata with `const volatile`
 * knobs, string literals in .rodata.str1.1, and custom sections
 * SEC(".data.counters") and SEC(".rodata.limits") (each its own map).
 *
 * Covers: the sections .data, .bss, .rodata, .rodata.str1.1, .data.counters
 * and .rodata.limits;
 * LDDW with BPF_PSEUDO_MAP_VALUE relocations at non-zero offsets, a string
 * literal passed to bpf_trace_printk, BPF_PROG_TEST_RUN on SEC("xdp").
 *
 * Expected for one XDP test-run of an N-byte packet with the default knobs:
 * returns XDP_PASS (2) if N <= max_packet (1500) else XDP_DROP (1);
 * runs (.bss) += 1, bytes_seen (.data, starts at 100) += N,
 * per_verdict[verdict] (.data.counters) += 1, last_len (.bss) = N.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* .rodata: frozen at load time, constant-folded by the verifier. */
const volatile __u32 max_packet = 1500;
const volatile __u8 verbose = 0;

/* .data */
__u64 bytes_seen = 100;
char tag[8] = "apiary";

/* .bss */
__u64 runs;
__u32 last_len;

/* Custom sections: each becomes its own global-data map. */
__u64 per_verdict[5] SEC(".data.counters") = { 0, 0, 0, 0, 0 };
const volatile __u32 hard_limit SEC(".rodata.limits") = 9000;

SEC("xdp")
int xdp_global_data(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	int verdict = len <= max_packet && len <= hard_limit ? XDP_PASS : XDP_DROP;

	runs++;
	last_len = len;
	bytes_seen += len;
	per_verdict[verdict]++;
	if (verbose)
		bpf_trace_printk("global_data: len %u\n", sizeof("global_data: len %u\n"), len);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
