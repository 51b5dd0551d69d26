# Pointers that may be NULL (map lookups) must be compared with 0 before
# use; the comparison marks every copy carrying the same id.
# Selftests: verifier_map_ptr_mixing.c, verifier_helper_value_access.c,
# verifier/value_or_null.c, verifier_ref_tracking.c.

;; case lookup_dereferenced_without_check
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case lookup_checked_not_equal
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 != 0 goto found
	exit
found:
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case lookup_checked_equal_fallthrough
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case dereference_on_the_null_branch
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'scalar'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 != 0 goto out
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case copy_checked_through_original
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r6 = r0
	if r0 == 0 goto out
	r0 = *(u64 *)(r6 + 0)
out:
	r0 = 0
	exit

;; case second_lookup_not_checked
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r6 = r0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r6 == 0 goto out
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case arithmetic_before_null_check
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 pointer arithmetic on map_value_or_null prohibited, null-check it first
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 += 4
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case null_check_with_32bit_compare
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if w0 == 0 goto out
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case null_check_with_unsigned_greater
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 > 0 goto found
	r0 = 0
	exit
found:
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case spilled_copy_checked_through_original
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	*(u64 *)(r10 - 16) = r0
	if r0 == 0 goto out
	r1 = *(u64 *)(r10 - 16)
	r0 = *(u64 *)(r1 + 0)
out:
	r0 = 0
	exit

;; case compared_with_nonzero_constant
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 1 goto out
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case array_lookup_with_unknown_key_needs_check
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	r1 = *(u32 *)(r1 + 0)
	*(u32 *)(r10 - 4) = r1
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_constant_key_is_never_null
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_nonzero_key_stored_off_a_slot_boundary_needs_check
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 3
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_last_constant_key_is_never_null
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 8) = 3
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_constant_key_past_the_end_needs_check
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 8) = 4
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_key_from_a_constant_register_is_never_null
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect accept
	r1 = 2
	*(u32 *)(r10 - 8) = r1
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_key_spilled_wider_than_the_key_needs_check
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	r1 = 2
	*(u64 *)(r10 - 8) = r1
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case hash_lookup_with_constant_key_needs_check
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R0 invalid mem access 'map_value_or_null'
	*(u32 *)(r10 - 4) = 1
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case sk_pointer_from_skb_needs_check
;; type sched_cls
;; expect reject: R1 invalid mem access 'sock_common_or_null'
	r1 = *(u64 *)(r1 + 168)
	r0 = *(u32 *)(r1 + 0)
	r0 = 0
	exit

;; case sk_pointer_from_skb_checked
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 0)
out:
	r0 = 0
	exit

;; case array_lookup_with_zero_register_key_is_never_null
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect accept
	r1 = 0
	*(u32 *)(r10 - 4) = r1
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case array_lookup_with_spilled_constant_key_is_never_null
;; type socket_filter
;; map values array key=4 value=8 max=4
;; expect accept
	r1 = 3
	*(u32 *)(r10 - 8) = r1
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case ctx_compared_with_zero_explores_both_branches
;; type xdp
;; expect reject: R2 !read_ok
	if r1 == 0 goto bad
	r0 = 2
	exit
bad:
	r0 = *(u32 *)(r2 + 0)
	exit
