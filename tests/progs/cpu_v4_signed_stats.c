// SPDX-License-Identifier: GPL-2.0
/*
 * Signed statistics over a UDP payload, compiled for cpu v4: sixteen
 * payload bytes summed as signed chars, a histogram slot picked by a
 * signed byte after a range check, the average's remainder stored in an
 * array, a signed division by a payload byte, and a switch on a
 * byte-swapped word.
 *
 * Covers: insn:ldsx (sign-extending byte loads from the packet),
 * insn:sdiv and signed modulo, insn:movsx (s8/s16 casts), insn:bswap
 * (bpf_ntohl and __builtin_bswap16 under v4), a signed value made an
 * unsigned index by one unsigned compare, .bss arrays indexed by it.
 *
 * Expected for an XDP test-run of an Ethernet/IPv4/UDP frame with at
 * least 16 payload bytes: the return value follows the low three bits of
 * the big-endian word at payload[4..8] (0 -> XDP_PASS, 1 -> XDP_DROP,
 * 2 and 3 -> XDP_PASS, else XDP_TX); table[payload[0] + 16] grows by one
 * when payload[0] is in -16..15; shorter frames and other protocols
 * return XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __s64); __uint(max_entries, 256); } deltas SEC(".maps");
__s64 last_avg;
__s32 table[32];

SEC("xdp")
int signed_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *uh = (void *)(iph + 1);
	__s8 *payload = (void *)(uh + 1);
	__s64 sum = 0, *slot;
	__s32 idx;
	__u32 key;
	int i;

	if ((void *)(payload + 16) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
#pragma unroll
	for (i = 0; i < 16; i++)
		sum += payload[i];           /* sign-extending byte loads */
	idx = (__s8)payload[0];
	if (idx < -16 || idx > 15)
		return XDP_DROP;
	if ((__u32)(idx + 16) < 32)
		table[idx + 16] += 1;
	key = (__u32)(sum / 16) & 0xff;
	slot = bpf_map_lookup_elem(&deltas, &key);
	if (!slot)
		return XDP_PASS;
	*slot = sum % 7;
	if (payload[1])
		last_avg = sum / payload[1];   /* sdiv by a runtime value */
	key = bpf_ntohl(*(__u32 *)&payload[4]);
	switch (key & 7) {
	case 0: return XDP_PASS;
	case 1: return XDP_DROP;
	case 2: table[0] = (__s16)(key >> 3); return XDP_PASS;
	case 3: table[1] = __builtin_bswap16(key); return XDP_PASS;
	default: return XDP_TX;
	}
}

char LICENSE[] SEC("license") = "GPL";
