# The stack: 512 bytes below r10, tracked per 8-byte slot (invalid,
# spilled register, misc, zero). r10 itself is read-only. Privileged
# programs may read stack they never wrote. Selftests:
# verifier_stack_ptr.c, verifier_spill_fill.c, verifier_var_off.c,
# verifier_uninit.c, verifier_raw_stack.c.

;; case uninitialised_stack_read_is_allowed_for_root
;; type socket_filter
;; expect accept
	r0 = *(u64 *)(r10 - 8)
	r0 = 0
	exit

;; case write_then_read
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 7
	r0 = *(u64 *)(r10 - 8)
	exit

;; case read_below_the_stack
;; type socket_filter
;; expect reject: invalid read from stack R10 off=-520 size=8
	r0 = *(u64 *)(r10 - 520)
	r0 = 0
	exit

;; case deepest_stack_slot
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 512) = 0
	r0 = *(u64 *)(r10 - 512)
	exit

;; case write_above_the_frame
;; type socket_filter
;; expect reject: invalid write to stack R10 off=0 size=8
	*(u64 *)(r10 + 0) = 0
	r0 = 0
	exit

;; case misaligned_stack_write
;; type socket_filter
;; expect reject: misaligned stack access off 0+0+-4 size 8
	*(u64 *)(r10 - 4) = 0
	r0 = 0
	exit

;; case frame_pointer_is_read_only
;; type socket_filter
;; expect reject: frame pointer is read only
	r10 = 0
	r0 = 0
	exit

;; case frame_pointer_arithmetic_in_place
;; type socket_filter
;; expect reject: frame pointer is read only
	r10 += -8
	r0 = 0
	exit

;; case copy_of_frame_pointer_may_move
;; type socket_filter
;; expect accept
	r2 = r10
	r2 += -8
	*(u64 *)(r2 + 0) = 1
	r0 = *(u64 *)(r2 + 0)
	exit

;; case spilled_ctx_pointer_fills_back
;; type xdp
;; expect accept
	*(u64 *)(r10 - 8) = r1
	r1 = 0
	r1 = *(u64 *)(r10 - 8)
	r0 = *(u32 *)(r1 + 12)
	r0 = 2
	exit

;; case partial_fill_of_spilled_pointer
;; type xdp
;; expect reject: invalid size of register fill
	*(u64 *)(r10 - 8) = r1
	r1 = *(u32 *)(r10 - 8)
	r0 = 2
	exit

;; case partial_spill_of_pointer
;; type xdp
;; expect reject: invalid size of register spill
	*(u32 *)(r10 - 8) = r1
	r0 = 2
	exit

;; case byte_write_destroys_spilled_pointer
;; type xdp
;; expect reject: R1 invalid mem access 'scalar'
	*(u64 *)(r10 - 8) = r1
	*(u8 *)(r10 - 8) = 0
	r1 = *(u64 *)(r10 - 8)
	r0 = *(u32 *)(r1 + 12)
	r0 = 2
	exit

;; case spilled_constant_stays_precise
;; type socket_filter
;; expect accept
	r1 = 4
	*(u64 *)(r10 - 8) = r1
	r2 = *(u64 *)(r10 - 8)
	r3 = r10
	r3 += -16
	r3 += r2
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit

;; case spilled_constant_out_of_frame
;; type socket_filter
;; expect reject: invalid write to stack R3 off=0 size=1
	r1 = 16
	*(u64 *)(r10 - 8) = r1
	r2 = *(u64 *)(r10 - 8)
	r3 = r10
	r3 += -16
	r3 += r2
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit

;; case bounded_variable_offset_stack_write
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r2 &= 7
	r3 = r10
	r3 += -16
	r3 += r2
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit

;; case unbounded_variable_offset_stack_write
;; type socket_filter
;; expect reject: invalid unbounded variable-offset write to stack R3
	r2 = *(u32 *)(r1 + 0)
	r3 = r10
	r3 += -16
	r3 += r2
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit

;; case variable_offset_stack_read
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r2 &= 7
	r3 = r10
	r3 += -16
	r3 += r2
	r0 = *(u8 *)(r3 + 0)
	r0 = 0
	exit

;; case spilled_frame_pointer_fills_back
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = r10
	r2 = *(u64 *)(r10 - 8)
	*(u64 *)(r2 - 16) = 3
	r0 = *(u64 *)(r2 - 16)
	exit

;; case spilled_scalar_fill_keeps_bounds
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r2 &= 7
	*(u64 *)(r10 - 8) = r2
	r4 = *(u64 *)(r10 - 8)
	r3 = r10
	r3 += -16
	r3 += r4
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit

;; case u32_spill_of_scalar_keeps_bounds
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r2 &= 7
	*(u32 *)(r10 - 8) = r2
	r4 = *(u32 *)(r10 - 8)
	r3 = r10
	r3 += -16
	r3 += r4
	*(u8 *)(r3 + 0) = 0
	r0 = 0
	exit
