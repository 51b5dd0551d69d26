// SPDX-License-Identifier: GPL-2.0
/*
 * Event output paths: ring buffer reserve/submit and discard,
 * bpf_ringbuf_output, perf event array output, bpf_printk to the trace
 * pipe, plus the timing and randomness helpers the events carry.
 *
 * Covers: BPF_MAP_TYPE_RINGBUF (max_entries a power-of-two page multiple),
 * bpf_ringbuf_reserve/submit/discard/output/query, BPF_MAP_TYPE_PERF_EVENT_ARRAY
 * with bpf_perf_event_output(BPF_F_CURRENT_CPU), bpf_printk (format string in
 * .rodata), bpf_get_prandom_u32, bpf_ktime_get_ns, bpf_ktime_get_boot_ns,
 * SEC("xdp").
 *
 * Expected for an XDP test-run of an N-byte frame: returns XDP_PASS (2);
 * the ring buffer receives one struct pkt_event {len = N, seq = run number
 * starting at 1, sampled = (random & 1)} unless the random draw's low 4 bits
 * are all zero (then the reserved record is discarded and `discarded`
 * counts it), then always one 8-byte bpf_ringbuf_output record with the
 * timestamp; the perf buffer of the current CPU gets {len, seq}; the trace
 * pipe gets "apiary: len=N seq=S".
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pkt_event {
	__u64 timestamp_ns;
	__u32 len;
	__u32 seq;
	__u32 random;
	__u32 sampled;
};

struct perf_record {
	__u32 len;
	__u32 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, int);
	__uint(max_entries, 128);
} perf SEC(".maps");

__u32 seq;
__u64 discarded;
__u64 ring_pending_bytes;

SEC("xdp")
int xdp_emit_events(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 rnd = bpf_get_prandom_u32();
	__u64 boot_ns = bpf_ktime_get_boot_ns();
	struct perf_record rec;
	struct pkt_event *e;

	seq++;
	e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);
	if (e) {
		e->timestamp_ns = bpf_ktime_get_ns();
		e->len = len;
		e->seq = seq;
		e->random = rnd;
		e->sampled = rnd & 1;
		if ((rnd & 0xf) == 0) {
			bpf_ringbuf_discard(e, 0);
			discarded++;
		} else {
			bpf_ringbuf_submit(e, 0);
		}
	}
	bpf_ringbuf_output(&ring, &boot_ns, sizeof(boot_ns), 0);
	ring_pending_bytes = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);

	rec.len = len;
	rec.seq = seq;
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	bpf_printk("apiary: len=%u seq=%u", len, seq);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
