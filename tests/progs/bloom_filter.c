// SPDX-License-Identifier: GPL-2.0
/*
 * A bloom filter in front of an exact hash: only source addresses that may
 * be in the filter pay for the hash lookup.
 *
 * Covers: BPF_MAP_TYPE_BLOOM_FILTER with __uint(map_extra, 3) (number of
 * hash functions), no key, bpf_map_peek_elem as the membership test,
 * bpf_map_push_elem to add, SEC("xdp").
 *
 * Expected: with 10.0.0.1 pushed into `maybe_blocked` and stored in
 * `blocked`, an IPv4 packet from 10.0.0.1 returns XDP_DROP (1); any other
 * IPv4 packet returns XDP_PASS (2) (a bloom false positive still ends in a
 * miss on `blocked`); non-IPv4 frames return XDP_PASS. bloom_hits counts
 * positive filter answers.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__uint(max_entries, 1000);
	__uint(map_extra, 3);
} maybe_blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 1000);
} blocked SEC(".maps");

__u64 bloom_hits;

SEC("xdp")
int xdp_bloom_block(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 saddr;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	saddr = ip->saddr;
	if (bpf_map_peek_elem(&maybe_blocked, &saddr))
		return XDP_PASS; /* definitely not in the set */
	__sync_fetch_and_add(&bloom_hits, 1);
	return bpf_map_lookup_elem(&blocked, &saddr) ? XDP_DROP : XDP_PASS;
}

/* Lets user space (or a test) populate the filter through test-run. */
SEC("xdp")
int xdp_bloom_learn(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 saddr;
	__u8 yes = 1;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	saddr = ip->saddr;
	bpf_map_push_elem(&maybe_blocked, &saddr, BPF_ANY);
	bpf_map_update_elem(&blocked, &saddr, &yes, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
