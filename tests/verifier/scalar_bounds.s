# Scalars carry a tnum and signed/unsigned 64- and 32-bit bounds; ALU
# operations transform them and conditional jumps refine them on each
# branch. Every case bounds an unknown value read from a 16-byte map value
# and uses it as an offset into that value. Selftests: verifier_bounds.c,
# verifier_subreg.c, verifier_and.c, verifier_movsx.c,
# verifier_bounds_mix_sign_unsign.c, verifier_reg_equal.c.

;; case unbounded_index
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case unsigned_upper_bound
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 > 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case unsigned_upper_bound_off_by_one
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=16 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 > 16 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case unsigned_ge_bound
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 >= 16 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_upper_bound_only
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 s> 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_both_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 s> 15 goto out
	if r1 s< 0 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_ge_and_lt_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 s>= 16 goto out
	if r1 s< 0 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case bound_32bit_on_64bit_value
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if w1 > 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case bound_32bit_on_u32_load
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	if w1 > 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_32bit_bound_on_u32_load
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 unbounded memory access, make sure to bounds check any such access
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	if w1 s> 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_32bit_both_bounds_on_u32_load
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	if w1 s> 15 goto out
	if w1 s< 0 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case mask_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case mask_too_wide
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=31 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 31
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case mask_32bit_zero_extends
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	w1 &= 15
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case modulo_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 %= 16
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case right_shift_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 >>= 60
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case left_shift_widens
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=30 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r1 <<= 1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case sum_of_bounded
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = r1
	r1 &= 7
	r2 >>= 61
	r1 += r2
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case subtraction_may_go_negative
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is negative, either use unsigned index or do a if (index >=0) check.
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r1 -= 1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case multiplication_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 3
	r1 *= 5
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case xor_widens
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
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r1 ^= 16
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case or_within_mask
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 3
	r1 |= 12
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case register_bound
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = 15
	if r1 > r2 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case register_bound_reversed
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = 16
	if r2 <= r1 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case register_bound_unknown
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = *(u64 *)(r0 + 8)
	if r1 > r2 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case sign_extended_byte_is_negative
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is negative, either use unsigned index or do a if (index >=0) check.
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 = (s8)r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case sign_extended_masked_byte
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r1 = (s8)r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_load_bounded_unsigned
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(s8 *)(r0 + 0)
	if r1 > 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_load_bounded_signed_above
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is negative, either use unsigned index or do a if (index >=0) check.
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(s8 *)(r0 + 0)
	if r1 s> 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case branch_known_not_taken_is_skipped
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 7
	if r1 > 7 goto bad
	goto ok
bad:
	r0 = *(u64 *)(r1 + 0)
ok:
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case jset_fallthrough_clears_high_bits
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 & 0xfffffff0 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit
;; case jset_of_low_bits_leaves_high_bits
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 & 0xf0 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case alu32_result_is_zero_extended
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	w1 += 0
	if r1 > 15 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case alu32_add_wraps_within_32_bits
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 unbounded memory access, make sure to bounds check any such access
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	if w1 > 15 goto out
	w1 += -1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case alu32_add_without_wrap
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	if w1 > 14 goto out
	w1 += 1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case compare_with_bounded_unknown_register
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = *(u64 *)(r0 + 8)
	r2 &= 15
	if r1 > r2 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case compare_with_bounded_register_wrong_way
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r2 = *(u64 *)(r0 + 8)
	r2 &= 15
	if r1 < r2 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case signed_and_unsigned_bounds_combine
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 s> 15 goto out
	if r1 s< 0 goto out
	r1 &= -1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case unsigned_lower_bound_alone
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 < 4 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case equality_makes_a_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 != 9 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case inequality_excludes_one_value
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	if r1 == 9 goto out
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case arithmetic_right_shift_of_negative
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is negative, either use unsigned index or do a if (index >=0) check.
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 60
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case division_by_constant_bounds
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and register with unbounded min value is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 255
	r1 /= 16
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

