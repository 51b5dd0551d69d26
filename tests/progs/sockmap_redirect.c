// SPDX-License-Identifier: GPL-2.0
/*
 * A sockmap-based local proxy: sockops adds established TCP sockets to a
 * sockhash keyed by their 4-tuple, sk_skb parses/redirects stream data, and
 * sk_msg redirects sendmsg payloads to the peer socket.
 *
 * Covers: SEC("sockops") (bpf_sock_ops_cb_flags_set, bpf_sock_hash_update),
 * SEC("sk_skb/stream_parser"), SEC("sk_skb/stream_verdict")
 * (bpf_sk_redirect_map), SEC("sk_msg") (bpf_msg_redirect_hash,
 * bpf_msg_apply_bytes), map types sockmap and sockhash, bpf_htonl/bpf_ntohl.
 *
 * Expected: an established IPv4 TCP connection is inserted into sock_by_tuple
 * under {local ip, remote ip, local port, remote port}; the stream parser
 * returns skb->len (whole buffer is one message); the verdict program
 * returns SK_PASS (1) if a socket at index 0 of sock_slots exists,
 * SK_DROP (0) otherwise; sk_msg returns SK_PASS when the reverse tuple is in
 * sock_by_tuple (redirected), and SK_PASS without redirect otherwise.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

struct sock_tuple {
	__u32 local_ip4;
	__u32 remote_ip4;
	__u32 local_port;  /* host byte order */
	__u32 remote_port; /* host byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__type(key, struct sock_tuple);
	__type(value, __u64);
	__uint(max_entries, 1024);
} sock_by_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} sock_slots SEC(".maps");

SEC("sockops")
int track_established(struct bpf_sock_ops *skops)
{
	struct sock_tuple key = {};

	if (skops->family != AF_INET)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		key.local_ip4 = skops->local_ip4;
		key.remote_ip4 = skops->remote_ip4;
		key.local_port = skops->local_port;
		key.remote_port = bpf_ntohl(skops->remote_port);
		bpf_sock_hash_update(skops, &sock_by_tuple, &key, BPF_NOEXIST);
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	default:
		break;
	}
	return 1;
}

SEC("sk_skb/stream_parser")
int parse_whole_buffer(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int redirect_to_slot0(struct __sk_buff *skb)
{
	return bpf_sk_redirect_map(skb, &sock_slots, 0, 0);
}

SEC("sk_msg")
int redirect_to_peer(struct sk_msg_md *msg)
{
	struct sock_tuple peer = {};

	if (msg->family != AF_INET)
		return SK_PASS;
	peer.local_ip4 = msg->remote_ip4;
	peer.remote_ip4 = msg->local_ip4;
	peer.local_port = bpf_ntohl(msg->remote_port);
	peer.remote_port = msg->local_port;
	bpf_msg_apply_bytes(msg, 4096);
	bpf_msg_redirect_hash(msg, &sock_by_tuple, &peer, BPF_F_INGRESS);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
