# Loops are explored iteration by iteration: a bounded loop is accepted, a
# loop whose state repeats is an infinite loop, one that never converges
# hits the 1,000,000 processed-instruction limit; may_goto bounds a loop by
# itself. Jumps must stay inside the program. Selftests: verifier_loops1.c,
# verifier_bounded_loops (verifier/loops1.c), verifier_may_goto_1.c,
# verifier_iterating_callbacks.c, verifier/jump.c.

;; case bounded_loop
;; type socket_filter
;; expect accept
	r0 = 0
	r1 = 0
loop:
	r0 += r1
	r1 += 1
	if r1 < 10 goto loop
	exit

;; case self_loop_is_infinite
;; type socket_filter
;; expect reject: infinite loop detected at insn 1
	r0 = 0
loop:
	goto loop

;; case loop_with_unchanged_state
;; type socket_filter
;; expect reject: infinite loop detected at insn 2
	r0 = 0
	r1 = *(u32 *)(r1 + 0)
loop:
	if r1 == 0 goto out
	goto loop
out:
	exit

;; case loop_counting_down_an_unknown
;; type socket_filter
;; expect reject: BPF program is too large. Processed 1000001 insn
	r0 = 0
	r1 = *(u32 *)(r1 + 0)
loop:
	r1 -= 1
	if r1 != 0 goto loop
	exit

;; case loop_bounded_by_masked_unknown
;; type socket_filter
;; expect accept
	r0 = 0
	r2 = *(u32 *)(r1 + 0)
	r2 &= 15
	r1 = 0
loop:
	r1 += 1
	if r1 < r2 goto loop
	exit

;; case loop_over_the_complexity_limit
;; type socket_filter
;; expect reject: BPF program is too large. Processed 1000001 insn
	r0 = 0
	r1 = 0
loop:
	r1 += 1
	if r1 < 1000000 goto loop
	exit

;; case long_loop_under_the_limit
;; type socket_filter
;; expect accept
	r0 = 0
	r1 = 0
loop:
	r1 += 1
	if r1 < 100000 goto loop
	exit

;; case may_goto_bounds_an_endless_loop
;; type socket_filter
;; expect accept
	r0 = 0
loop:
	may_goto out
	r0 += 1
	goto loop
out:
	exit

;; case loop_in_a_subprogram
;; type socket_filter
;; expect accept
	call sum
	exit
sum:
	r0 = 0
	r1 = 0
loop:
	r0 += r1
	r1 += 1
	if r1 < 8 goto loop
	exit

;; case jump_before_the_program
;; type socket_filter
;; expect reject: jump out of range from insn 1 to -1
	r0 = 0
	goto -3
	exit

;; case jump_past_the_program
;; type socket_filter
;; expect reject: jump out of range from insn 1 to 7
	r0 = 0
	goto +5
	exit

;; case bpf_loop_with_huge_count
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 8388608
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case bpf_loop_callback_stops_the_loop
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	exit
cb:
	r0 = 1
	exit

;; case loop_reading_stack_each_iteration
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 0
	*(u64 *)(r10 - 16) = 0
	r0 = 0
	r1 = 0
loop:
	r2 = r10
	r2 += -16
	r3 = r1
	r3 &= 15
	r2 += r3
	r4 = *(u8 *)(r2 + 0)
	r0 += r4
	r1 += 1
	if r1 < 32 goto loop
	exit

;; case may_goto_inside_a_bounded_loop
;; type socket_filter
;; expect accept
	r0 = 0
	r1 = 0
loop:
	may_goto out
	r1 += 1
	if r1 < 1000 goto loop
out:
	exit

;; case loop_without_may_goto_or_bound
;; type socket_filter
;; expect reject: BPF program is too large. Processed 1000001 insn
	r0 = 0
	r1 = *(u32 *)(r1 + 0)
loop:
	r0 += 1
	if r0 != r1 goto loop
	exit

