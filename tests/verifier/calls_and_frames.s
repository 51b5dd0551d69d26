# bpf-to-bpf calls: r1-r5 are the arguments, r6-r9 are not passed, r0 is
# the result; at most 8 frames; the stacks of a call chain together at most
# 512 bytes; no recursion; a callee's stack does not outlive it. Global
# functions (BTF linkage global) are verified once, on their own, from their
# signature. Callbacks (bpf_loop, for_each_map_elem) and tail calls.
# Selftests: verifier_subprog_precision.c, verifier_global_subprogs.c,
# verifier/calls.c, verifier_loops1.c, verifier_tailcall*.c.

;; case simple_call
;; type socket_filter
;; expect accept
	r1 = 1
	call add_one
	exit
add_one:
	r0 = r1
	r0 += 1
	exit

;; case callee_reads_unpassed_register
;; type socket_filter
;; expect reject: R6 !read_ok
	r6 = 1
	call f
	exit
f:
	r0 = r6
	exit

;; case callee_reads_uninitialised_argument
;; type socket_filter
;; expect reject: R2 !read_ok
	r1 = 1
	call f
	exit
f:
	r0 = r2
	exit

;; case callee_does_not_set_r0
;; type socket_filter
;; expect reject: R0 !read_ok
	call f
	exit
f:
	r1 = 0
	exit

;; case callee_saved_registers_kept_across_call
;; type socket_filter
;; expect accept
	r6 = 7
	call f
	r0 = r6
	exit
f:
	r6 = 0
	r0 = 0
	exit

;; case eight_frames
;; type socket_filter
;; expect accept
	call f1
	exit
f1:
	call f2
	exit
f2:
	call f3
	exit
f3:
	call f4
	exit
f4:
	call f5
	exit
f5:
	call f6
	exit
f6:
	call f7
	exit
f7:
	r0 = 0
	exit

;; case nine_frames
;; type socket_filter
;; expect reject: the call stack of 9 frames is too deep
	call f1
	exit
f1:
	call f2
	exit
f2:
	call f3
	exit
f3:
	call f4
	exit
f4:
	call f5
	exit
f5:
	call f6
	exit
f6:
	call f7
	exit
f7:
	call f8
	exit
f8:
	r0 = 0
	exit

;; case recursion
;; type socket_filter
;; expect reject: the call stack of 8 frames is too deep !
	r1 = 3
	call fact
	exit
fact:
	r0 = 1
	if r1 <= 1 goto out
	r1 += -1
	call fact
out:
	exit

;; case combined_stack_512
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 256) = 0
	call f
	exit
f:
	*(u64 *)(r10 - 256) = 0
	r0 = 0
	exit

;; case combined_stack_over_512
;; type socket_filter
;; expect reject: combined stack size of 2 calls is 528. Too large
	*(u64 *)(r10 - 256) = 0
	call f
	exit
f:
	*(u64 *)(r10 - 264) = 0
	r0 = 0
	exit

;; case callee_writes_caller_stack
;; type socket_filter
;; expect accept
	r1 = r10
	r1 += -8
	call f
	r0 = *(u64 *)(r10 - 8)
	exit
f:
	*(u64 *)(r1 + 0) = 5
	r0 = 0
	exit

;; case callee_returns_its_stack
;; type socket_filter
;; expect reject: cannot return stack pointer to the caller
	call f
	r0 = *(u64 *)(r0 + 0)
	exit
f:
	*(u64 *)(r10 - 8) = 0
	r0 = r10
	r0 += -8
	exit

;; case callee_returns_its_callers_stack
;; type socket_filter
;; expect reject: cannot return stack pointer to the caller
	*(u64 *)(r10 - 8) = 0
	r1 = r10
	r1 += -8
	call f
	r0 = *(u64 *)(r0 + 0)
	exit
f:
	r0 = r1
	exit

;; case call_outside_the_program
;; type socket_filter
;; expect reject: call to invalid destination
	r0 = 0
