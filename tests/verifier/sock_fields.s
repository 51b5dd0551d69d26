# Fields of struct bpf_sock read through socket pointers: a `sock` from
# bpf_sk_lookup_tcp (then released) or the `sock_common` of a tc
# program's skb->sk (offset 168 of __sk_buff). Whole 4-byte fields,
# narrow loads of the fields that allow them, dst_port as 2 or 4 bytes,
# nothing past the struct, in the padding after dst_port, or written;
# sock_common hides type, protocol, mark and priority. Selftests:
# verifier/sock.c, verifier_sock.c. The tuple is 12 zero bytes (IPv4).

;; case sock_bound_dev_if_read
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 0)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_read_past_the_struct
;; type sched_cls
;; expect reject: R0 invalid sock access off=80 size=4
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 80)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_read_far_past_the_struct
;; type sched_cls
;; expect reject: R0 invalid sock access off=200 size=4
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 200)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_field_read_as_8_bytes
;; type sched_cls
;; expect reject: R0 invalid sock access off=0 size=8
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u64 *)(r0 + 0)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_family_read_narrow
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 4)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_mark_read_narrow
;; type sched_cls
;; expect reject: R0 invalid sock access off=16 size=2
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 16)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_mark_read_whole
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 16)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_src_ip6_byte
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u8 *)(r0 + 31)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_src_port_second_byte
;; type sched_cls
;; expect reject: R0 invalid sock access off=45 size=1
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u8 *)(r0 + 45)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_src_port_first_half
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 44)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_dst_port_two_bytes
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 48)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_dst_port_four_bytes
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 48)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_dst_port_padding
;; type sched_cls
;; expect reject: R0 invalid sock access off=50 size=2
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 50)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_dst_ip6_byte
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u8 *)(r0 + 59)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_misaligned_half
;; type sched_cls
;; expect reject: R0 invalid sock access off=25 size=2
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u16 *)(r0 + 25)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_rx_queue_mapping_read
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = *(u32 *)(r0 + 76)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_written
;; type sched_cls
;; expect reject: R0 cannot write into sock
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = 1
	*(u32 *)(r0 + 16) = r6
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_stored_immediate
;; type sched_cls
;; expect reject: R0 cannot write into sock
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	*(u32 *)(r0 + 16) = 1
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sock_common_family_read
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 4)
out:
	r0 = 0
	exit

;; case sock_common_state_read
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 72)
out:
	r0 = 0
	exit

;; case sock_common_type_read
;; type sched_cls
;; expect reject: R1 invalid sock_common access off=8 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 8)
out:
	r0 = 0
	exit

;; case sock_common_protocol_read
;; type sched_cls
;; expect reject: R1 invalid sock_common access off=12 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 12)
out:
	r0 = 0
	exit

;; case sock_common_mark_read
;; type sched_cls
;; expect reject: R1 invalid sock_common access off=16 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 16)
out:
	r0 = 0
	exit

;; case sock_common_priority_read
;; type sched_cls
;; expect reject: R1 invalid sock_common access off=20 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 20)
out:
	r0 = 0
	exit

;; case sock_common_src_ip4_read
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r0 = *(u32 *)(r1 + 24)
out:
	r0 = 0
	exit

;; case sock_common_written
;; type sched_cls
;; expect reject: R1 cannot write into sock_common
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	r2 = 0
	*(u32 *)(r1 + 4) = r2
out:
	r0 = 0
	exit