# Byte swaps and byte-order conversions (`scalar_byte_swap`): the tnum's
# bytes are reversed and the bounds re-derived from it; 16- and 32-bit
# forms truncate; constants fold (found by `apiary fuzz verdicts`, seed
# 101511). Selftests: verifier_bswap.c.

;; case byteswap_u8_be16_rsh8
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = be16 r1
	r1 >>= 8
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_le16
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = le16 r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_le64
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = le64 r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_le32
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = le32 r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_bswap64_rsh56
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = bswap64 r1
	r1 >>= 56
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_be16_and
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = be16 r1
	r1 &= 0xff
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_u8_be32_rsh24
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = be32 r1
	r1 >>= 24
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case byteswap_const_be16
;; type socket_filter
;; expect accept
	r1 = 0x12345678 ll
	r1 = be16 r1
	r2 = 0x7856 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_be32
;; type socket_filter
;; expect accept
	r1 = 0x12345678 ll
	r1 = be32 r1
	r2 = 0x78563412 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_be64
;; type socket_filter
;; expect accept
	r1 = 0x1122334455667788 ll
	r1 = be64 r1
	r2 = 0x8877665544332211 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_le16
;; type socket_filter
;; expect accept
	r1 = 0x12345678 ll
	r1 = le16 r1
	r2 = 0x5678 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_le32
;; type socket_filter
;; expect accept
	r1 = 0x1122334455667788 ll
	r1 = le32 r1
	r2 = 0x55667788 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_bswap16
;; type socket_filter
;; expect accept
	r1 = 0x12345678 ll
	r1 = bswap16 r1
	r2 = 0x7856 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_const_be16_wrong
;; type socket_filter
;; expect reject: misaligned stack access off 0+8670+-8 size 8
	r1 = 0x12345678 ll
	r1 = be16 r1
	r2 = 0x5678 ll
	r1 -= r2
	r0 = r10
	r0 += r1
	r0 = *(u64 *)(r0 - 8)
	exit

;; case byteswap_u8_be16_unshifted
;; type socket_filter
;; map values array key=4 value=256 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=256 off=65280 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u8 *)(r0 + 0)
	r1 = be16 r1
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

# A range that holds one member of the tnum makes the scalar that member
# (`__update_reg64_bounds` with `tnum_step`): at the range's minimum, at
# the tnum's largest member, or strictly inside; two members do not (found
# by `apiary fuzz verdicts`, seeds 11 and 18225).

;; case range_meets_tnum_only_at_umin
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 <<= 1
	r1 -= 1
	r1 <<= 3
	w1 >>= 1
	r2 = 9
	if w1 > w2 goto out
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case range_meets_tnum_only_at_umin_signed
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 0xf0
	r1 -= 4
	if r1 s> 16 goto out
	if r1 s< 0 goto out
	r0 += r1
	r6 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case range_meets_tnum_in_two_values
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=12 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 <<= 3
	r1 |= 4
	if r1 > 13 goto out
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case range_meets_tnum_only_inside
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 <<= 3
	r1 |= 4
	if r1 < 5 goto out
	if r1 > 13 goto out
	r0 += r1
	r6 = *(u32 *)(r0 - 12)
out:
	r0 = 0
	exit

;; case range_meets_tnum_only_at_its_largest
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 8
	r1 |= 4
	if r1 < 5 goto out
	r0 += r1
	r6 = *(u32 *)(r0 - 12)
out:
	r0 = 0
	exit

;; case range_meets_tnum_in_two_values_inside
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=-7 size=4
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 <<= 3
	r1 |= 4
	if r1 < 5 goto out
	if r1 > 21 goto out
	r0 += r1
	r6 = *(u32 *)(r0 - 12)
out:
	r0 = 0
	exit

