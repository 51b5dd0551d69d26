// SPDX-License-Identifier: GPL-2.0
/*
 * User-space probes on glibc's malloc: the uprobe records the requested size
 * per thread, the uretprobe pairs it with the returned pointer and sums the
 * bytes allocated per process.
 *
 * Covers: SEC("uprobe/<binary>:<function>"), SEC("uretprobe/<binary>:<function>"),
 * BPF_KPROBE/BPF_KRETPROBE (libbpf 1.1 predates the BPF_UPROBE aliases), UAPI struct pt_regs,
 * bpf_get_current_comm, a percpu_hash and an lru_percpu_hash.
 *
 * Expected: each malloc(n) in a traced process adds n to allocated{tgid};
 * returned NULLs count in failed{tgid}.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4096);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} allocated SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} failed SEC(".maps");

char last_comm[16];

SEC("uprobe//usr/lib/x86_64-linux-gnu/libc.so.6:malloc")
int BPF_KPROBE(malloc_enter, unsigned long size)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 requested = size;

	bpf_map_update_elem(&pending, &tid, &requested, BPF_ANY);
	return 0;
}

SEC("uretprobe//usr/lib/x86_64-linux-gnu/libc.so.6:malloc")
int BPF_KRETPROBE(malloc_exit, void *ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	__u64 *size, *total, one = 1;

	size = bpf_map_lookup_elem(&pending, &tid);
	if (!size)
		return 0;
	if (!ptr) {
		total = bpf_map_lookup_elem(&failed, &tgid);
		if (total)
			*total += 1;
		else
			bpf_map_update_elem(&failed, &tgid, &one, BPF_NOEXIST);
	} else {
		total = bpf_map_lookup_elem(&allocated, &tgid);
		if (total)
			*total += *size;
		else
			bpf_map_update_elem(&allocated, &tgid, size, BPF_NOEXIST);
	}
	bpf_get_current_comm(last_comm, sizeof(last_comm));
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
