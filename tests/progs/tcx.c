// SPDX-License-Identifier: GPL-2.0
/*
 * TCX (the link-based TC hook of Linux 6.6+): SEC("tcx/ingress") and
 * SEC("tcx/egress"), both BPF_PROG_TYPE_SCHED_CLS with expected attach types
 * BPF_TCX_INGRESS (46) / BPF_TCX_EGRESS (47). libbpf 1.1 does not know the
 * names; the numeric values are defined here because the 6.1 UAPI headers
 * on this machine predate TCX.
 *
 * Covers: tcx/ingress, tcx/egress, TCX_NEXT / TCX_PASS / TCX_DROP return
 * codes, skb->mark.
 *
 * Expected: tcx_mark_in returns TCX_NEXT (-1) after setting skb->mark to
 * 0xcafe; tcx_drop_marked_out returns TCX_DROP (2) for a packet whose mark is
 * 0xdead and TCX_PASS (0) otherwise.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TCX_NEXT -1
#define TCX_PASS 0
#define TCX_DROP 2

SEC("tcx/ingress")
int tcx_mark_in(struct __sk_buff *skb)
{
	skb->mark = 0xcafe;
	return TCX_NEXT;
}

SEC("tcx/egress")
int tcx_drop_marked_out(struct __sk_buff *skb)
{
	return skb->mark == 0xdead ? TCX_DROP : TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
