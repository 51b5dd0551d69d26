// SPDX-License-Identifier: GPL-2.0
/*
 * Initial values libbpf fills at load time, and special value fields:
 * an array of maps with inner maps in slots 0 and 2, a program array with
 * a program in slot 1, .kconfig externs of every storage kind (bool,
 * tristate, int, char array, a missing __weak one, LINUX_KERNEL_VERSION),
 * and a hash map whose value holds a struct bpf_spin_lock at offset 8 and
 * a struct bpf_timer at offset 16.
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
};

struct inner_array inner_a SEC(".maps");
struct inner_array inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 4);
	__array(values, struct inner_array);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

SEC("tc")
int tail_target(struct __sk_buff *skb)
{
	return 5;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_target },
};

struct locked_value {
	__u64 hits;
	struct bpf_spin_lock lock;
	__u32 pad;
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct locked_value);
	__uint(max_entries, 8);
} locked SEC(".maps");

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_JIT __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_LSM __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern unsigned int CONFIG_NR_CPUS __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
extern bool CONFIG_APIARY_NOT_A_REAL_OPTION __kconfig __weak;

SEC("tc")
int use_everything(struct __sk_buff *skb)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(&outer, &zero);
	struct locked_value *v = bpf_map_lookup_elem(&locked, &zero);
	int result = LINUX_KERNEL_VERSION + CONFIG_BPF_JIT + CONFIG_BPF_LSM +
		     CONFIG_HZ + CONFIG_NR_CPUS + CONFIG_DEFAULT_HOSTNAME[1] +
		     CONFIG_APIARY_NOT_A_REAL_OPTION;

	if (inner)
		result++;
	if (v) {
		bpf_spin_lock(&v->lock);
		v->hits++;
		bpf_spin_unlock(&v->lock);
	}
	bpf_tail_call(skb, &jumps, 1);
	return result;
}

char _license[] SEC("license") = "GPL";
