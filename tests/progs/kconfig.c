// SPDX-License-Identifier: GPL-2.0
/*
 * .kconfig externs: libbpf fills them from the running kernel's version and
 * /proc/config.gz (or /boot/config-*) into a read-only internal map.
 *
 * Covers: extern LINUX_KERNEL_VERSION __kconfig (computed by libbpf),
 * extern bool/tristate/int CONFIG_* __kconfig, __weak externs that may be
 * missing (become 0), enum libbpf_tristate, LINUX_HAS_BPF_COOKIE.
 *
 * Expected on this machine (Linux 6.18.x, CONFIG_BPF_JIT=y,
 * CONFIG_HZ=250, no CONFIG_APIARY_NOT_A_REAL_OPTION): a socket-filter test
 * run returns 1 when LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 8, 0) and the
 * JIT is built in; kernel_major = 6, hz = 250, missing_option = 0.
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#define VERSION_CODE(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_JIT __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_LSM __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern bool CONFIG_APIARY_NOT_A_REAL_OPTION __kconfig __weak;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;

int kernel_major;
int hz;
int missing_option;
int lsm_state;
int has_cookie;

SEC("socket")
int check_kernel(struct __sk_buff *skb)
{
	kernel_major = LINUX_KERNEL_VERSION >> 16;
	hz = CONFIG_HZ;
	missing_option = CONFIG_APIARY_NOT_A_REAL_OPTION;
	lsm_state = CONFIG_BPF_LSM;
	has_cookie = LINUX_HAS_BPF_COOKIE;
	return LINUX_KERNEL_VERSION >= VERSION_CODE(5, 8, 0) && CONFIG_BPF_JIT;
}

char LICENSE[] SEC("license") = "GPL";