;; raw 0x85 0 1 0 100
	exit

;; case static_function_result_is_known
;; type socket_filter
;; func main static
;; func zero static args=1
;; expect accept
	r1 = 0
	call zero
	r1 = r10
	r1 += -8
	r1 += r0
	*(u8 *)(r1 + 0) = 0
	r0 = 0
	exit
zero:
	r0 = 0
	exit

;; case global_function_result_is_unknown
;; type socket_filter
;; func main static
;; func zero global args=1
;; expect reject: math between fp pointer and register with unbounded min value is not allowed
	r1 = 0
	call zero
	r1 = r10
	r1 += -8
	r1 += r0
	*(u8 *)(r1 + 0) = 0
	r0 = 0
	exit
zero:
	r0 = 0
	exit

;; case global_function_checked_alone
;; type socket_filter
;; func main static
;; func twice global args=1
;; expect accept
	r1 = 3
	call twice
	r0 = 0
	exit
twice:
	r0 = r1
	r0 += r1
	exit

;; case global_function_given_a_pointer_for_an_int
;; type socket_filter
;; func main static
;; func deref global args=1
;; expect reject: Caller passes invalid args into func#1 ('deref')
;; detail R1 is not a scalar
	r1 = r10
	r1 += -8
	call deref
	r0 = 0
	exit
deref:
	r0 = 0
	exit

;; case global_function_dereferences_scalar_argument
;; type socket_filter
;; func main static
;; func deref global args=1
;; expect reject: R1 invalid mem access 'scalar'
	r1 = 0
	call deref
	r0 = 0
	exit
deref:
	r0 = *(u64 *)(r1 + 0)
	exit

;; case bpf_loop_callback_without_btf
;; type socket_filter
;; expect reject: missing btf func_info
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case bpf_loop_callback
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case bpf_loop_callback_reads_a_pointer_spilled_by_its_caller
;; type socket_filter
;; map values array key=4 value=8 max=4
;; func main static
;; func cb static args=2
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	*(u64 *)(r10 - 16) = r0
	r1 = 4
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -16
	r4 = 0
	call 181
out:
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	r0 = *(u64 *)(r3 + 0)
	r0 = 0
	exit

;; case bpf_loop_callback_reads_a_number_its_caller_stored
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 7
	*(u64 *)(r10 - 8) = r1
	r1 = 4
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	r0 = 0
	exit

;; case bpf_loop_callback_returns_two
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = 2
	exit

;; case bpf_loop_callback_without_r0
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: R0 not a scalar value
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	exit

;; case bpf_loop_callback_is_a_scalar
;; type socket_filter
;; expect reject: R2 type=scalar expected=func
	r1 = 10
	r2 = 0
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit

;; case bpf_loop_callback_context_is_caller_stack
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	*(u64 *)(r10 - 8) = 0
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = *(u64 *)(r10 - 8)
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	r3 += 1
	*(u64 *)(r2 + 0) = r3
	r0 = 0
	exit

;; case for_each_map_elem_callback
;; type socket_filter
;; func main static
;; func cb static args=4
;; map values array key=4 value=8 max=4
;; expect accept
	ld_pseudo r1, 5, 0
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 164
	r0 = 0
	exit
cb:
	r0 = *(u64 *)(r3 + 0)
	r0 = 0
	exit

;; case for_each_map_elem_value_past_end
;; type socket_filter
;; func main static
;; func cb static args=4
;; map values array key=4 value=8 max=4
;; expect reject: R3 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=8 size=8
	ld_pseudo r1, 5, 0
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 164
	r0 = 0
	exit
cb:
	r0 = *(u64 *)(r3 + 8)
	r0 = 0
	exit

;; case tail_call
;; type socket_filter
;; map progs prog_array key=4 value=4 max=4
;; expect accept
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r0 = 0
	exit

