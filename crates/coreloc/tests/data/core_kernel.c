// CO-RE relocations of every kind against real kernel types, resolved by
// apiary-coreloc and compared with what libbpf (bpftool prog load) computes.
// Local type definitions deliberately differ from the kernel's: fields are
// reordered and omitted, one is wider than in the kernel, a flavor has a
// field the kernel lacks, and a local enum carries wrong values.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct list_head {
	struct list_head *next;
	struct list_head *prev;
} __attribute__((preserve_access_index));

struct task_struct {
	char comm[16];
	int tgid;
	int pid;
	/* the kernel's is `unsigned int`: the 8-byte load must shrink to 4 */
	unsigned long long flags;
	struct list_head tasks;
	struct task_struct *real_parent;
	unsigned int sched_reset_on_fork : 1;
	unsigned int sched_contributes_to_load : 1;
	unsigned int in_execve : 1;
	int prio;
} __attribute__((preserve_access_index));

struct task_struct___old {
	int pid;
	long apiary_field_gone_long_ago;
} __attribute__((preserve_access_index));

struct sk_buff {
	__u8 pfmemalloc : 1;
	__u8 cloned : 1;
	unsigned int len;
	__u16 protocol;
	__u32 mark;
} __attribute__((preserve_access_index));

struct apiary_no_such_type {
	int x;
} __attribute__((preserve_access_index));

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 100,
	BPF_MAP_TYPE_ARENA = 101,
	APIARY_MAP_TYPE_MISSING = 102,
};

enum perf_callchain_context {
	PERF_CONTEXT_MAX = 1,
};

__u64 out[64];

#define FIELD(n, expr, kind) out[n] = __builtin_preserve_field_info(expr, kind)

SEC("tp_btf/sched_switch")
int core_kernel(unsigned long long *ctx)
{
	struct task_struct *prev = (void *)ctx[1];
	struct task_struct___old *old = (void *)prev;
	struct sk_buff *skb = (void *)0;

	/* direct loads: LDX offsets, a resized load, pointer chase */
	out[0] = prev->pid;
	out[1] = prev->tgid;
	out[2] = prev->flags;
	out[3] = prev->comm[3];
	out[4] = (unsigned long)prev->tasks.next;
	out[5] = prev->real_parent->pid;
	out[6] = prev->prio;

	/* field aspects, including bitfields */
	FIELD(7, prev->pid, BPF_FIELD_BYTE_OFFSET);
	FIELD(8, prev->comm, BPF_FIELD_BYTE_SIZE);
	FIELD(9, prev->sched_contributes_to_load, BPF_FIELD_BYTE_OFFSET);
	FIELD(10, prev->sched_contributes_to_load, BPF_FIELD_BYTE_SIZE);
	FIELD(11, prev->sched_contributes_to_load, BPF_FIELD_LSHIFT_U64);
	FIELD(12, prev->sched_contributes_to_load, BPF_FIELD_RSHIFT_U64);
	FIELD(13, prev->in_execve, BPF_FIELD_LSHIFT_U64);
	FIELD(14, prev->in_execve, BPF_FIELD_SIGNED);
	FIELD(15, prev->prio, BPF_FIELD_SIGNED);
	FIELD(16, prev->flags, BPF_FIELD_SIGNED);
	FIELD(17, prev->tasks.prev, BPF_FIELD_BYTE_OFFSET);
	FIELD(18, prev->comm[5], BPF_FIELD_BYTE_OFFSET);
	FIELD(19, skb->len, BPF_FIELD_BYTE_OFFSET);
	FIELD(20, skb->protocol, BPF_FIELD_BYTE_SIZE);
	FIELD(21, skb->cloned, BPF_FIELD_LSHIFT_U64);
	FIELD(22, skb->pfmemalloc, BPF_FIELD_RSHIFT_U64);
	FIELD(23, skb->mark, BPF_FIELD_EXISTS);
	FIELD(24, old->pid, BPF_FIELD_EXISTS);
	FIELD(25, old->apiary_field_gone_long_ago, BPF_FIELD_EXISTS);
	FIELD(26, skb->cloned, BPF_FIELD_BYTE_OFFSET);
	FIELD(27, skb->pfmemalloc, BPF_FIELD_LSHIFT_U64);

	/* type aspects */
	out[28] = bpf_core_type_exists(struct task_struct);
	out[29] = bpf_core_type_exists(struct apiary_no_such_type);
	out[30] = bpf_core_type_size(struct task_struct);
	out[31] = bpf_core_type_size(struct sk_buff);
	out[32] = bpf_core_type_id_kernel(struct task_struct);
	out[33] = bpf_core_type_id_local(struct task_struct);
	out[34] = bpf_core_type_matches(struct list_head);
	out[35] = bpf_core_type_matches(struct task_struct);
	out[36] = bpf_core_type_size(struct apiary_no_such_type);

	/* enumerators, 32- and 64-bit */
	out[37] = bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_HASH);
	out[38] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_HASH);
	out[39] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_ARENA);
	out[40] = bpf_core_enum_value_exists(enum bpf_map_type, APIARY_MAP_TYPE_MISSING);
	out[41] = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_MAX);

	/* unsatisfiable relocations, guarded: libbpf poisons them and the
	 * verifier drops them as dead code */
	if (bpf_core_field_exists(old->apiary_field_gone_long_ago)) {
		out[42] = old->apiary_field_gone_long_ago;
		out[43] = BPF_CORE_READ(old, apiary_field_gone_long_ago);
	}
	if (bpf_core_enum_value_exists(enum bpf_map_type, APIARY_MAP_TYPE_MISSING))
		out[44] = bpf_core_enum_value(enum bpf_map_type, APIARY_MAP_TYPE_MISSING);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
