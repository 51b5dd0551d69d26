/* Programs the kernel's verifier refuses, each breaking one bound that
 * Apiary's interpreter enforces at run time instead: an endless loop (the
 * instruction budget) and accesses outside the memory a program may use
 * (the packet, a map value, the stack, the context, no region at all).
 * crates/cli/tests/run_limits.rs and crates/apiary/tests/api.rs run them
 * and check that the error names the bound. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("xdp")
int spin(struct xdp_md *ctx)
{
	volatile int x = ctx->data_end != 0;

	while (x) {
	}
	return XDP_PASS;
}

SEC("xdp")
int past_packet(struct xdp_md *ctx)
{
	return *(volatile __u8 *)((void *)(long)ctx->data + 5000);
}

SEC("xdp")
int past_value(struct xdp_md *ctx)
{
	__u32 key = 0;
	char *value = bpf_map_lookup_elem(&counters, &key);

	if (!value)
		return XDP_ABORTED;
	*(volatile __u32 *)(value + 12) = 1;
	return XDP_PASS;
}

SEC("xdp")
int below_stack(struct xdp_md *ctx)
{
	long below;

	/* 8 bytes under the 512-byte frame: C cannot say it without UB. */
	asm volatile("%0 = *(u64 *)(r10 - 520)" : "=r"(below));
	return below;
}

SEC("xdp")
int wild_pointer(struct xdp_md *ctx)
{
	return *(volatile __u32 *)0x1000;
}

SEC("xdp")
int past_context(struct xdp_md *ctx)
{
	__u32 key = 0;

	/* The helper reads 8 bytes far past the context. */
	bpf_map_update_elem(&counters, &key, (char *)ctx + 4000, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
