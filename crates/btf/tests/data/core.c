/* CO-RE relocations of all 13 kinds, plus func and line info. */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task {
	int pid;
	struct {
		int a;
		int b;
	} anon;
	int arr[4];
	unsigned int flags : 3;
	int level : 5;
	long long big;
} __attribute__((preserve_access_index));

enum task_state { TASK_RUNNING = 0, TASK_SLEEPING = 1 };

typedef struct task task_t;

int result;

SEC("tp/sched/sched_switch")
int core_prog(struct task *t)
{
	int sum = 0;

	sum += BPF_CORE_READ(t, anon.b);
	sum += bpf_core_field_exists(t->arr[2]);
	sum += bpf_core_field_size(t->big);
	sum += __builtin_preserve_field_info(t->level, BPF_FIELD_SIGNED);
	sum += BPF_CORE_READ_BITFIELD(t, flags);
	sum += bpf_core_type_id_local(struct task);
	sum += bpf_core_type_id_kernel(task_t);
	sum += bpf_core_type_exists(struct task);
	sum += bpf_core_type_size(struct task);
	sum += bpf_core_type_matches(struct task);
	sum += bpf_core_enum_value_exists(enum task_state, TASK_SLEEPING);
	sum += bpf_core_enum_value(enum task_state, TASK_RUNNING);
	result = sum;
	return 0;
}

SEC("xdp")
int second(void *ctx)
{
	return result;
}

char LICENSE[] SEC("license") = "GPL";