;; case jump_sequence_too_complex
;; type socket_filter
;; expect reject: The sequence of 8193 jumps is too complex.
	r2 = *(u32 *)(r1 + 0)
	r0 = 0
	r1 = 0
loop:
	if r2 == 7 goto skip
	r0 += 1
skip:
	r1 += 1
	if r1 < 10000 goto loop
	exit

;; case jump_sequence_under_the_limit
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r0 = 0
	r1 = 0
loop:
	if r2 == 7 goto skip
	r0 += 1
skip:
	r1 += 1
	if r1 < 100 goto loop
	exit

;; case callbacks_waiting_count_toward_the_jump_sequence_limit
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: The sequence of 8193 jumps is too complex.
	r6 = 0
loop:
	r1 = 1
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r6 += 1
	if r6 < 9000 goto loop
	r0 = 0
	exit
cb:
	r0 = 0
	exit

;; case callbacks_below_the_jump_sequence_limit
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r6 = 0
loop:
	r1 = 1
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r6 += 1
	if r6 < 3 goto loop
	r0 = 0
	exit
cb:
	r0 = 0
	exit

# Loops that stop changing after a while: the state at the loop head
# repeats only once the counter saturates, after many states were saved
# and, inside the loop, dropped for missing (`miss_cnt`): the repeat is
# caught only against a state still kept there.
;; case loop_saturating_after_a_few_iterations
;; type socket_filter
;; expect reject: infinite loop detected at insn 2
	r0 = 0
	r1 = 0
loop:
	if r1 s> 5 goto loop
	r1 += 1
	goto loop

;; case loop_saturating_after_many_iterations
;; type socket_filter
;; expect reject: infinite loop detected at insn 2
	r0 = 0
	r1 = 0
loop:
	if r1 > 300 goto skip
	r1 += 1
skip:
	r2 = r1
	r2 &= 1
	if r2 == 0 goto loop
	goto loop

;; case loop_alternating_between_two_states
;; type socket_filter
;; expect reject: infinite loop detected at insn 3
	r1 = 0
	r0 = 0
loop:
	r1 ^= 1
	if r1 == 0 goto loop
	r2 = 7
	goto loop

;; case loop_with_a_branch_per_iteration_terminates
;; type socket_filter
;; expect accept
	r0 = 0
	r3 = *(u32 *)(r1 + 0)
	r1 = 0
loop:
	if r3 > 9 goto big
	r0 += 1
	goto next
big:
	r0 += 2
next:
	r1 += 1
	if r1 < 60 goto loop
	exit

# may_goto's fall-through is queued one level deeper with the scalars that
# changed since the previous round forgotten, unless a path needed them
# precisely (a counter used as an offset counts on to the value's end); a
# round within the ranges of an earlier one at another depth is covered.

;; case may_goto_counter_widened_then_used_as_offset
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=16 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = 0
loop:
	may_goto done
	r6 += 1
	goto loop
done:
	r0 += r6
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case may_goto_counter_bounded_by_a_check
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = 0
loop:
	may_goto done
	r6 += 1
	if r6 > 15 goto done
	goto loop
done:
	if r6 > 15 goto out
	r0 += r6
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case may_goto_precise_counter_kept
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = 0
loop:
	may_goto out
	r1 = r0
	r1 += r6
	r1 = *(u8 *)(r1 + 0)
	r6 += 1
	if r6 < 16 goto loop
out:
	r0 = 0
	exit

;; case may_goto_twice_in_a_loop
;; type socket_filter
;; expect accept
	r0 = 0
	r1 = 0
loop:
	may_goto out
	r0 += 2
	may_goto out
	r1 += 3
	goto loop
out:
	r0 = 0
	exit

;; case may_goto_loop_ends_with_uninit_r0
;; type socket_filter
;; expect reject: R0 !read_ok
	r1 = 0
loop:
	may_goto out
	r1 += 1
	if r1 > 1000 goto set
	goto loop
set:
	r0 = 0
out:
	exit
