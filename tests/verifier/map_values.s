# Map values: accesses within value_size from a null-checked lookup
# result, or from a direct value address (ld_imm64 with a map index and an
# offset); maps created read-only for programs refuse writes; map types
# without lookup refuse it. Selftests: verifier_array_access.c,
# verifier_map_ret_val.c, verifier_direct_value_access (verifier/
# direct_value_access.c), verifier_value.c, verifier_map_in_map.c.

;; case read_last_byte_of_value
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u8 *)(r0 + 15)
out:
	r0 = 0
	exit

;; case read_past_value
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
	r0 = *(u8 *)(r0 + 16)
out:
	r0 = 0
	exit

;; case read_crossing_value_end
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
	r0 = *(u64 *)(r0 + 12)
out:
	r0 = 0
	exit

;; case read_before_value
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=-1 size=1
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u8 *)(r0 - 1)
out:
	r0 = 0
	exit

;; case misaligned_value_read
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u64 *)(r0 + 3)
out:
	r0 = 0
	exit

;; case write_value
;; type socket_filter
;; map values hash key=4 value=16 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	*(u64 *)(r0 + 8) = 1
out:
	r0 = 0
	exit

;; case write_into_read_only_map
;; type socket_filter
;; map values array key=4 value=16 max=1 flags=0x80
;; expect reject: write into map forbidden, value_size=16 off=0 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	*(u64 *)(r0 + 0) = 1
out:
	r0 = 0
	exit

;; case read_from_read_only_map
;; type socket_filter
;; map values array key=4 value=16 max=1 flags=0x80
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

;; case pointer_stored_in_value_by_root
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	*(u64 *)(r0 + 0) = r10
out:
	r0 = 0
	exit

;; case value_as_key_of_another_lookup
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r2 = r0
	ld_pseudo r1, 5, 0
	call 1
out:
	r0 = 0
	exit

;; case direct_value_address
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	ld_pseudo r1, 6, 0x400000000
	r0 = *(u32 *)(r1 + 0)
	exit

;; case direct_value_address_past_end
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: invalid access to map value pointer, value_size=16 off=16
	ld_pseudo r1, 6, 0x1000000000
	r0 = *(u32 *)(r1 + 0)
	exit

;; case direct_value_read_past_end
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect reject: R1 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=16 off=12 size=8
	ld_pseudo r1, 6, 0xc00000000
	r0 = *(u64 *)(r1 + 0)
	exit

;; case direct_value_of_hash_map
;; type socket_filter
;; map values hash key=4 value=16 max=1
;; expect reject: no direct value access support for this map type
	ld_pseudo r1, 6, 0
	r0 = *(u32 *)(r1 + 0)
	exit

;; case percpu_array_value
;; type socket_filter
;; map values percpu_array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u64 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case queue_push
;; type socket_filter
;; map fifo queue key=0 value=8 max=4
;; expect accept
	*(u64 *)(r10 - 8) = 1
	r2 = r10
	r2 += -8
	r3 = 0
	ld_pseudo r1, 5, 0
	call 87
	r0 = 0
	exit

;; case queue_lookup
;; type socket_filter
;; map fifo queue key=0 value=8 max=4
;; expect reject: invalid zero-sized read
	*(u64 *)(r10 - 8) = 1
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = 0
	exit

;; case delete_from_array
;; type socket_filter
;; map values array key=4 value=16 max=1
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 3
	r0 = 0
	exit
