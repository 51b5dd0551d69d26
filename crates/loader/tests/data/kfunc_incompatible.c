// bpf_iter_num_destroy declared with a parameter too many: its prototype
// does not match the kernel's, and libbpf 1.1 refuses the extern even
// though it is weak.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern void bpf_iter_num_destroy(struct bpf_iter_num *it, int extra) __weak __ksym;

SEC("xdp")
int calls_incompatible(struct xdp_md *ctx)
{
	struct bpf_iter_num it = {};

	bpf_iter_num_destroy(&it, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
