// SPDX-License-Identifier: GPL-2.0
/*
 * Direction-specific TC section names understood by libbpf >= 1.2:
 * SEC("tc/ingress") and SEC("tc/egress") (both BPF_PROG_TYPE_SCHED_CLS).
 * libbpf 1.1 (bpftool 7.1) does not know these names, so this object is kept
 * separate from the SEC("tc") ones.
 *
 * Covers: tc/ingress, tc/egress, a shared per-direction counter array,
 * skb->ingress_ifindex, skb->ifindex.
 *
 * Expected: both return TC_ACT_OK (0); counters[0] counts ingress packets,
 * counters[1] egress packets.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} counters SEC(".maps");

static __always_inline void bump(__u32 dir)
{
	__u64 *slot = bpf_map_lookup_elem(&counters, &dir);

	if (slot)
		__sync_fetch_and_add(slot, 1);
}

SEC("tc/ingress")
int tc_in(struct __sk_buff *skb)
{
	bump(0);
	return TC_ACT_OK;
}

SEC("tc/egress")
int tc_out(struct __sk_buff *skb)
{
	bump(skb->ifindex ? 1 : 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
