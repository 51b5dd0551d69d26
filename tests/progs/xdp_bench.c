// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark programs of `apiary bench` (issue 13): plain XDP programs
 * with no maps and no helpers, so that the kernel's test run, both of
 * Apiary's tiers and rbpf's JIT can all run them on the same packet.
 * Each writes what it computed into the first bytes of the packet (the
 * destination MAC) and reads only later bytes, so that repeated runs on the
 * same packet (test-run `repeat`) compute the same thing every time, and
 * the packet after the run shows whether two engines agree.
 *
 * Expected (a frame of at least 1,500 bytes; shorter frames: XDP_ABORTED,
 * packet unchanged, except bench_empty and bench_parse):
 *   bench_empty:   XDP_PASS, nothing touched (per-run overhead).
 *   bench_alu:     1,000 rounds of multiply/xor/rotate/add seeded by bytes
 *                  8..16; the 64-bit result in bytes 0..8; XDP_DROP or
 *                  XDP_PASS by its low bit.
 *   bench_csum:    the Internet checksum (RFC 1071) of bytes 14..1514
 *                  (1,500 bytes) in bytes 0..2; XDP_PASS.
 *   bench_parse:   Ethernet (one 802.1Q tag), IPv4 (options) or IPv6, TCP
 *                  or UDP; TCP SYN to port 22 or 23: XDP_DROP; UDP to 53:
 *                  XDP_TX; other TCP/UDP: XDP_PASS; anything else or
 *                  truncated: XDP_ABORTED. Nothing written.
 *   bench_div:     200 rounds of 64-bit division and modulo by a divisor
 *                  from the packet (bytes 8..16, forced odd); the result
 *                  in bytes 0..8; XDP_PASS.
 *   bench_copy:    copies bytes 14..718 (704 bytes, 8 at a time) to
 *                  718..1422; XDP_PASS.
 *   bench_fsm:     a switch-based tokenizer (states: space, word, number,
 *                  quoted, escape) over bytes 14..270; the token count in
 *                  bytes 0..4; XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FRAME_LEN 1514

/* The packet if it holds FRAME_LEN bytes, else NULL. */
static __always_inline unsigned char *full_frame(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;

	if (data + FRAME_LEN > data_end)
		return 0;
	return data;
}

static __always_inline __u64 load_u64(const unsigned char *p)
{
	__u64 value;

	__builtin_memcpy(&value, p, sizeof(value));
	return value;
}

static __always_inline void store_u64(unsigned char *p, __u64 value)
{
	__builtin_memcpy(p, &value, sizeof(value));
}

SEC("xdp")
int bench_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_alu(struct xdp_md *ctx)
{
	unsigned char *data = full_frame(ctx);
	__u64 x, y = 0x9e3779b97f4a7c15ULL;

	if (!data)
		return XDP_ABORTED;
	x = load_u64(data + 8);
	for (int i = 0; i < 1000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		y ^= x >> 17;
		y = (y << 5) | (y >> 59);
		y += (x & 0xffff) - i;
	}
	store_u64(data, y);
	return (y & 1) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int bench_csum(struct xdp_md *ctx)
{
	unsigned char *data = full_frame(ctx);
	__u32 sum = 0;

	if (!data)
		return XDP_ABORTED;
	for (int i = 0; i < 750; i++) {
		__u16 word;

		__builtin_memcpy(&word, data + ETH_HLEN + 2 * i, sizeof(word));
		sum += word;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*(__u16 *)data = (__u16)~sum;
	return XDP_PASS;
}

/* The verdict for a transport header at `l4` of protocol `proto`. */
static __always_inline int classify_l4(unsigned char *l4, void *data_end, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)l4;

		if ((void *)(tcp + 1) > data_end)
			return XDP_ABORTED;
		if (tcp->syn && !tcp->ack &&
		    (tcp->dest == bpf_htons(22) || tcp->dest == bpf_htons(23)))
			return XDP_DROP;
		return XDP_PASS;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = (void *)l4;

		if ((void *)(udp + 1) > data_end)
			return XDP_ABORTED;
		return udp->dest == bpf_htons(53) ? XDP_TX : XDP_PASS;
	}
	return XDP_ABORTED;
}

SEC("xdp")
int bench_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char *l3;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	proto = eth->h_proto;
	l3 = (void *)(eth + 1);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		if ((void *)(l3 + 4) > data_end)
			return XDP_ABORTED;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)l3;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return XDP_ABORTED;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip) || ip->frag_off & bpf_htons(0x3fff))
			return XDP_ABORTED;
		return classify_l4(l3 + ihl, data_end, ip->protocol);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)l3;

		if ((void *)(ip6 + 1) > data_end)
			return XDP_ABORTED;
		return classify_l4((void *)(ip6 + 1), data_end, ip6->nexthdr);
	}
	return XDP_ABORTED;
}

SEC("xdp")
int bench_div(struct xdp_md *ctx)
{
	unsigned char *data = full_frame(ctx);
	__u64 x = 0xfedcba9876543210ULL, d;

	if (!data)
		return XDP_ABORTED;
	d = load_u64(data + 8) | 1;
	for (int i = 0; i < 200; i++) {
		__u64 q = x / d, r = x % d;

		x = (x ^ (q << 7)) + r + i;
		d = ((d >> 3) ^ (q & 0xffff)) | 1;
	}
	store_u64(data, x);
	return XDP_PASS;
}

SEC("xdp")
int bench_copy(struct xdp_md *ctx)
{
	unsigned char *data = full_frame(ctx);

	if (!data)
		return XDP_ABORTED;
	for (int i = 0; i < 88; i++)
		store_u64(data + 718 + 8 * i, load_u64(data + ETH_HLEN + 8 * i));
	return XDP_PASS;
}

enum fsm_state { SPACE, WORD, NUMBER, QUOTED, ESCAPE };

SEC("xdp")
int bench_fsm(struct xdp_md *ctx)
{
	unsigned char *data = full_frame(ctx);
	enum fsm_state state = SPACE;
	__u32 tokens = 0;

	if (!data)
		return XDP_ABORTED;
	for (int i = 0; i < 256; i++) {
		unsigned char c = data[ETH_HLEN + i];

		switch (state) {
		case SPACE:
			if (c == '"') {
				state = QUOTED;
				tokens++;
			} else if (c >= '0' && c <= '9') {
				state = NUMBER;
				tokens++;
			} else if (c > ' ') {
				state = WORD;
				tokens++;
			}
			break;
		case WORD:
			if (c <= ' ')
				state = SPACE;
			break;
		case NUMBER:
			if (c <= ' ')
				state = SPACE;
			else if (c < '0' || c > '9')
				state = WORD;
			break;
		case QUOTED:
			if (c == '\\')
				state = ESCAPE;
			else if (c == '"')
				state = SPACE;
			break;
		case ESCAPE:
			state = QUOTED;
			break;
		}
	}
	*(__u32 *)data = tokens;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
