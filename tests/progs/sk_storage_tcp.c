// SPDX-License-Identifier: GPL-2.0
/*
 * Per-connection state in socket local storage, as TCP tuning and
 * observability programs keep it: a sockops program records, per socket,
 * when it became established and its congestion window and RTT as the
 * connection goes; a tc egress program counts, per full TCP socket, the
 * packets and bytes it sends and reads the tcp_sock counters; a
 * cgroup/sock_create program marks every new socket.
 *
 * Covers: BPF_MAP_TYPE_SK_STORAGE (BPF_F_NO_PREALLOC, int key),
 * bpf_sk_storage_get with BPF_SK_STORAGE_GET_F_CREATE on bpf_sock_ops->sk,
 * on skb->sk and on a cgroup_sock context, bpf_sk_storage_delete on state
 * change to close, bpf_sk_fullsock, bpf_tcp_sock and loads of struct
 * bpf_tcp_sock fields (snd_cwnd, srtt_us, bytes_acked), bpf_get_listener_sock.
 *
 * Expected: the sockops and cgroup/sock_create programs return 1 (allow);
 * tc_count_egress returns TC_ACT_OK (0) for every packet. In the kernel's
 * test runs skb->sk is a dummy socket that is not TCP, so only the packet
 * counters of its value move; Apiary's test runs give skb->sk as NULL.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define IPPROTO_TCP 6
#define BPF_TCP_CLOSE 7

struct conn_state {
	__u64 established_ns;
	__u32 snd_cwnd;
	__u32 srtt_us;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 bytes_acked;
	__u32 created_in_cgroup;
	__u32 listener_port;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
} conn_states SEC(".maps");

SEC("sockops")
int track_connections(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct conn_state *state;
	struct bpf_tcp_sock *tp;

	if (!sk)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		state = bpf_sk_storage_get(&conn_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (state)
			state->established_ns = bpf_ktime_get_ns();
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_RTT_CB_FLAG | BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		state = bpf_sk_storage_get(&conn_states, sk, 0, 0);
		tp = bpf_tcp_sock(sk);
		if (state && tp) {
			state->snd_cwnd = tp->snd_cwnd;
			state->srtt_us = tp->srtt_us >> 3;
		}
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			bpf_sk_storage_delete(&conn_states, sk);
		break;
	}
	return 1;
}

SEC("tc")
int tc_count_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct conn_state *state;
	struct bpf_tcp_sock *tp;
	struct bpf_sock *listener;

	if (!sk)
		return TC_ACT_OK;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return TC_ACT_OK;
	state = bpf_sk_storage_get(&conn_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!state)
		return TC_ACT_OK;
	state->tx_packets++;
	state->tx_bytes += skb->len;
	if (sk->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	tp = bpf_tcp_sock(sk);
	if (tp)
		state->bytes_acked = tp->bytes_acked;
	listener = bpf_get_listener_sock(sk);
	if (listener)
		state->listener_port = listener->src_port;
	return TC_ACT_OK;
}

SEC("cgroup/sock_create")
int mark_new_sockets(struct bpf_sock *ctx)
{
	struct conn_state *state;

	state = bpf_sk_storage_get(&conn_states, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (state)
		state->created_in_cgroup = 1;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
