// SPDX-License-Identifier: GPL-2.0
/*
 * Socket lookup steering: any TCP connection to a port listed in `ports`
 * is delivered to the single listening socket stored in `target`.
 *
 * Covers: SEC("sk_lookup") (struct bpf_sk_lookup), bpf_map_lookup_elem on a
 * sockmap returning a socket reference, bpf_sk_assign, bpf_sk_release,
 * a hash map used as a set.
 *
 * Expected: for protocol TCP and local_port in ports with a socket at
 * target[0], the socket is assigned and the program returns SK_PASS (1);
 * ports not listed return SK_PASS without assignment (normal lookup);
 * a listed port with no socket installed returns SK_DROP (0).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, __u8);
	__uint(max_entries, 64);
} ports SEC(".maps");

SEC("sk_lookup")
int steer_ports(struct bpf_sk_lookup *ctx)
{
	__u16 port = ctx->local_port;
	__u32 zero = 0;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if (!bpf_map_lookup_elem(&ports, &port))
		return SK_PASS;
	sk = bpf_map_lookup_elem(&target, &zero);
	if (!sk)
		return SK_DROP;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
