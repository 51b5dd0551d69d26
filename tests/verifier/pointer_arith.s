# What may be added to which pointer: constants and bounded scalars to
# stack, map value and packet pointers; nothing but a constant 0 to map
# pointers, no arithmetic on ctx that is then dereferenced, no pointer
# plus pointer, no multiplication, bitwise or 32-bit arithmetic on
# pointers. Selftests: verifier_value_ptr_arith.c, verifier_ctx.c,
# verifier/ctx.c, verifier_map_ptr.c.

;; case pointer_plus_pointer
;; type socket_filter
;; expect reject: R1 pointer += pointer prohibited
	r1 += r10
	r0 = 0
	exit

;; case pointer_minus_pointer_is_a_scalar
;; type socket_filter
;; expect accept
	r2 = r10
	r2 += -16
	r0 = r10
	r0 -= r2
	exit

;; case pointer_multiplied
;; type socket_filter
;; expect reject: R1 pointer arithmetic with *= operator prohibited
	r1 *= 2
	r0 = 0
	exit

;; case pointer_masked
;; type socket_filter
;; expect reject: R1 bitwise operator &= on pointer prohibited
	r1 &= -8
	r0 = 0
	exit

;; case pointer_32bit_add
;; type socket_filter
;; expect reject: R1 32-bit pointer arithmetic prohibited
	w1 += 4
	r0 = 0
	exit

;; case pointer_negated
;; type socket_filter
;; expect accept
	r1 = -r1
	r0 = 0
	exit

;; case modified_ctx_dereferenced
;; type socket_filter
;; expect reject: dereference of modified ctx ptr R1 off=4 disallowed
	r1 += 4
	r0 = *(u32 *)(r1 + 0)
	exit

;; case ctx_with_fixed_offset_in_insn
;; type socket_filter
;; expect accept
	r0 = *(u32 *)(r1 + 4)
	exit

;; case ctx_plus_variable_offset
;; type socket_filter
;; expect reject: variable ctx access var_off=(0x0; 0x4) disallowed
	r2 = *(u32 *)(r1 + 0)
	r2 &= 4
	r1 += r2
	r0 = *(u32 *)(r1 + 0)
	exit

;; case scalar_used_as_pointer
;; type socket_filter
;; expect reject: R1 invalid mem access 'scalar'
	r1 = 4096
	r0 = *(u64 *)(r1 + 0)
	exit

;; case map_pointer_plus_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R1 pointer arithmetic on map_ptr prohibited
	ld_pseudo r1, 5, 0
	r1 += 8
	r0 = 0
	exit

;; case map_pointer_plus_zero
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r1 += 0
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	call 1
	r0 = 0
	exit

;; case map_pointer_dereferenced
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r0 = *(u64 *)(r1 + 0)
	r0 = 0
	exit

;; case map_value_plus_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 += 8
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case map_value_plus_constant_past_end
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=12 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 += 12
	r0 = *(u64 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case map_value_huge_constant
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: math between map_value pointer and 536870912 is not allowed
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = 536870912
	r0 += r1
	r0 = 0
out:
	r0 = 0
	exit

;; case map_value_minus_then_plus
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 += -8
	r0 += 12
	r0 = *(u32 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case packet_length_from_pointer_difference
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r3 = *(u32 *)(r1 + 4)
	r3 -= r2
	r0 = 2
	exit

;; case xdp_returns_a_pointer
;; type xdp
;; expect accept
	r0 = r10
	exit

;; case stack_pointer_minus_immediate
;; type socket_filter
;; expect reject: R2 subtraction from stack pointer prohibited
	r2 = r10
	r2 -= 8
	*(u64 *)(r2 + 0) = 1
	r0 = 0
	exit

;; case scalar_plus_pointer_is_a_pointer
;; type socket_filter
;; expect accept
	r2 = -8
	r2 += r10
	*(u64 *)(r2 + 0) = 1
	r0 = *(u64 *)(r2 + 0)
	exit

# A map pointer reads the map's kernel struct (`struct bpf_array`, `struct
# bpf_htab`, whose first member is `struct bpf_map`) field by field, never
# writes it; offsets are this machine's kernel's (`max_entries` at 76).

;; case map_struct_hole_read
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: struct bpf_map doesn't have field at offset 36
	ld_pseudo r1, 5, 0
	r0 = *(u32 *)(r1 + 36)
	r0 = 0
	exit

;; case map_struct_field_read
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r0 = *(u32 *)(r1 + 76)
	r0 = 0
	exit

;; case map_struct_written
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: only read from bpf_array is supported
	ld_pseudo r1, 5, 0
	r2 = 0
	*(u32 *)(r1 + 36) = r2
	r0 = 0
	exit

;; case map_struct_negative_offset
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R1 is bpf_array invalid negative access: off=-8
	ld_pseudo r1, 5, 0
	r0 = *(u64 *)(r1 - 8)
	r0 = 0
	exit

;; case map_struct_read_past_its_end
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: access beyond struct bpf_array at off 4096 size 8
	ld_pseudo r1, 5, 0
	r0 = *(u64 *)(r1 + 4096)
	r0 = 0
	exit

;; case hash_map_struct_field_read
;; type socket_filter
;; map values hash key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r0 = *(u32 *)(r1 + 76)
	r0 = 0
	exit

;; case map_struct_pointer_member_followed
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = *(u64 *)(r1 + 40)
	r0 = *(u64 *)(r2 + 0)
	r0 = 0
	exit

;; case map_struct_field_read_is_a_number
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	call 1
	if r0 == 0 goto out
	r1 = 0
	ld_pseudo r2, 5, 0
	r1 = *(u32 *)(r2 + 76)
	r1 &= 15
	r0 += r1
	r0 = *(u8 *)(r0 + 0)
out:
	r0 = 0
	exit
