// SPDX-License-Identifier: GPL-2.0
/*
 * BTF map definition attributes beyond type/key/value/max_entries, and the
 * FIFO/LIFO map types that have no key.
 *
 * Covers: __uint(key_size)/__uint(value_size) instead of __type,
 * __uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU ...),
 * __uint(numa_node), __uint(pinning, LIBBPF_PIN_BY_NAME) (pinned as
 * /sys/fs/bpf/apiary_corpus_pinned), queue and stack maps (value only,
 * bpf_map_push_elem/pop/peek), perf_event_array with max_entries left 0
 * (libbpf sizes it to the number of CPUs).
 *
 * Expected for one TC test-run (any packet): returns TC_ACT_OK (0); the
 * packet length is pushed into both `recent_lengths` (queue) and
 * `length_stack` (stack); after runs of lengths 60 then 100, a pop from the
 * queue yields 60 and a pop from the stack yields 100. `pinned` counts runs.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 32);
} recent_lengths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__type(value, __u32);
	__uint(max_entries, 32);
} length_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(numa_node, 0);
} by_ifindex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
} by_mark SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} apiary_corpus_pinned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} perf_events SEC(".maps");

SEC("tc")
int record_lengths(struct __sk_buff *skb)
{
	__u32 len = skb->len, ifindex = skb->ifindex, mark = skb->mark, zero = 0, oldest;
	__u64 one = 1, *n;

	if (bpf_map_push_elem(&recent_lengths, &len, 0))
		/* Full: drop the oldest entry, then push (BPF_EXIST would do both). */
		if (!bpf_map_pop_elem(&recent_lengths, &oldest))
			bpf_map_push_elem(&recent_lengths, &len, 0);
	bpf_map_push_elem(&length_stack, &len, BPF_EXIST);

	n = bpf_map_lookup_elem(&by_ifindex, &ifindex);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&by_ifindex, &ifindex, &one, BPF_NOEXIST);
	bpf_map_update_elem(&by_mark, &mark, &one, BPF_ANY);

	n = bpf_map_lookup_elem(&apiary_corpus_pinned, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	bpf_perf_event_output(skb, &perf_events, BPF_F_CURRENT_CPU, &len, sizeof(len));
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
