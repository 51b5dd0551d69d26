# Callbacks a helper calls (bpf_loop, bpf_for_each_map_elem) are verified
# by iterating: each exit of the callback goes back to the helper call,
# which calls it again, until the caller's state converges, bpf_loop's
# count runs out, or an iteration is unsafe. What the caller keeps in the
# context the callback is given (numbers, pointers) is known to the
# callback as the caller left it; numbers the callback changes and nothing
# needs precisely are widened; numbers used as offsets keep their value
# iteration after iteration. The callback must return 0 or 1.
# Selftests: verifier_iterating_callbacks.c, verifier_subprog_precision.c.

;; case ctx_pointer_replaced_by_a_number_on_the_first_iteration
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: R1 invalid mem access 'scalar'
	r1 = r10
	r1 += -16
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	if r1 != 0 goto use
	r1 = 0xdead
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit
use:
	r1 = *(u64 *)(r2 + 0)
	r3 = 0
	*(u8 *)(r1 + 0) = r3
	r0 = 0
	exit

;; case ctx_pointer_kept_by_every_iteration
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = r10
	r1 += -16
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r3 = 0
	*(u8 *)(r1 + 0) = r3
	r0 = 0
	exit

;; case caller_index_unchanged_when_the_callback_never_runs
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; func main static
;; func cb static args=2
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=2 off=32 size=1
	r1 = 32
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = 0
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case counter_widened_other_field_kept
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 16) = r1
	r1 = 1
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -16
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case counter_used_as_index_after_the_loop
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; func main static
;; func cb static args=2
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=2 off=2 size=1
	r1 = 0
	*(u64 *)(r10 - 16) = r1
	r1 = 1
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -16
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 16)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case bpf_loop_runs_at_most_its_count
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 1
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case bpf_loop_one_iteration_too_many
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; func main static
;; func cb static args=2
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=2 off=2 size=1
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 2
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case bpf_loop_count_from_a_bounded_register
;; type socket_filter
;; map arr array key=4 value=4 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	call 7
	r1 = r0
	r1 &= 3
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case callback_bound_by_a_size_its_caller_stored
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 8
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	if r1 >= r3 goto stop
	ld_pseudo r4, 6, 0
	r4 += r1
	r0 = *(u8 *)(r4 + 0)
	r0 = 0
	exit
stop:
	r0 = 1
	exit

;; case callback_bound_by_a_size_past_the_value
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func cb static args=2
;; expect reject: R4 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=8 size=1
	r1 = 9
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	if r1 >= r3 goto stop
	ld_pseudo r4, 6, 0
	r4 += r1
	r0 = *(u8 *)(r4 + 0)
	r0 = 0
	exit
stop:
	r0 = 1
	exit

;; case callback_cursor_checked_before_each_use
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	if r3 >= 8 goto stop
	ld_pseudo r4, 6, 0
	r4 += r3
	r0 = *(u8 *)(r4 + 0)
	r3 += 1
	*(u64 *)(r2 + 0) = r3
	r0 = 0
	exit
stop:
	r0 = 1
	exit

;; case callback_cursor_runs_past_the_value
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func cb static args=2
;; expect reject: R4 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=8 size=1
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	ld_pseudo r4, 6, 0
	r4 += r3
	r0 = *(u8 *)(r4 + 0)
	r3 += 1
	*(u64 *)(r2 + 0) = r3
	r0 = 0
	exit

;; case callback_cursor_within_the_loop_count
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 8
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r2 + 0)
	ld_pseudo r4, 6, 0
	r4 += r3
	r0 = *(u8 *)(r4 + 0)
	r3 += 1
	*(u64 *)(r2 + 0) = r3
	r0 = 0
	exit

;; case for_each_map_elem_cursor_unbounded
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; map values array key=4 value=8 max=4
;; func main static
;; func cb static args=4
;; expect reject: R5 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=8 size=1
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	ld_pseudo r1, 5, 1
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 164
	r0 = 0
	exit
cb:
	r3 = *(u64 *)(r4 + 0)
	ld_pseudo r5, 6, 0
	r5 += r3
	r0 = *(u8 *)(r5 + 0)
	r3 += 1
	*(u64 *)(r4 + 0) = r3
	r0 = 0
	exit

;; case for_each_map_elem_state_machine_goes_out_of_bounds
;; type socket_filter
;; map arr array key=4 value=2 max=1
;; map values array key=4 value=8 max=4
;; func main static
;; func cb static args=4
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=2 off=32 size=1
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	ld_pseudo r1, 5, 1
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 164
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
cb:
	r1 = *(u64 *)(r4 + 0)
	if r1 == 0 goto first
	if r1 == 1 goto second
	goto out
first:
	r1 = 1
	*(u64 *)(r4 + 0) = r1
	goto out
second:
	r1 = 32
	*(u64 *)(r4 + 0) = r1
out:
	r0 = 0
	exit

;; case callback_loops_forever
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: infinite loop detected at insn 11
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 100
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	goto cb

;; case callback_returns_an_unknown_number
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: At callback return the register R0 has unknown scalar value should have been in [0, 1]
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	call 7
	exit

;; case callback_returns_its_index_masked_to_one_bit
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
	r0 = r1
	r0 &= 1
	exit

;; case for_each_map_elem_callback_returns_two
;; type socket_filter
;; map values array key=4 value=8 max=4
;; func main static
;; func cb static args=4
;; expect reject: At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]
	ld_pseudo r1, 5, 0
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 164
	r0 = 0
	exit
cb:
	r0 = 2
	exit

;; case nested_loops_within_their_counts
;; type socket_filter
;; map arr array key=4 value=8 max=1
;; func main static
;; func outer static args=2
;; func inner static args=2
;; expect accept
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 2
	ld_pseudo r2, 4, outer
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
outer:
	r1 = 3
	r3 = r2
	ld_pseudo r2, 4, inner
	r4 = 0
	call 181
	r0 = 0
	exit
inner:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case nested_loops_one_too_many
;; type socket_filter
;; map arr array key=4 value=6 max=1
;; func main static
;; func outer static args=2
;; func inner static args=2
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=6 off=6 size=1
	r1 = 0
	*(u64 *)(r10 - 8) = r1
	r1 = 2
	ld_pseudo r2, 4, outer
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r1 = *(u64 *)(r10 - 8)
	ld_pseudo r2, 6, 0
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit
outer:
	r1 = 3
	r3 = r2
	ld_pseudo r2, 4, inner
	r4 = 0
	call 181
	r0 = 0
	exit
inner:
	r1 = *(u64 *)(r2 + 0)
	r1 += 1
	*(u64 *)(r2 + 0) = r1
	r0 = 0
	exit

;; case callback_returns_its_stack_pointer
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: cannot return stack pointer to the caller
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = r10
	exit

;; case callback_returns_its_callers_stack_pointer
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: cannot return stack pointer to the caller
	r1 = 10
	ld_pseudo r2, 4, cb
	r3 = r10
	r3 += -8
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = r2
	exit

;; case bpf_loop_of_zero_never_runs_its_callback
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect accept
	r1 = 0
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = r3
	exit

;; case bpf_loop_of_one_runs_its_callback
;; type socket_filter
;; func main static
;; func cb static args=2
;; expect reject: R3 !read_ok
	r1 = 1
	ld_pseudo r2, 4, cb
	r3 = 0
	r4 = 0
	call 181
	r0 = 0
	exit
cb:
	r0 = r3
	exit
