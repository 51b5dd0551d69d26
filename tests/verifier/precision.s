# Precision tracking: a scalar counts in the comparison of states (pruning)
# only once the walk used its value in a way that needs it exactly: as an
# offset added to a pointer, as a helper's size, as the condition of a
# branch that was decided, as a return value. The walk then goes back
# along the path and marks where the value came from: copies, spills and
# fills, arguments of calls, scalars linked by a copy. Each unsafe case
# below has a first path that is safe and saves a state at the join; the
# second path differs only in the scalar that later becomes an offset, and
# may only be pruned if that scalar was not marked. Selftests:
# verifier_precision.c, verifier_subprog_precision.c, verifier_scalar_ids.c,
# verifier_spill_fill.c, verifier/precise.c.

;; case imprecise_counter_in_a_long_loop
;; type socket_filter
;; expect accept
	r6 = 0
	r7 = 0
loop:
	call 7
	if r0 > 100 goto skip
	r6 += 1
skip:
	r7 += 1
	if r7 < 1500 goto loop
	r0 = r6
	exit

;; case offset_decided_on_the_second_path
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 0
	if r0 > 10 goto other
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 8
	r8 = 1
	r9 = 2
join:
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r6 += r7
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case offset_out_of_range_on_the_second_path
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R6 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=100 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 0
	if r0 > 10 goto other
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 100
	r8 = 1
	r9 = 2
join:
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r6 += r7
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case offset_through_a_spill_out_of_range_on_the_second_path
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R6 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=100 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 1
	if r0 > 10 goto other
	*(u64 *)(r10 - 16) = r7
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 100
	*(u64 *)(r10 - 16) = r7
	r8 = 1
	r9 = 2
join:
	r7 = 0
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r1 = *(u64 *)(r10 - 16)
	r6 += r1
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case offset_through_a_spill_in_range_on_both_paths
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 0
	if r0 > 10 goto other
	*(u64 *)(r10 - 16) = r7
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 15
	*(u64 *)(r10 - 16) = r7
	r8 = 1
	r9 = 2
join:
	r7 = 0
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r1 = *(u64 *)(r10 - 16)
	r6 += r1
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case offset_in_a_callee_out_of_range_on_the_second_path
;; type socket_filter
;; map values array key=4 value=16 max=1
;; func main static
;; func add_and_read static args=2
;; expect reject: R2 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=100 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 0
	if r0 > 10 goto other
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 100
	r8 = 1
	r9 = 2
join:
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r1 = r7
	r2 = r6
	call add_and_read
out:
	r0 = 0
	exit
add_and_read:
	r2 += r1
	r0 = *(u8 *)(r2 + 0)
	exit

;; case linked_copy_bounds_the_offset_on_the_first_path_only
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R6 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=255 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = r0
	r7 &= 255
	call 7
	if r0 > 10 goto other
	r8 = r7
	r9 = 2
	goto join
other:
	r8 = r0
	r8 &= 255
	r9 = 2
join:
	r9 += 1
	r9 += 1
	r9 += 1
	r9 += 1
	if r9 != 6 goto out
	if r8 > 15 goto out
	r6 += r7
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case linked_copy_on_the_first_path_another_copy_on_the_second
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R6 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=255 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = r0
	r7 &= 255
	call 7
	if r0 > 10 goto other
	r8 = r7
	r9 = 2
	goto join
other:
	r5 = r7
	r8 = r0
	r8 &= 255
	r9 = 2
join:
	r9 += 1
	r9 += 1
	r9 += 1
	r9 += 1
	if r9 != 6 goto out
	if r8 > 15 goto out
	r6 += r7
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case size_argument_out_of_range_on_the_second_path
;; type socket_filter
;; expect reject: invalid write to stack R3 off=-16 size=100
	r6 = r1
	call 7
	r7 = 8
	if r0 > 10 goto other
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 100
	r8 = 1
	r9 = 2
join:
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	r1 = r6
	r2 = 0
	r3 = r10
	r3 += -16
	r4 = r7
	call 26
out:
	r0 = 0
	exit

;; case decided_branch_on_the_first_path_only
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R6 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=100 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	call 7
	r7 = 0
	if r0 > 10 goto other
	r8 = 1
	r9 = 2
	goto join
other:
	r7 = 1
	r8 = 1
	r9 = 2
join:
	r8 += r9
	r8 += r9
	r8 += r9
	r8 += r9
	if r8 != 9 goto out
	if r7 == 0 goto out
	r6 += 100
	r0 = *(u8 *)(r6 + 0)
out:
	r0 = 0
	exit
