// SPDX-License-Identifier: GPL-2.0
/*
 * A token-bucket rate limiter whose state lives in a map value guarded by a
 * struct bpf_spin_lock (the verifier requires the lock to be released on
 * every path and forbids helper calls while it is held).
 *
 * Covers: struct bpf_spin_lock in a hash map value (BTF needed to find the
 * lock's offset), bpf_spin_lock/bpf_spin_unlock, bpf_ktime_get_ns,
 * SEC("tc"), a BTF-described value struct.
 *
 * Expected: with bucket {tokens = 2, rate_per_sec = 0} stored at key
 * skb->ifindex (1 for test-run on lo), the first two TC test-runs return
 * TC_ACT_OK (0) and the third TC_ACT_SHOT (2); without a bucket for the
 * ifindex the program returns TC_ACT_OK. A configured rate refills
 * rate_per_sec tokens per elapsed second up to burst.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct bucket {
	struct bpf_spin_lock lock;
	__u32 tokens;
	__u32 burst;
	__u32 rate_per_sec;
	__u64 last_refill_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct bucket);
	__uint(max_entries, 64);
} buckets SEC(".maps");

SEC("tc")
int rate_limit(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	__u64 now = bpf_ktime_get_ns();
	struct bucket *b;
	__u64 refill;
	int verdict;

	b = bpf_map_lookup_elem(&buckets, &ifindex);
	if (!b)
		return TC_ACT_OK;

	bpf_spin_lock(&b->lock);
	if (b->rate_per_sec && now > b->last_refill_ns) {
		refill = (now - b->last_refill_ns) / 1000000000ULL * b->rate_per_sec;
		if (refill) {
			b->tokens = b->tokens + refill > b->burst ? b->burst : b->tokens + refill;
			b->last_refill_ns = now;
		}
	}
	if (b->tokens) {
		b->tokens--;
		verdict = TC_ACT_OK;
	} else {
		verdict = TC_ACT_SHOT;
	}
	bpf_spin_unlock(&b->lock);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
