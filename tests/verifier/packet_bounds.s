# Direct packet access: a packet pointer may be dereferenced only within
# the range that a comparison with data_end (or, for data_meta, with data)
# has proven. Selftests: verifier_direct_packet_access.c, verifier_xdp*.c,
# verifier/ctx_skb.c (what is checked, rewritten here).
# XDP context: data at +0, data_end at +4, data_meta at +8.

;; case xdp_read_without_check
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r0 = *(u8 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_read_after_check_gt
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 14
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 13)
out:
	r0 = 2
	exit

;; case xdp_read_past_checked_header
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 14
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 23)
out:
	r0 = 2
	exit

;; case xdp_second_check_extends_range
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 14
	if r3 > r4 goto out
	r5 = r2
	r5 += 34
	if r5 > r4 goto out
	r0 = *(u8 *)(r2 + 23)
out:
	r0 = 2
	exit

;; case xdp_check_ge_fallthrough
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 8
	if r3 >= r4 goto out
	r0 = *(u64 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_check_lt_taken
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 8
	if r3 < r4 goto read
	r0 = 2
	exit
read:
	r0 = *(u64 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_check_le_taken
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 8
	if r3 <= r4 goto read
	r0 = 2
	exit
read:
	r0 = *(u64 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_check_le_read_on_wrong_branch
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=8, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 8
	if r3 <= r4 goto out
	r0 = *(u64 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_check_data_end_first_lt
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r4 < r3 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_check_data_end_first_gt_taken
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r4 > r3 goto read
	r0 = 2
	exit
read:
	r0 = *(u32 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_check_data_end_first_ge_taken
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r4 >= r3 goto read
	r0 = 2
	exit
read:
	r0 = *(u32 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_check_data_end_first_le
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r4 <= r3 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_signed_compare_proves_nothing
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r3 s> r4 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_32bit_compare_of_packet_pointers
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if w3 > w4 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_write_after_check
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 6
	if r3 > r4 goto out
	*(u16 *)(r2 + 4) = 0
out:
	r0 = 2
	exit

;; case xdp_write_past_check
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=5 size=2, R2(id=0,off=5,r=6)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 6
	if r3 > r4 goto out
	*(u16 *)(r2 + 5) = 0
out:
	r0 = 2
	exit

;; case xdp_negative_offset_after_check
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=-1 size=1, R2(id=0,off=-1,r=6)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 6
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 - 1)
out:
	r0 = 2
	exit

;; case xdp_variable_offset_needs_new_check
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=1, R2(id=1,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r5 = *(u8 *)(r2 + 0)
	r2 += r5
	r0 = *(u8 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_variable_offset_then_checked
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r5 = *(u8 *)(r2 + 0)
	r2 += r5
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_variable_offset_too_large
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=1, R2(id=1,off=0,r=0)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r3 > r4 goto out
	r5 = *(u32 *)(r2 + 0)
	r2 += r5
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_data_meta_checked_against_data
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 8)
	r4 = *(u32 *)(r1 + 0)
	r3 = r2
	r3 += 4
	if r3 > r4 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_data_meta_unchecked
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 8)
	r0 = *(u32 *)(r2 + 0)
	r0 = 2
	exit

;; case xdp_data_meta_checked_against_data_end
;; type xdp
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)
	r2 = *(u32 *)(r1 + 8)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r3 > r4 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case xdp_arithmetic_on_data_end
;; type xdp
;; expect reject: R4 pointer arithmetic on pkt_end prohibited
	r4 = *(u32 *)(r1 + 4)
	r4 += -4
	r0 = 2
	exit

;; case tc_read_after_check
;; type sched_cls
;; expect accept
	r2 = *(u32 *)(r1 + 76)
	r4 = *(u32 *)(r1 + 80)
	r3 = r2
	r3 += 14
	if r3 > r4 goto out
	r0 = *(u16 *)(r2 + 12)
out:
	r0 = 0
	exit

;; case socket_filter_has_no_direct_packet_access
;; type socket_filter
;; expect reject: invalid bpf_context access off=76 size=4
	r2 = *(u32 *)(r1 + 76)
	r0 = 0
	exit

;; case cgroup_skb_reads_packet_after_check
;; type cgroup_skb
;; expect accept
	r2 = *(u32 *)(r1 + 76)
	r4 = *(u32 *)(r1 + 80)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 0)
out:
	r0 = 1
	exit

;; case cgroup_skb_cannot_write_packet
;; type cgroup_skb
;; expect reject: cannot write into packet
	r2 = *(u32 *)(r1 + 76)
	r4 = *(u32 *)(r1 + 80)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	*(u8 *)(r2 + 0) = 0
out:
	r0 = 1
	exit

;; case packet_pointer_stale_after_adjust_head
;; type xdp
;; expect reject: R7 invalid mem access 'scalar'
	r6 = r1
	r2 = *(u32 *)(r6 + 0)
	r4 = *(u32 *)(r6 + 4)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r7 = r2
	r1 = r6
	r2 = 0
	call 44
	r0 = *(u8 *)(r7 + 0)
out:
	r0 = 2
	exit

;; case packet_pointer_reloaded_after_adjust_head
;; type xdp
;; expect accept
	r6 = r1
	r1 = r6
	r2 = 0
	call 44
	r2 = *(u32 *)(r6 + 0)
	r4 = *(u32 *)(r6 + 4)
	r3 = r2
	r3 += 1
	if r3 > r4 goto out
	r0 = *(u8 *)(r2 + 0)
out:
	r0 = 2
	exit

;; case range_kept_by_copy_of_checked_pointer
;; type xdp
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r5 = r2
	r3 = r2
	r3 += 4
	if r3 > r4 goto out
	r0 = *(u32 *)(r5 + 0)
out:
	r0 = 2
	exit
