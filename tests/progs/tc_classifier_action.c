// SPDX-License-Identifier: GPL-2.0
/*
 * The two older TC section names: a cls_bpf classifier that tags packets by
 * IP version, and an act_bpf action that drops oversized frames.
 *
 * Covers: SEC("classifier") (sched_cls), SEC("action") (sched_act),
 * skb->mark, skb->tc_classid, skb->priority, skb->len, direct packet access
 * through skb->data/data_end, bpf_skb_pull_data.
 *
 * Expected: classify_ip_version sets skb->mark to 4 for IPv4 and 6 for IPv6
 * (from the EtherType), tc_classid to 0x10004/0x10006, and returns
 * TC_ACT_OK (0); other frames get mark 0 and TC_ACT_UNSPEC (-1).
 * drop_jumbo returns TC_ACT_SHOT (2) when skb->len > 1514 and TC_ACT_PIPE
 * (3) otherwise, and sets priority 7 for frames under 128 bytes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("classifier")
int classify_ip_version(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct ethhdr *eth;

	if (bpf_skb_pull_data(skb, ETH_HLEN))
		return TC_ACT_UNSPEC;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		skb->mark = 4;
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		skb->mark = 6;
	else
		return TC_ACT_UNSPEC;
	skb->tc_classid = 0x10000 | skb->mark;
	return TC_ACT_OK;
}

SEC("action")
int drop_jumbo(struct __sk_buff *skb)
{
	if (skb->len > 1514)
		return TC_ACT_SHOT;
	if (skb->len < 128)
		skb->priority = 7;
	return TC_ACT_PIPE;
}

char LICENSE[] SEC("license") = "GPL";
