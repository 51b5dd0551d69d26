// SPDX-License-Identifier: GPL-2.0
/*
 * Socket-level cgroup hooks: restrict socket creation, redirect connects and
 * guard privileged binds.
 *
 * Covers: SEC("cgroup/sock_create") (struct bpf_sock), SEC("cgroup/connect4")
 * and SEC("cgroup/bind4") (struct bpf_sock_addr, rewriting user_ip4 and
 * user_port), bpf_get_current_uid_gid, a .rodata knob, a hash map of
 * connect redirections keyed by {addr, port}.
 * Return value 1 allows, 0 refuses (EPERM to the caller).
 *
 * Expected: creating a raw socket (SOCK_RAW) when deny_raw is set returns
 * 0; connect() to an {ip, port} found in redirects is rewritten to the stored
 * destination and returns 1; bind() to a port below 1024 by a non-root uid
 * returns 0, everything else 1.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SOCK_RAW 3

struct endpoint {
	__u32 addr; /* network byte order */
	__u32 port; /* network byte order in the low 16 bits */
};

const volatile __u8 deny_raw = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint);
	__type(value, struct endpoint);
	__uint(max_entries, 128);
} redirects SEC(".maps");

SEC("cgroup/sock_create")
int refuse_raw_sockets(struct bpf_sock *sk)
{
	if (deny_raw && sk->type == SOCK_RAW)
		return 0;
	return 1;
}

SEC("cgroup/connect4")
int redirect_connect(struct bpf_sock_addr *ctx)
{
	struct endpoint key = {}, *to;

	key.addr = ctx->user_ip4;
	key.port = ctx->user_port;
	to = bpf_map_lookup_elem(&redirects, &key);
	if (to) {
		ctx->user_ip4 = to->addr;
		ctx->user_port = to->port;
	}
	return 1;
}

SEC("cgroup/bind4")
int guard_low_ports(struct bpf_sock_addr *ctx)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u16 port = bpf_ntohs((__u16)ctx->user_port);

	if (port && port < 1024 && uid != 0)
		return 0;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