# A sign mask (`s>>= 63`: 0 or -1) sign-extended stays 0 or -1, and `|`
# or `&` with a constant on it forks the state into its two values
# (`maybe_fork_scalars`); found by `apiary fuzz verdicts` (seeds 6848,
# 7622, 10187, 15940, 17881, 18154 of the edge mutations).

;; case sign_mask_sign_extended_16
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r1 = (s16)r1
	if r1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 8) = r1
out:
	r0 = 0
	exit

;; case sign_mask_sign_extended_8
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r1 = (s8)r1
	if r1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 8) = r1
out:
	r0 = 0
	exit

;; case sign_mask_or_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r1 |= 8
	if r1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case sign_mask_and_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r1 &= 8
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

# The case of 0 checks the instruction again (the kernel pushes the
# instruction itself, not the one after it): `0 | 8` is 8, not 0.

;; case sign_mask_or_constant_then_past_the_end
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=16 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r1 |= 8
	if r1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 8) = r1
out:
	r0 = 0
	exit

# A 32-bit sign mask (`w1 s>>= 31`) forks on its low half, also for a
# 64-bit operation; a register holding a constant forks as an immediate.

;; case sign_mask_32_or_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	w1 s>>= 31
	w1 |= 8
	if w1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case sign_mask_32_or_constant_64bit_op
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	w1 s>>= 31
	r1 |= 8
	if w1 s< 0 goto out
	w1 = w1
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case sign_mask_or_constant_register
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 s>>= 63
	r2 = 8
	r1 |= r2
	if r1 s< 0 goto out
	r0 += r1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

# A 64-bit sign extension of a low half that already fits the narrow type
# is the 32-bit value sign-extended (`w1 -= 1` on 0 or 1 is 0 or
# 0xffffffff: as s16, 0 or -1; fuzz verdicts seed 24943); the 32-bit
# extension keeps no range of both signs.

;; case sign_extended_32bit_sign_mask
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 1
	w1 -= 1
	r1 = (s16)r1
	if r1 >= 10 goto out
	r0 += r1
	r1 = *(u64 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case sign_extended_low_half_range
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 7
	w1 -= 4
	r1 = (s32)r1
	if r1 s< 0 goto out
	r0 += r1
	r1 = *(u32 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case sign_extended_32bit_both_signs_lost
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=135 size=4
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 7
	w1 -= 4
	w1 = (s8)w1
	if w1 s< 0 goto out
	r0 += r1
	r1 = *(u32 *)(r0 + 8)
out:
	r0 = 0
	exit

# A sign extension of a number below the narrow type's sign bit changes
# nothing: the copy stays linked to its source, and a comparison of one
# bounds the other.

;; case sign_extension_that_changes_nothing_links_the_copy
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	r2 = (s8)r1
	if r2 > 3 goto out
	r0 += r1
	r1 = *(u64 *)(r0 + 4)
out:
	r0 = 0
	exit

;; case sign_extension_32_that_changes_nothing_links_the_copy
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 15
	w2 = (s16)w1
	if w2 > 3 goto out
	r0 += r1
	r1 = *(u64 *)(r0 + 4)
out:
	r0 = 0
	exit

# A sign extension of a range of one sign rebuilds the tnum from the
# range's ends, losing its known bits (fuzz verdicts seeds 59861, 74038:
# unsound accepts while the tnum was kept).

;; case sign_extended_range_loses_its_tnum
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=15 size=2
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 = (s8)r1
	r1 += 8
	r1 &= 0xf0
	r1 = (s32)r1
	if r1 s> 15 goto out
	r0 += r1
	*(u16 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case sign_extended_range_loses_its_low_zeros
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 max value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=16 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 &= 0xff
	r1 <<= 2
	r1 *= 3
	r1 = (s16)r1
	r1 <<= 3
	if w1 s> 8 goto out
	r0 += r1
	*(u64 *)(r0 + 8) = r1
out:
	r0 = 0
	exit
