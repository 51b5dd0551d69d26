// SPDX-License-Identifier: GPL-2.0
/*
 * BPF-to-BPF calls: static and global (non-static __noinline) functions in
 * .text shared by several programs, with a call chain four deep.
 *
 * Covers: static __noinline subprograms (call with BPF_PSEUDO_CALL, no BTF
 * FUNC linkage check), global subprograms (verified separately by the
 * kernel against their BTF signature: scalar arguments, return checked),
 * subprograms called from two different programs (libbpf appends .text to
 * each), call depth 4 (entry -> checksum_packet -> fold_words -> fold16 ->
 * add_carry), pointer-to-stack arguments.
 *
 * Expected: xdp_checksum returns XDP_PASS (2) and sets last_sum to the
 * 16-bit ones' complement sum of the first 64 bytes of the frame (bytes
 * beyond the frame count as 0, odd lengths padded); tc_checksum computes the
 * same value over the first 64 bytes for TC and returns TC_ACT_OK (0).
 * The shared global `scale(x, y)` returns x * y + 1 (used for run counts).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define WINDOW 64

__u32 last_sum;
__u64 runs;

static __noinline __u32 add_carry(__u32 sum)
{
	return (sum & 0xffff) + (sum >> 16);
}

static __noinline __u32 fold16(__u32 sum)
{
	return add_carry(add_carry(sum));
}

static __noinline __u32 fold_words(const __u8 *buf)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < WINDOW; i += 2)
		sum += ((__u32)buf[i] << 8) | buf[i + 1];
	return fold16(sum);
}

__noinline __u64 scale(__u64 x, __u64 y)
{
	return x * y + 1;
}

static __noinline __u32 checksum_packet(__u8 *window)
{
	return fold_words(window);
}

SEC("xdp")
int xdp_checksum(struct xdp_md *ctx)
{
	__u8 window[WINDOW] = {};
	__u64 len = bpf_xdp_get_buff_len(ctx);

	if (len > WINDOW)
		len = WINDOW;
	if (len)
		bpf_xdp_load_bytes(ctx, 0, window, len);
	last_sum = checksum_packet(window);
	runs = scale(runs, 1);
	return XDP_PASS;
}

SEC("tc")
int tc_checksum(struct __sk_buff *skb)
{
	__u8 window[WINDOW] = {};
	__u32 len = skb->len;

	if (len > WINDOW)
		len = WINDOW;
	if (len)
		bpf_skb_load_bytes(skb, 0, window, len);
	last_sum = checksum_packet(window);
	runs = scale(runs, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
