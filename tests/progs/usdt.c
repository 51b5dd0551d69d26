// SPDX-License-Identifier: GPL-2.0
/*
 * USDT probe on a static tracepoint: libbpf's usdt.bpf.h decodes the probe's
 * argument specs at run time from its own maps.
 *
 * Covers: SEC("usdt/<binary>:<provider>:<name>"), BPF_USDT, bpf_usdt_arg_cnt,
 * bpf_usdt_cookie, the maps usdt.bpf.h defines (__bpf_usdt_specs array and
 * __bpf_usdt_ip_to_spec_id hash), the LINUX_HAS_BPF_COOKIE kconfig extern,
 * bpf_get_attach_cookie.
 *
 * Expected: every hit of the libc:setjmp probe (present in glibc builds
 * with systemtap SDT notes; Debian 12's libc has none, so this object only
 * loads here) increments hits and stores the argument count decoded from the
 * probe's note in last_arg_cnt.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <stdbool.h> /* usdt.bpf.h uses bool */
#include <bpf/usdt.bpf.h>

__u64 hits;
int last_arg_cnt;
long last_first_arg;
__u64 last_cookie;

SEC("usdt//usr/lib/x86_64-linux-gnu/libc.so.6:libc:setjmp")
int BPF_USDT(on_setjmp, void *env, int savemask)
{
	__sync_fetch_and_add(&hits, 1);
	last_arg_cnt = bpf_usdt_arg_cnt(ctx);
	last_first_arg = (long)env;
	last_cookie = bpf_usdt_cookie(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
