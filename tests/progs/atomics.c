// SPDX-License-Identifier: GPL-2.0
/*
 * Every BPF atomic operation, compiled for -mcpu=v3 (atomic fetch variants,
 * 32- and 64-bit, xchg and cmpxchg), on .bss globals and map values.
 *
 * Covers: __sync_fetch_and_add/sub/or/and/xor with the result used
 * (BPF_ATOMIC | BPF_FETCH), without it (lock add/or/and/xor),
 * __sync_val_compare_and_swap (BPF_CMPXCHG), __sync_lock_test_and_set
 * (BPF_XCHG), __atomic_* builtins, 32-bit (w registers) and 64-bit forms.
 *
 * Expected for one XDP test-run, starting from the initial values below:
 * returns XDP_PASS (2); counter64 = 1000 + 5 = 1005, prev_add = 1000;
 * counter32 = 7 - 2 = 5 then |= 0x10 -> 0x15 then &= 0x1d -> 0x15
 * then ^= 0x1 -> 0x14 = 20; prev_xor = 0x15; flags = 0xff00 | 0x0f = 0xff0f;
 * swapped_old = 42 and cas_target = 43; old_from_xchg = 1 and xchg_target
 * = 99; slot value in `cells`[0] = 3 (three adds of 1).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 counter64 = 1000;
__u64 prev_add;
__u32 counter32 = 7;
__u32 prev_xor;
__u64 flags = 0xff00;
__u64 cas_target = 42;
__u64 swapped_old;
__u32 xchg_target = 1;
__u32 old_from_xchg;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} cells SEC(".maps");

SEC("xdp")
int xdp_atomics(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *cell;

	prev_add = __sync_fetch_and_add(&counter64, 5);
	__sync_fetch_and_sub(&counter32, 2);
	__sync_fetch_and_or(&counter32, 0x10);
	__sync_fetch_and_and(&counter32, 0x1d);
	prev_xor = __sync_fetch_and_xor(&counter32, 0x1);
	__atomic_fetch_or(&flags, 0x0f, __ATOMIC_RELAXED);
	swapped_old = __sync_val_compare_and_swap(&cas_target, 42, 43);
	old_from_xchg = __sync_lock_test_and_set(&xchg_target, 99);

	cell = bpf_map_lookup_elem(&cells, &zero);
	if (cell) {
		*cell = 0;
		__sync_fetch_and_add(cell, 1);
		__atomic_add_fetch(cell, 1, __ATOMIC_SEQ_CST);
		__sync_fetch_and_add(cell, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
