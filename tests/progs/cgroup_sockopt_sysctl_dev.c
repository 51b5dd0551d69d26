// SPDX-License-Identifier: GPL-2.0
/*
 * The remaining cgroup hooks: getsockopt filtering, sysctl access control
 * and device access control.
 *
 * Covers: SEC("cgroup/getsockopt") (struct bpf_sockopt with optval bounds),
 * SEC("cgroup/sysctl") (bpf_sysctl_get_name, ctx->write),
 * SEC("cgroup/dev") (struct bpf_cgroup_dev_ctx, access_type encoding),
 * bpf_strncmp against a .rodata string constant.
 *
 * Expected: getsockopt(SOL_IP, IP_TOS) returns tos 0x10 to the caller
 * (rewritten) and 1; other options pass through unchanged with 1.
 * Writing any sysctl under "net/ipv4/ip_forward" returns 0 (EPERM), reads
 * return 1. Opening char device 1:3 (/dev/null) is allowed (1); mknod of any
 * block device is refused (0); everything else 1.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#define SOL_IP 0
#define IP_TOS 1

SEC("cgroup/getsockopt")
int rewrite_tos(struct bpf_sockopt *ctx)
{
	__u8 *optval = ctx->optval;
	__u8 *optval_end = ctx->optval_end;

	if (ctx->level != SOL_IP || ctx->optname != IP_TOS)
		return 1;
	if (optval + 1 > optval_end)
		return 1;
	optval[0] = 0x10;
	/* retval is left alone: the kernel's own getsockopt already succeeded. */
	ctx->optlen = 1;
	return 1;
}

SEC("cgroup/sysctl")
int protect_ip_forward(struct bpf_sysctl *ctx)
{
	static const char target[] = "net/ipv4/ip_forward";
	char name[32] = {};

	if (!ctx->write)
		return 1;
	if (bpf_sysctl_get_name(ctx, name, sizeof(name), 0) < 0)
		return 1;
	return bpf_strncmp(name, sizeof(target) - 1, target) == 0 ? 0 : 1;
}

SEC("cgroup/dev")
int device_policy(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 dev_type = ctx->access_type & 0xffff;
	__u32 access = ctx->access_type >> 16;

	if (dev_type == BPF_DEVCG_DEV_CHAR && ctx->major == 1 && ctx->minor == 3)
		return 1;
	if (dev_type == BPF_DEVCG_DEV_BLOCK && (access & BPF_DEVCG_ACC_MKNOD))
		return 0;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
