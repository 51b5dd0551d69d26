// SPDX-License-Identifier: GPL-2.0
/*
 * Kprobe/kretprobe pair timing do_unlinkat: the entry probe stores the start
 * time per thread, the return probe computes the latency and keeps a
 * log2 histogram plus the last return value.
 *
 * Covers: SEC("kprobe/..."), SEC("kretprobe/..."), BPF_KPROBE/BPF_KRETPROBE
 * with the UAPI struct pt_regs (<linux/ptrace.h>, x86-64 names),
 * bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel,
 * a hash map keyed by thread id, an array histogram, a bounded loop.
 *
 * Expected: after `rm` of a file, hist[log2(latency_ns)] grows by one and
 * last_ret is 0 (or -ENOENT for a missing file).
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 10240);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} hist SEC(".maps");

long last_ret;
int last_dfd;

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	int i;

	for (i = 0; i < 64 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_entry, int dfd, void *name)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	last_dfd = dfd;
	bpf_map_update_elem(&start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(unlink_exit, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *begin, delta;
	__u32 slot;
	__u64 *bucket;

	begin = bpf_map_lookup_elem(&start, &tid);
	if (!begin)
		return 0;
	delta = bpf_ktime_get_ns() - *begin;
	bpf_map_delete_elem(&start, &tid);
	slot = log2_u64(delta);
	if (slot >= 64)
		slot = 63;
	bucket = bpf_map_lookup_elem(&hist, &slot);
	if (bucket)
		__sync_fetch_and_add(bucket, 1);
	last_ret = ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
