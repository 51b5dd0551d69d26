// A strong extern kfunc no kernel has: libbpf fails the load.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int apiary_no_such_kfunc(int x) __ksym;

SEC("xdp")
int calls_missing(struct xdp_md *ctx)
{
	return apiary_no_such_kfunc(2);
}

char LICENSE[] SEC("license") = "GPL";
