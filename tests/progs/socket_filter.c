// SPDX-License-Identifier: GPL-2.0
/*
 * Socket filter that keeps only IPv4 TCP and UDP packets, truncated to their
 * headers, and counts the transport protocols it sees.
 *
 * Covers: SEC("socket") (BPF_PROG_TYPE_SOCKET_FILTER), the legacy LD_ABS /
 * LD_IND packet loads (load_byte/load_half builtins), bpf_skb_load_bytes,
 * skb->protocol and skb->len, an LRU hash keyed by protocol.
 * Note: for socket filters skb data starts at the network header (the
 * Ethernet header is already consumed), so offsets below are L3-relative.
 *
 * Expected return value (bytes kept): 0 for non-IPv4 or protocols other
 * than TCP/UDP and for TCP with source port 0; for TCP ihl*4 + 20 (IP + TCP header), for UDP ihl*4 + 8.
 * seen{protocol} counts every IPv4 packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u8);
	__type(value, __u64);
	__uint(max_entries, 64);
} seen SEC(".maps");

SEC("socket")
int keep_tcp_udp_headers(struct __sk_buff *skb)
{
	__u8 version_ihl, proto;
	__u64 one = 1, *count;
	__u32 ihl_bytes;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, 0, &version_ihl, 1))
		return 0;
	if ((version_ihl >> 4) != 4)
		return 0;
	ihl_bytes = (version_ihl & 0xf) * 4;
	proto = load_byte(skb, offsetof(struct iphdr, protocol));

	count = bpf_map_lookup_elem(&seen, &proto);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&seen, &proto, &one, BPF_ANY);

	if (proto == IPPROTO_TCP) {
		/* Source port 0 is never legitimate; read it with LD_IND. */
		if (load_half(skb, ihl_bytes) == 0)
			return 0;
		return ihl_bytes + 20;
	}
	if (proto == IPPROTO_UDP)
		return ihl_bytes + 8;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
