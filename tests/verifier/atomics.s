# Atomic read-modify-write instructions: on stack and map values, 32 or
# 64 bits, never on the context or the packet; cmpxchg compares with r0,
# which must be set; fetch forms write the old value back to the source
# register. load_acquire/store_release (cpu v4). Selftests:
# verifier_atomic*.c (atomic_fetch, atomic_cmpxchg, atomic_xchg,
# atomic_invalid, atomic_bounds), verifier_load_acquire.c,
# verifier_store_release.c.

;; case atomic_add_on_stack
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 1
	r1 = 2
	lock *(u64 *)(r10 - 8) += r1
	r0 = *(u64 *)(r10 - 8)
	exit

;; case atomic_add_on_uninitialised_stack
;; type socket_filter
;; expect accept
	r1 = 2
	lock *(u64 *)(r10 - 8) += r1
	r0 = 0
	exit

;; case atomic_fetch_add_returns_old_value
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 1
	r0 = 2
	r0 = atomic_fetch_add((u64 *)(r10 - 8), r0)
	exit

;; case atomic_add_32bit
;; type socket_filter
;; expect accept
	*(u32 *)(r10 - 8) = 1
	w1 = 2
	lock *(u32 *)(r10 - 8) += w1
	r0 = 0
	exit

;; case atomic_on_ctx
;; type socket_filter
;; expect reject: BPF_ATOMIC stores into R1 ctx is not allowed
	r2 = 1
	lock *(u32 *)(r1 + 48) += w2
	r0 = 0
	exit

;; case atomic_on_packet
;; type xdp
;; expect reject: BPF_ATOMIC stores into R2 pkt is not allowed
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 8
	if r3 > r4 goto out
	r1 = 1
	lock *(u64 *)(r2 + 0) += r1
out:
	r0 = 2
	exit

;; case atomic_on_map_value
;; type socket_filter
;; map values array key=4 value=8 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = 1
	lock *(u64 *)(r0 + 0) += r1
out:
	r0 = 0
	exit

;; case atomic_past_the_map_value
;; type socket_filter
;; map values array key=4 value=8 max=1
;; expect reject: misaligned value access off 0+0+4 size 8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = 1
	lock *(u64 *)(r0 + 4) += r1
out:
	r0 = 0
	exit

;; case cmpxchg_on_stack
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 3
	r0 = 3
	r1 = 4
	r0 = cmpxchg_64(r10 - 8, r0, r1)
	exit

;; case cmpxchg_without_r0
;; type socket_filter
;; expect reject: R0 !read_ok
	*(u64 *)(r10 - 8) = 3
	r1 = 4
	r0 = cmpxchg_64(r10 - 8, r0, r1)
	exit

;; case xchg_on_map_value
;; type socket_filter
;; map values array key=4 value=8 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = 5
	r1 = xchg_64(r0 + 0, r1)
out:
	r0 = 0
	exit

;; case atomic_misaligned_on_stack
;; type socket_filter
;; expect reject: misaligned stack access off 0+0+-12 size 8
	*(u64 *)(r10 - 16) = 0
	*(u64 *)(r10 - 8) = 0
	r1 = 1
	lock *(u64 *)(r10 - 12) += r1
	r0 = 0
	exit

;; case atomic_16bit_size
;; type socket_filter
;; expect reject: invalid atomic operand size
	*(u64 *)(r10 - 8) = 0
	r1 = 1
;; raw 0xcb 10 1 -8 0
	r0 = 0
	exit

;; case atomic_unknown_operation
;; type socket_filter
;; expect reject: BPF_ATOMIC uses invalid atomic opcode 10
	*(u64 *)(r10 - 8) = 0
	r1 = 1
;; raw 0xdb 10 1 -8 0x10
	r0 = 0
	exit

;; case atomic_with_uninitialised_source
;; type socket_filter
;; expect reject: R3 !read_ok
	*(u64 *)(r10 - 8) = 0
	lock *(u64 *)(r10 - 8) += r3
	r0 = 0
	exit

;; case load_acquire_from_stack
;; type socket_filter
;; expect accept
	*(u64 *)(r10 - 8) = 7
	r0 = load_acquire((u64 *)(r10 - 8))
	exit

;; case store_release_to_stack
;; type socket_filter
;; expect accept
	r1 = 7
	store_release((u64 *)(r10 - 8), r1)
	r0 = *(u64 *)(r10 - 8)
	exit

;; case store_release_to_ctx
;; type socket_filter
;; expect reject: BPF_ATOMIC stores into R1 ctx is not allowed
	r2 = 7
	store_release((u32 *)(r1 + 48), w2)
	r0 = 0
	exit

# A fetch narrower than the spilled scalar it reads is a narrow fill: the
# low bytes of a spilled constant stay that constant, the bytes of a spilled
# zero stay zero, anything else is unknown (found by `apiary fuzz verdicts`,
# seed 100871).

;; case atomic_fetch_32_of_spilled_zero
;; type socket_filter
;; expect accept
	r2 = 0
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 8), w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_64_of_spilled_zero
;; type socket_filter
;; expect accept
	r2 = 0
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	r3 = atomic_fetch_add((u64 *)(r10 - 8), r3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_32_of_spilled_high_constant
;; type socket_filter
;; expect accept
	r2 = 0x100000000 ll
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 8), w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case load_32_of_spilled_high_constant
;; type socket_filter
;; expect accept
	r2 = 0x100000000 ll
	*(u64 *)(r10 - 8) = r2
	r3 = *(u32 *)(r10 - 8)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_xchg_32_of_spilled_zero
;; type socket_filter
;; expect accept
	r2 = 0
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = xchg32_32(r10 - 8, w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_32_of_spilled_zero_upper_half
;; type socket_filter
;; expect accept
	r2 = 0
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 4), w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_32_of_spilled_unknown
;; type socket_filter
;; expect reject: variable ctx access var_off=(0x0; 0xffffffff) disallowed
	r2 = *(u32 *)(r1 + 0)
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 8), w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_32_of_spilled_constant_upper_half
;; type socket_filter
;; expect reject: variable ctx access var_off=(0x0; 0xffffffff) disallowed
	r2 = 0x500000000 ll
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 4), w3)
	r1 += r3
	r0 = *(u32 *)(r1 + 0)
	exit

;; case atomic_fetch_32_of_spilled_constant_then_read_back
;; type socket_filter
;; expect reject: math between ctx pointer and register with unbounded min value is not allowed
	r2 = 0
	*(u64 *)(r10 - 8) = r2
	r3 = 1
	w3 = atomic_fetch_add((u32 *)(r10 - 8), w3)
	r4 = *(u64 *)(r10 - 8)
	r1 += r4
	r0 = *(u32 *)(r1 + 0)
	exit
