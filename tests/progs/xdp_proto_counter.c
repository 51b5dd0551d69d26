// SPDX-License-Identifier: GPL-2.0
/*
 * Protocol counter: counts packets and bytes per IP protocol number (IPv4
 * protocol or IPv6 next header; key 256 for non-IP frames, 257 for frames too
 * short to parse) and always returns XDP_PASS.
 *
 * Covers: SEC("xdp"), a plain BTF array map updated with atomic adds
 * (__sync_fetch_and_add, lock xadd without fetch), a percpu_hash map of byte
 * counts, bpf_ntohs, ctx->data/data_end.
 *
 * Expected: every packet returns XDP_PASS (2); for an IPv4 UDP packet of N
 * bytes, packets[17] += 1 and bytes{17} += N.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KEY_NOT_IP 256
#define KEY_TRUNCATED 257

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 258);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 258);
} bytes SEC(".maps");

static __always_inline __u32 classify(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return KEY_TRUNCATED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return KEY_TRUNCATED;
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return KEY_TRUNCATED;
		return ip6->nexthdr;
	}
	return KEY_NOT_IP;
}

SEC("xdp")
int xdp_count_protocols(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = classify(data, data_end);
	__u64 len = data_end - data;
	__u64 *pkts, *total, one = len;

	pkts = bpf_map_lookup_elem(&packets, &key);
	if (pkts)
		__sync_fetch_and_add(pkts, 1);

	total = bpf_map_lookup_elem(&bytes, &key);
	if (total)
		*total += len;
	else
		bpf_map_update_elem(&bytes, &key, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
