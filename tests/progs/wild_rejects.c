// SPDX-License-Identifier: GPL-2.0
/*
 * Programs with the mistakes people make most, each refused by the kernel:
 * a header read past the last bounds check, a map lookup used without a
 * NULL check, a ring-buffer record leaked on one path, a record written
 * after it was submitted, a socket from bpf_sk_lookup_tcp never released
 * (and one released on one path only), a bpf_spin_lock still held at a
 * return, a map value indexed by an unbounded length, socket fields a
 * socket pointer does not offer (skb->sk's protocol, one byte of a port),
 * a lookup that may fail passed to a global function's __arg_nonnull.
 *
 * Covers: the verifier's refusals (packet bounds, NULL checks, reference
 * leaks, use after release, spin lock at exit, unbounded variable offset,
 * struct bpf_sock field access)
 * and the kernel's error line for each; tests/verifier holds the reduced
 * cases.
 *
 * Expected: the kernel refuses every program; `bpftool prog loadall`
 * fails on the first.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct bucket { struct bpf_spin_lock lock; __u64 tokens; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct bucket); __uint(max_entries, 4); } buckets SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");

/* reads the TCP ports after checking only the IP header */
SEC("xdp")
int ports_unchecked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	return th->dest == bpf_htons(22) ? XDP_DROP : XDP_PASS;
}

/* increments a counter without checking the lookup for NULL */
SEC("xdp")
int lookup_unchecked(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	*v += 1;
	return XDP_PASS;
}

/* forgets to submit the reserved record on one path */
SEC("xdp")
int ringbuf_leak(struct xdp_md *ctx)
{
	__u32 *len = bpf_ringbuf_reserve(&events, sizeof(*len), 0);
	if (!len)
		return XDP_PASS;
	*len = ctx->data_end - ctx->data;
	if (*len < 64)
		return XDP_DROP;
	bpf_ringbuf_submit(len, 0);
	return XDP_PASS;
}

/* looks a socket up and never releases it */
SEC("tc")
int socket_leak(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;

	tuple.ipv4.daddr = bpf_htonl(0x7f000001);
	tuple.ipv4.dport = bpf_htons(80);
	sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), -1, 0);
	if (!sk)
		return 0;
	return sk->state == 10 ? 2 : 0;
}

/* returns with the bucket lock still held when tokens run out */
SEC("tc")
int lock_held_at_exit(struct __sk_buff *skb)
{
	__u32 key = skb->mark & 3;
	struct bucket *b = bpf_map_lookup_elem(&buckets, &key);

	if (!b)
		return 0;
	bpf_spin_lock(&b->lock);
	if (!b->tokens)
		return 2;
	b->tokens--;
	bpf_spin_unlock(&b->lock);
	return 0;
}

/* indexes a map value with a length the program never bounds */
SEC("tc")
int unbounded_index(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct bucket *b = bpf_map_lookup_elem(&buckets, &key);
	__u8 *bytes;

	if (!b)
		return 0;
	bytes = (__u8 *)&b->tokens;
	return bytes[skb->len];
}


/* writes the record after submitting it */
SEC("xdp")
int ringbuf_use_after_submit(struct xdp_md *ctx)
{
	__u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return XDP_PASS;
	bpf_ringbuf_submit(rec, 0);
	*rec = 1;
	return XDP_PASS;
}

/* releases the looked-up socket only when it is listening */
SEC("tc")
int release_on_one_path(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), -1, 0);

	if (!sk)
		return 0;
	if (sk->state == 10) {
		bpf_sk_release(sk);
		return 1;
	}
	return 0;
}
/* reads the protocol of skb->sk, which only a full socket has */
SEC("cgroup_skb/egress")
int sock_common_protocol(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 1;
	return sk->protocol == IPPROTO_TCP;
}

/* reads the high byte of a socket's port with a one-byte load */
SEC("tc")
int sock_port_byte(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), -1, 0);
	__u8 hi;

	if (!sk)
		return 0;
	hi = *((__u8 *)&sk->src_port + 1);
	bpf_sk_release(sk);
	return hi;
}

#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

__noinline int take_one(__u64 *count __arg_nonnull)
{
	return *count ? 1 : 0;
}

/* passes a lookup that may fail to a parameter tagged non-NULL */
SEC("tc")
int nonnull_arg_unchecked(struct __sk_buff *skb)
{
	__u32 key = skb->mark & 3;

	return take_one(bpf_map_lookup_elem(&counts, &key));
}

char LICENSE[] SEC("license") = "GPL";
