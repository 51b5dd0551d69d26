// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal TCP congestion control (Reno-like) written as struct_ops: the
 * kernel calls these programs through struct tcp_congestion_ops.
 *
 * Covers: SEC("struct_ops/<name>") programs, a SEC(".struct_ops") map whose
 * value is a local struct tcp_congestion_ops with function pointers and a
 * name (libbpf matches members by name against vmlinux BTF), BPF_PROG, CO-RE
 * field access on local struct sock / tcp_sock definitions.
 *
 * Expected: once registered as "apiary_reno", ssthresh returns
 * max(snd_cwnd / 2, 2), cong_avoid grows snd_cwnd by one per RTT (slow start
 * below ssthresh), undo_cwnd returns max(snd_cwnd, prior_cwnd).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock {
	int sk_state;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
} __attribute__((preserve_access_index));

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	char name[16];
} __attribute__((preserve_access_index));

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

SEC("struct_ops/apiary_init")
void BPF_PROG(apiary_init, struct sock *sk)
{
}

SEC("struct_ops/apiary_ssthresh")
__u32 BPF_PROG(apiary_ssthresh, struct sock *sk)
{
	__u32 half = tcp_sk(sk)->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops/apiary_cong_avoid")
void BPF_PROG(apiary_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (tp->snd_cwnd < tp->snd_ssthresh) {
		tp->snd_cwnd += acked;
		return;
	}
	if (++tp->snd_cwnd_cnt >= tp->snd_cwnd) {
		tp->snd_cwnd_cnt = 0;
		tp->snd_cwnd++;
	}
}

SEC("struct_ops/apiary_undo_cwnd")
__u32 BPF_PROG(apiary_undo_cwnd, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops apiary_reno = {
	.init = (void *)apiary_init,
	.ssthresh = (void *)apiary_ssthresh,
	.cong_avoid = (void *)apiary_cong_avoid,
	.undo_cwnd = (void *)apiary_undo_cwnd,
	.name = "apiary_reno",
};

char LICENSE[] SEC("license") = "GPL";
