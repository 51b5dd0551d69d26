# Open-coded numeric iterators (bpf_iter_num_new/next/destroy), the rules
# of kernel/bpf/verifier.c's process_iter_arg and process_iter_next_call,
# after the selftests progs/iters*.c (rewritten, none copied). Kfuncs are
# named: their BTF ids are this machine's kernel's.

;; case loop_sums_elements
;; type xdp
;; expect accept
	r6 = 0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 10
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = *(u32 *)(r0 + 0)
	r6 += r1
	goto loop
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case element_indexes_a_stack_buffer_after_a_bounds_check
;; type xdp
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 24) = r1
	*(u64 *)(r10 - 16) = r1
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 16
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = *(u32 *)(r0 + 0)
	if r1 > 15 goto loop
	r2 = r10
	r2 += -24
	r2 += r1
	r3 = 1
	*(u8 *)(r2 + 0) = r3
	goto loop
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case element_indexes_a_stack_buffer_without_a_check
;; type xdp
;; expect reject: invalid unbounded variable-offset write to stack R2
	r1 = 0
	*(u64 *)(r10 - 24) = r1
	*(u64 *)(r10 - 16) = r1
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 16
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = *(u32 *)(r0 + 0)
	r2 = r10
	r2 += -24
	r2 += r1
	r3 = 1
	*(u8 *)(r2 + 0) = r3
	goto loop
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case iterator_never_destroyed
;; type xdp
;; expect reject: BPF_EXIT instruction in main prog would lead to reference leak
;; detail Unreleased reference id=1 alloc_insn=4
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r0 = 2
	exit

;; case next_without_new
;; type xdp
;; expect reject: expected an initialized iter_num as arg #0
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	r0 = 2
	exit

;; case destroy_twice
;; type xdp
;; expect reject: expected an initialized iter_num as arg #0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case new_twice_on_one_iterator
;; type xdp
;; expect reject: expected uninitialized iter_num as arg #0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case next_after_destroy
;; type xdp
;; expect reject: expected an initialized iter_num as arg #0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	r0 = 2
	exit

;; case iterator_argument_is_the_context
;; type xdp
;; expect reject: arg#0 expected pointer to an iterator on stack
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r0 = 2
	exit

;; case iterator_at_a_misaligned_stack_offset
;; type xdp
;; expect reject: expected uninitialized iter_num as arg #0
;; detail cannot pass in iter at an offset=-12
	r1 = r10
	r1 += -12
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r0 = 2
	exit

;; case range_argument_is_a_pointer
;; type xdp
;; expect reject: R2 is not a scalar
	r1 = r10
	r1 += -8
	r2 = r10
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r0 = 2
	exit

;; case element_read_before_the_null_check
;; type xdp
;; expect reject: R0 invalid mem access 'scalar'
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	r6 = *(u32 *)(r0 + 0)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case element_written
;; type xdp
;; expect reject: R0 cannot write into rdonly_mem
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = 7
	*(u32 *)(r0 + 0) = r1
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case element_read_past_its_four_bytes
;; type xdp
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to memory, mem_size=4 off=0 size=8
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = *(u64 *)(r0 + 0)
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case element_read_after_destroy
;; type xdp
;; expect reject: R6 invalid mem access 'scalar'
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	r6 = r0
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	if r6 == 0 goto done
	r0 = *(u32 *)(r6 + 0)
done:
	r0 = 2
	exit

;; case iterator_slot_overwritten
;; type xdp
;; expect reject: expected an initialized iter_num as arg #0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case iterator_slot_read
;; type xdp
;; expect reject: invalid read from stack off -8+0 size 8
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
	r6 = *(u64 *)(r10 - 8)
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case nested_loops
;; type xdp
;; expect accept
	r6 = 0
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 4
	call kfunc(bpf_iter_num_new)
outer:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto outer_done
	r1 = r10
	r1 += -16
	r2 = 0
	r3 = 5
	call kfunc(bpf_iter_num_new)
inner:
	r1 = r10
	r1 += -16
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto inner_done
	r6 += 1
	goto inner
inner_done:
	r1 = r10
	r1 += -16
	call kfunc(bpf_iter_num_destroy)
	goto outer
outer_done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 2
	exit

;; case loop_that_ignores_the_end
;; type xdp
;; expect reject: BPF program is too large. Processed 1000001 insn
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	goto loop

;; case counter_used_as_offset_after_the_loop
;; type xdp
;; expect reject: invalid read from stack R1 off=0 size=1
	r6 = 0
	r1 = 0
	*(u64 *)(r10 - 24) = r1
	*(u64 *)(r10 - 16) = r1
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 100
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r6 += 1
	goto loop
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r1 = r10
	r1 += -24
	r1 += r6
	r0 = *(u8 *)(r1 + 0)
	r0 = 2
	exit

;; case exit_inside_the_loop_leaks_the_iterator
;; type xdp
;; expect reject: BPF_EXIT instruction in main prog would lead to reference leak
;; detail Unreleased reference id=1 alloc_insn=4
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 3
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 == 0 goto done
	r1 = *(u32 *)(r0 + 0)
	if r1 == 2 goto leave
	goto loop
done:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
leave:
	r0 = 2
	exit

;; case rcu_read_lock_is_not_modelled
;; type xdp
;; expect accept
	call kfunc(bpf_rcu_read_lock)
	call kfunc(bpf_rcu_read_unlock)
	r0 = 2
	exit

;; case repeat_in_a_socket_filter
;; type socket_filter
;; expect accept
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 4
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 != 0 goto loop
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 0
	exit

;; case repeat_in_a_kprobe
;; type kprobe
;; expect accept
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 4
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 != 0 goto loop
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 0
	exit

;; case repeat_in_a_cgroup_skb_program
;; type cgroup_skb
;; attach cgroup_inet_ingress
;; expect accept
	r1 = r10
	r1 += -8
	r2 = 0
	r3 = 4
	call kfunc(bpf_iter_num_new)
loop:
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_next)
	if r0 != 0 goto loop
	r1 = r10
	r1 += -8
	call kfunc(bpf_iter_num_destroy)
	r0 = 1
	exit
