// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE type and enum relocations: every answer is a constant that libbpf
 * patches into the instruction from the kernel's BTF.
 *
 * Covers: bpf_core_type_exists, bpf_core_type_size, bpf_core_type_id_local,
 * bpf_core_type_id_kernel (TYPE_ID_TARGET), bpf_core_type_matches,
 * bpf_core_enum_value_exists, bpf_core_enum_value, on local definitions of
 * struct task_struct, struct sk_buff, enum pid_type and a type the kernel
 * does not have; SEC("syscall") so a test run needs no context.
 *
 * Expected for a syscall test-run on this machine's 6.18 kernel: returns 0;
 * task_exists = 1, missing_exists = 0, task_size = 3264 (the kernel's
 * sizeof(struct task_struct), build-dependent), local_id > 0,
 * kernel_id = the vmlinux BTF id of task_struct (114 here, build-dependent),
 * skb_matches = 1 (local `unsigned int len` matches the kernel's),
 * pid_type_matches = 0 (the local enum has an enumerator the kernel lacks),
 * mismatched = 0 (local u64 level vs the kernel's unsigned int),
 * sid_exists = 1, apiary_exists = 0, sid_value = 3.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
} __attribute__((preserve_access_index));

struct apiary_no_such_kernel_type {
	int x;
} __attribute__((preserve_access_index));

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_APIARY_MISSING = 77,
};

/* For type_matches: same name stripped of the flavor, different shape. */
struct pid_namespace___wrong {
	__u64 level;
} __attribute__((preserve_access_index));

int task_exists;
int skb_exists;
int missing_exists;
__u32 task_size;
__u32 local_id;
__u32 kernel_id;
int pid_type_matches;
int skb_matches;
int mismatched;
int sid_exists;
int apiary_exists;
__u64 sid_value;

SEC("syscall")
int query_types(void *ctx)
{
	task_exists = bpf_core_type_exists(struct task_struct);
	skb_exists = bpf_core_type_exists(struct sk_buff);
	missing_exists = bpf_core_type_exists(struct apiary_no_such_kernel_type);
	task_size = bpf_core_type_size(struct task_struct);
	local_id = bpf_core_type_id_local(struct task_struct);
	kernel_id = bpf_core_type_id_kernel(struct task_struct);
	pid_type_matches = bpf_core_type_matches(enum pid_type);
	skb_matches = bpf_core_type_matches(struct sk_buff);
	mismatched = bpf_core_type_matches(struct pid_namespace___wrong);
	sid_exists = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID);
	apiary_exists = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_APIARY_MISSING);
	sid_value = bpf_core_enum_value(enum pid_type, PIDTYPE_SID);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
