// SPDX-License-Identifier: GPL-2.0
/*
 * Pointers in global data: R_BPF_64_ABS64 relocations in .data and
 * .rodata (addresses of other globals, and of a function). libbpf only
 * processes relocations of code sections, .maps and .struct_ops, so these
 * are skipped and the map's initial value is the section's bytes as clang
 * wrote them (the implicit addend, not an address).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 7;
int counters[4] = { 1, 2, 3, 4 };
int *counter_ptr = &counter;
int *third_counter = &counters[2];
const int limit = 9;
const int *const limit_ptr = &limit;

static __noinline int helper_fn(int x)
{
	return x + 1;
}

int (*fn_ptr)(int) = helper_fn;

SEC("socket")
int use_data(struct __sk_buff *skb)
{
	return counter + counters[1] + limit + helper_fn(skb->len) +
	       (counter_ptr != 0) + (limit_ptr != 0) + (fn_ptr != 0) +
	       (third_counter != 0);
}

char _license[] SEC("license") = "GPL";
