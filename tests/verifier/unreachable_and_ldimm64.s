# The control-flow checks made before any state is explored: every
# instruction reachable, no jump into the second slot of a 64-bit
# immediate load, the last instruction an exit or a jump; the encoding
# checks: known opcodes, reserved fields zero, registers r0-r10; R0 set at
# exit; the immediate forms of ld_imm64 (maps by fd or fd_array index).
# Selftests: verifier/ld_imm64.c, verifier_ld_ind.c, verifier/basic.c,
# verifier/junk_insn.c, verifier/jump.c, verifier_unpriv.c.

;; case code_after_exit_is_unreachable
;; type socket_filter
;; expect reject: unreachable insn 2
	r0 = 0
	exit
	r0 = 1
	exit

;; case code_skipped_by_jump_is_unreachable
;; type socket_filter
;; expect reject: unreachable insn 2
	r0 = 0
	goto out
	r0 = 1
out:
	exit

;; case code_behind_never_taken_branch_is_reachable
;; type socket_filter
;; expect accept
	r1 = 0
	r0 = 0
	if r1 != 0 goto bad
	exit
bad:
	r0 = *(u64 *)(r1 + 0)
	exit

;; case jump_into_the_middle_of_lddw
;; type socket_filter
;; expect reject: jump into the middle of ldimm64 insn 2
	r0 = 0
	if r1 == 0 goto +1
	r1 = 0x123456789 ll
	exit

;; case jump_over_lddw
;; type socket_filter
;; expect accept
	r0 = 0
	if r1 == 0 goto +2
	r1 = 0x123456789 ll
	exit

;; case lddw_is_the_last_slot
;; type socket_filter
;; expect reject: last insn is not an exit or jmp
	r0 = 0
	exit
;; raw 0x18 0 0 0 1

;; case lddw_second_slot_has_an_opcode
;; type socket_filter
;; expect reject: invalid bpf_ld_imm64 insn
;; raw 0x18 0 0 0 1
;; raw 0x07 0 0 0 0
	exit

;; case lddw_value_is_known
;; type socket_filter
;; expect accept
	r1 = 0x800000000 ll
	r1 >>= 32
	r2 = r10
	r2 += -16
	r2 += r1
	*(u64 *)(r2 + 0) = 0
	r0 = 0
	exit

;; case lddw_value_subtracted_from_stack_pointer
;; type socket_filter
;; expect reject: R2 subtraction from stack pointer prohibited
	r1 = 0x100000010 ll
	r1 >>= 32
	r2 = r10
	r2 += -8
	r2 -= r1
	*(u8 *)(r2 + 0) = 0
	r0 = 0
	exit

;; case last_insn_is_not_exit
;; type socket_filter
;; expect reject: last insn is not an exit or jmp
	r0 = 0

;; case r0_never_set
;; type socket_filter
;; expect reject: R0 !read_ok
	exit

;; case r0_set_on_one_branch_only
;; type socket_filter
;; expect reject: R0 !read_ok
	r1 = *(u32 *)(r1 + 0)
	if r1 == 0 goto out
	r0 = 1
out:
	exit

;; case unknown_opcode
;; type socket_filter
;; expect reject: unknown opcode ff
	r0 = 0
;; raw 0xff 0 0 0 0
	exit

;; case mov_immediate_with_source_register
;; type socket_filter
;; expect reject: BPF_MOV uses reserved fields
;; raw 0xb7 0 1 0 0
	exit

;; case add_with_nonzero_offset
;; type socket_filter
;; expect reject: BPF_ALU uses reserved fields
	r0 = 0
;; raw 0x07 0 0 1 1
	exit

;; case exit_with_destination_register
;; type socket_filter
;; expect reject: BPF_EXIT uses reserved fields
	r0 = 0
;; raw 0x95 1 0 0 0

;; case ja_with_source_register
;; type socket_filter
;; expect reject: BPF_JA uses reserved fields
	r0 = 0
;; raw 0x05 0 1 0 0
	exit

;; case load_with_immediate
;; type socket_filter
;; expect reject: BPF_LDX uses reserved fields
	*(u64 *)(r10 - 8) = 0
;; raw 0x79 0 10 -8 1
	exit

;; case register_eleven
;; type socket_filter
;; expect reject: R11 is invalid
;; raw 0xb7 11 0 0 0
	r0 = 0
	exit

;; case map_fd_that_is_not_a_map
;; type socket_filter
;; expect reject: fd 9999 is not pointing to valid bpf_map
	ld_pseudo r1, 1, 9999
	r0 = 0
	exit

;; case map_index_without_fd_array
;; type socket_filter
;; expect reject: fd_idx without fd_array is invalid
	ld_pseudo r1, 5, 0
	r0 = 0
	exit

;; case map_index_within_fd_array
;; type socket_filter
;; map values array key=4 value=8 max=1
;; expect accept
	ld_pseudo r1, 5, 0
	r0 = 0
	exit

;; case unknown_pseudo_source
;; type socket_filter
;; expect reject: unrecognized bpf_ld_imm64 insn
;; raw 0x18 1 7 0 0
;; raw 0x00 0 0 0 0
	r0 = 0
	exit

;; case ld_abs_in_socket_filter
;; type socket_filter
;; expect accept
	r6 = r1
	r0 = *(u8 *)skb[0]
	exit

;; case ld_abs_in_xdp
;; type xdp
;; expect reject: BPF_LD_[ABS|IND] instructions not allowed for this program type
	r6 = r1
	r0 = *(u8 *)skb[0]
	exit

;; case ld_abs_without_ctx_in_r6
;; type socket_filter
;; expect reject: R6 !read_ok
	r0 = *(u8 *)skb[0]
	exit

;; case long_jump_gotol
;; type socket_filter
;; expect accept
	r0 = 0
	r1 = *(u32 *)(r1 + 0)
	if r1 == 0 goto skip
	gotol out
skip:
	r0 = 1
out:
	exit

;; case kfunc_call_without_btf
;; type socket_filter
;; expect reject: kernel btf_id 1 is not a function
	call kfunc(1)
	r0 = 0
	exit

;; case r0_set_on_both_branches
;; type socket_filter
;; expect accept
	r1 = *(u32 *)(r1 + 0)
	r0 = 0
	if r1 == 0 goto out
	r0 = 1
out:
	exit

;; case uninitialised_register_read
;; type socket_filter
;; expect reject: R5 !read_ok
	r0 = r5
	exit

;; case jump_with_zero_offset
;; type socket_filter
;; expect accept
	r0 = 0
	goto +0
	exit

;; case exits_on_both_branches
;; type socket_filter
;; expect accept
	r1 = *(u32 *)(r1 + 0)
	r0 = 1
	if r1 == 0 goto other
	exit
other:
	r0 = 0
	exit

;; case last_insn_is_a_jump_back
;; type socket_filter
;; expect accept
	r0 = 0
	goto end
back:
	exit
end:
	goto back

;; case sixty_four_bit_immediate
;; type socket_filter
;; expect accept
	r0 = 0x1122334455667788 ll
	r0 >>= 56
	exit
