// SPDX-License-Identifier: GPL-2.0
/*
 * Lightweight-tunnel programs attached to a route (`ip route ... encap bpf`):
 * input filtering, output accounting and a transmit hook that marks packets.
 * LWT skbs start at the network header.
 *
 * Covers: SEC("lwt_in"), SEC("lwt_out"), SEC("lwt_xmit"), direct packet
 * access through skb->data/data_end on an L3 packet, skb->mark writes in
 * lwt_xmit, BPF_OK/BPF_DROP returns, an array map of per-hook counters.
 *
 * Expected: lwt_in returns BPF_DROP (2) for IPv4 packets with ttl 0 or a
 * truncated header and BPF_OK (0) otherwise; lwt_out returns BPF_OK and
 * counts; lwt_xmit returns BPF_OK and sets skb->mark to 0x42 for IPv4, 0x66
 * for IPv6.
 */
#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 3);
} hook_counts SEC(".maps");

static __always_inline void count_hook(__u32 hook)
{
	__u64 *n = bpf_map_lookup_elem(&hook_counts, &hook);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("lwt_in")
int lwt_filter_in(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;

	count_hook(0);
	if ((void *)(ip + 1) > data_end)
		return BPF_DROP;
	if (ip->version == 4 && ip->ttl == 0)
		return BPF_DROP;
	return BPF_OK;
}

SEC("lwt_out")
int lwt_count_out(struct __sk_buff *skb)
{
	count_hook(1);
	return BPF_OK;
}

SEC("lwt_xmit")
int lwt_mark_xmit(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *version = data;

	count_hook(2);
	if ((void *)(version + 1) > data_end)
		return BPF_OK;
	if ((*version >> 4) == 4)
		skb->mark = 0x42;
	else if ((*version >> 4) == 6)
		skb->mark = 0x66;
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
