// SPDX-License-Identifier: GPL-2.0
/*
 * An XDP policer built from the callback-style helpers: a token bucket per
 * receive queue under a bpf_spin_lock (taken in a static subprogram that
 * the verifier walks in its caller's state), a byte histogram of a global
 * scratch buffer counted by a bpf_loop callback, ageing of a hash of
 * timestamps with bpf_for_each_map_elem (the callback deletes old
 * entries), a bpf_timer armed with a callback, and a global function that
 * the kernel verifies once against its BTF signature (a context pointer).
 *
 * Covers: bpf_loop with a callback writing through its context (a stack
 * struct), bpf_for_each_map_elem with a callback deleting from the map it
 * walks, bpf_timer_init/set_callback/start on a map value, bpf_spin_lock/
 * unlock in an array value, a global __noinline function taking
 * struct xdp_md *, a static __noinline one taking a map value, .bss data.
 *
 * Expected for an XDP test-run of a 60-byte Ethernet frame (rx queue 0)
 * with the maps empty: the bucket of queue 0 was last filled at time 0,
 * so it fills to its cap of 100 tokens and the run takes one: XDP_PASS
 * (2); zeros_seen = 64 (the scratch buffer is all zero); frames shorter
 * than an Ethernet header return XDP_DROP (1). The timer (one hour) never
 * fires during a run.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MONOTONIC 1
struct bucket { struct bpf_spin_lock lock; __u64 tokens; __u64 last; };
struct tval { struct bpf_timer t; __u64 fired; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct bucket); __uint(max_entries, 16); } buckets SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct tval); __uint(max_entries, 1); } timers SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 128); } ages SEC(".maps");

struct scan_ctx { __u32 len; __u32 zeros; __u64 hist[8]; };
__u64 expired, zeros_seen, timer_runs;
__u8 scratch[64];

static int count_byte(__u32 i, struct scan_ctx *c)
{
	if (i >= 64)
		return 1;
	__u8 b = scratch[i & 63];
	if (!b)
		c->zeros++;
	c->hist[b & 7]++;
	return 0;
}

static long expire(void *map, __u32 *key, __u64 *age, __u64 *now)
{
	if (*now - *age > 1000000000ULL) {
		bpf_map_delete_elem(map, key);
		expired++;
	}
	return 0;
}

static int on_timer(void *map, __u32 *key, struct tval *v)
{
	v->fired++;
	timer_runs++;
	return 0;
}

static __noinline int take_tokens(struct bucket *b, __u64 now, __u64 cost)
{
	int ok = 0;
	if (!b)
		return 0;
	bpf_spin_lock(&b->lock);
	b->tokens += (now - b->last) / 1000;
	if (b->tokens > 100)
		b->tokens = 100;
	b->last = now;
	if (b->tokens >= cost) {
		b->tokens -= cost;
		ok = 1;
	}
	bpf_spin_unlock(&b->lock);
	return ok;
}

__noinline int frame_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if (!ctx || (void *)(eth + 1) > data_end)
		return -1;
	return eth->h_proto;
}


SEC("xdp")
int police(struct xdp_md *ctx)
{
	struct scan_ctx c = { .len = 64 };
	__u32 k = ctx->rx_queue_index & 15;
	__u64 now = bpf_ktime_get_ns();
	struct bucket *b = bpf_map_lookup_elem(&buckets, &k);
	struct tval *tv;
	__u32 zero = 0;

	if (frame_proto(ctx) < 0)
		return XDP_DROP;
	bpf_loop(64, count_byte, &c, 0);
	zeros_seen = c.zeros;
	bpf_for_each_map_elem(&ages, expire, &now, 0);
	tv = bpf_map_lookup_elem(&timers, &zero);
	if (tv) {
		bpf_timer_init(&tv->t, &timers, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&tv->t, on_timer);
		/* an hour: the callback never fires during a test run */
		bpf_timer_start(&tv->t, 3600ULL * 1000000000ULL, 0);
	}
	if (!b)
		return XDP_PASS;
	return take_tokens(b, now, 1) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