;; case tail_call_through_hash_map
;; type socket_filter
;; map values hash key=4 value=4 max=4
;; expect reject: expected prog array map for tail call
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r0 = 0
	exit

;; case tail_call_from_subprogram_without_btf
;; type socket_filter
;; map progs prog_array key=4 value=4 max=4
;; expect reject: tail_call is not allowed in subprogs without BTF
	call f
	r0 = 0
	exit
f:
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r0 = 0
	exit

;; case tail_call_from_subprogram_with_small_stack
;; type socket_filter
;; func main static
;; func f static
;; map progs prog_array key=4 value=4 max=4
;; expect accept
	*(u64 *)(r10 - 8) = 0
	call f
	r0 = 0
	exit
f:
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r0 = 0
	exit

;; case tail_call_from_subprogram_with_large_stack
;; type socket_filter
;; func main static
;; func f static
;; map progs prog_array key=4 value=4 max=4
;; expect reject: tail_calls are not allowed when call stack of previous frames is 272 bytes. Too large
	*(u64 *)(r10 - 264) = 0
	call f
	r0 = 0
	exit
f:
	*(u64 *)(r10 - 8) = 0
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r0 = 0
	exit

# Timers: a map value holding a BTF-described struct bpf_timer; its
# callback, like every callback, needs BTF func info and returns 0.
# bpf_timer_init(timer, map, clock), bpf_timer_set_callback(timer, fn).
# Selftests: verifier_timer (progs/timer*.c, verifier/map_kptr.c).

;; case timer_init_and_set_callback
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; func main static
;; func cb static args=3
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 1
	call 169
	r1 = r6
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case timer_callback_returns_one
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; func main static
;; func cb static args=3
;; expect reject: At async callback return the register R0 has smin=1 smax=1 should have been in [0, 0]
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 1
	call 169
	r1 = r6
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = 1
	exit

;; case timer_callback_without_btf
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; expect reject: missing btf func_info
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 1
	call 169
	r1 = r6
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case timer_init_with_another_map
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; map other hash key=4 value=16 max=1 timer
;; func main static
;; func cb static args=3
;; expect reject: timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	ld_pseudo r2, 5, 1
	r3 = 1
	call 169
	r1 = r6
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case timer_field_read_directly
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; expect reject: bpf_timer cannot be accessed directly by load/store
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r0 = *(u64 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case timer_on_map_without_btf
;; type sched_cls
;; map timers hash key=4 value=16 max=1
;; expect reject: map 'timers' has to have BTF in order to use bpf_timer
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 1
	call 169
out:
	r0 = 0
	exit

;; case large_frames_in_kprobe_subprograms
;; type kprobe
;; func main static
;; func f static
;; expect reject: combined stack size of 2 calls is 640. Too large
	*(u64 *)(r10 - 320) = 0
	call f
	r0 = 0
	exit
f:
	*(u64 *)(r10 - 320) = 0
	r0 = 0
	exit

;; case large_frames_in_socket_filter_subprograms
;; type socket_filter
;; func main static
;; func f static
;; expect reject: combined stack size of 2 calls is 640. Too large
	*(u64 *)(r10 - 320) = 0
	call f
	r0 = 0
	exit
f:
	*(u64 *)(r10 - 320) = 0
	r0 = 0
	exit

;; case global_function_returns_a_pointer
;; type socket_filter
;; func main static
;; func f global args=1
;; expect reject: At subprogram exit the register R0 is not a scalar value (fp)
	r1 = 0
	call f
	r0 = 0
	exit
f:
	r0 = r10
	exit

;; case global_function_reads_its_int_argument
;; type socket_filter
;; func main static
;; func f global args=1
;; expect accept
	r1 = 7
	call f
	r0 = 0
	exit
f:
	r0 = r1
	r0 &= 1
	exit

;; case timer_at_wrong_offset
;; type sched_cls
;; map timers hash key=4 value=24 max=1 spin_lock timer
;; expect reject: off 0 doesn't point to 'struct bpf_timer' that is at 8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	ld_pseudo r2, 5, 0
	r3 = 1
	call 169
out:
	r0 = 0
	exit

;; case timer_start_and_cancel
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	r2 = 1000
	r3 = 0
	call 171
	r1 = r6
	call 172
out:
	r0 = 0
	exit

;; case timer_callback_reads_its_value
;; type sched_cls
;; map timers hash key=4 value=24 max=1 timer
;; func main static
;; func cb static args=3
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = *(u64 *)(r3 + 16)
	r0 = 0
	exit

;; case timer_callback_reads_past_its_value
;; type sched_cls
;; map timers hash key=4 value=24 max=1 timer
;; func main static
;; func cb static args=3
;; expect reject: R3 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=24 off=24 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = *(u64 *)(r3 + 24)
	r0 = 0
	exit

;; case timer_callback_returns_a_pointer
;; type sched_cls
;; map timers hash key=4 value=16 max=1 timer
;; func main static
;; func cb static args=3
;; expect reject: At async callback return the register R0 is not a known value (map_value)
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	ld_pseudo r2, 4, cb
	call 170
out:
	r0 = 0
	exit
cb:
	r0 = r3
	exit

;; case global_function_given_the_context
;; type socket_filter
;; func main static
;; func f global params=ctx:__sk_buff
;; expect accept
	call f
	r0 = 0
	exit
f:
	r0 = *(u32 *)(r1 + 0)
	r0 = 0
	exit

;; case global_function_given_a_stack_pointer_for_the_context
;; type socket_filter
;; func main static
;; func f global params=ctx:__sk_buff
;; expect reject: Caller passes invalid args into func#1 ('f')
;; detail arg#0 expects pointer to ctx
	r1 = r10
	r1 += -8
	call f
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case global_function_given_stack_memory
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r1 = r10
	r1 += -4
	call f
	r0 = 0
	exit
f:
	r0 = 0
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 0)
out:
	exit

