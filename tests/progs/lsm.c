// SPDX-License-Identifier: GPL-2.0
/*
 * BPF LSM: refuses file_open for inodes listed in a deny map and counts
 * decisions; also vetoes BPF_PROG_LOAD of a configured program type.
 *
 * Covers: SEC("lsm/<hook>") (BPF_LSM_MAC, attach_btf_id of bpf_lsm_<hook>),
 * BPF_PROG with the previous LSM verdict as last argument, CO-RE chained
 * reads BPF_CORE_READ(file, f_inode, i_ino) on local struct file/inode
 * definitions, a hash map of inode numbers, -EPERM return.
 *
 * Expected: opening a file whose inode number is in denied_inodes returns
 * -EPERM (-1) from the hook; other opens return the previous verdict (0);
 * bpf(BPF_PROG_LOAD) of program type deny_prog_type (default -1: none)
 * returns -EPERM.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define EPERM 1

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

union bpf_attr;

const volatile int deny_prog_type = -1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, 256);
} denied_inodes SEC(".maps");

__u64 denials;

SEC("lsm/file_open")
int BPF_PROG(deny_listed_inodes, struct file *file, int ret)
{
	__u64 ino;

	if (ret)
		return ret;
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (bpf_map_lookup_elem(&denied_inodes, &ino)) {
		__sync_fetch_and_add(&denials, 1);
		return -EPERM;
	}
	return 0;
}

SEC("lsm/bpf")
int BPF_PROG(veto_prog_type, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	__u32 prog_type = 0;

	if (ret)
		return ret;
	if (cmd != BPF_PROG_LOAD || deny_prog_type < 0)
		return 0;
	bpf_probe_read_kernel(&prog_type, sizeof(prog_type), attr);
	return prog_type == (__u32)deny_prog_type ? -EPERM : 0;
}

char LICENSE[] SEC("license") = "GPL";
