// SPDX-License-Identifier: GPL-2.0
/*
 * fmod_ret on bpf_modify_return_test(int a, int *b), the error-injectable
 * kernel function that BPF_PROG_TEST_RUN calls with a = 1 for fmod_ret
 * programs: a non-zero return skips the function and becomes its result.
 *
 * Covers: SEC("fmod_ret/<func>") (BPF_MODIFY_RETURN), BPF_PROG with a
 * pointer argument and the previous return value, bpf_probe_read_kernel,
 * `const volatile` knob.
 *
 * Expected: with override_ret = 121 and a == 1, the program returns 121 so
 * the original body (which does *b += 1; return a + *b) does not run;
 * seen_a = 1 and seen_b holds *b at entry.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile int override_ret = 121;

int seen_a;
int seen_b;

SEC("fmod_ret/bpf_modify_return_test")
int BPF_PROG(override_modify_return, int a, int *b, int ret)
{
	int b_val = 0;

	seen_a = a;
	bpf_probe_read_kernel(&b_val, sizeof(b_val), b);
	seen_b = b_val;
	if (ret)
		return ret; /* an earlier fmod_ret program already decided */
	return a == 1 ? override_ret : 0;
}

char LICENSE[] SEC("license") = "GPL";