;; case global_function_given_null_memory
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect accept
	r1 = 0
	call f
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case global_function_given_an_unchecked_lookup
;; type socket_filter
;; map values array key=4 value=8 max=4
;; func main static
;; func f global params=mem
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r1 = r0
	call f
	r0 = 0
	exit
f:
	r0 = 0
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 0)
out:
	exit

;; case global_function_given_an_unchecked_lookup_too_small
;; type socket_filter
;; map values array key=4 value=2 max=4
;; func main static
;; func f global params=mem
;; expect reject: Caller passes invalid args into func#1 ('f')
;; detail invalid access to map value, value_size=2 off=0 size=4
;; detail R1 min value is outside of the allowed memory range
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r1 = r0
	call f
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case global_function_given_too_little_stack
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect reject: Caller passes invalid args into func#1 ('f')
;; detail invalid read from stack R1 off=-2 size=4
	r1 = r10
	r1 += -2
	call f
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case global_function_memory_needs_a_null_check
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect reject: R1 invalid mem access 'mem_or_null'
	*(u32 *)(r10 - 4) = 0
	r1 = r10
	r1 += -4
	call f
	r0 = 0
	exit
f:
	r0 = *(u32 *)(r1 + 0)
	exit

;; case global_function_reads_past_its_memory
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect reject: R1 min value is outside of the allowed memory range
;; detail invalid access to memory, mem_size=4 off=4 size=4
	*(u64 *)(r10 - 8) = 0
	r1 = r10
	r1 += -8
	call f
	r0 = 0
	exit
f:
	r0 = 0
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 4)
out:
	exit

;; case global_function_given_a_number_for_memory
;; type socket_filter
;; func main static
;; func f global params=mem
;; expect reject: Caller passes invalid args into func#1 ('f')
;; detail R1 type=scalar expected=fp
	r1 = 8
	call f
	r0 = 0
	exit
f:
	r0 = 0
	exit
