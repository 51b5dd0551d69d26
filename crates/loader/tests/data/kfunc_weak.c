// Weak extern kfuncs: one the kernel lacks keeps BTF id 0; one with a
// flavor suffix (`bpf_iter_num_destroy___flavored`) is looked up without
// it and gets the kernel's id.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int apiary_no_such_kfunc(int x) __weak __ksym;
extern void bpf_iter_num_destroy___flavored(struct bpf_iter_num *it) __weak __ksym;

SEC("xdp")
int calls_weak(struct xdp_md *ctx)
{
	struct bpf_iter_num it = {};
	int r = apiary_no_such_kfunc(2);

	bpf_iter_num_destroy___flavored(&it);
	return r;
}

char LICENSE[] SEC("license") = "GPL";
