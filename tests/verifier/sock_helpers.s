# Helpers on sockets (net/core/filter.c, net/core/bpf_sk_storage.c):
# bpf_sk_fullsock, bpf_tcp_sock and bpf_get_listener_sock on skb->sk
# (__sk_buff offset 168, a sock_common in tc) and bpf_sock_ops->sk (offset
# 184, a sock), loads through the tcp_sock they return
# (bpf_tcp_sock_is_valid_access: whole fields, bytes_received and
# bytes_acked at 80 and 88 are 8 bytes, the struct ends at 112), socket
# storage on those sockets and on a cgroup_sock program's context.

;; case tc_fullsock_reads_type
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 95
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case tc_fullsock_result_used_unchecked
;; type sched_cls
;; expect reject: R0 invalid mem access 'sock_or_null'
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 95
	r0 = *(u32 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case tc_fullsock_of_unchecked_sk
;; type sched_cls
;; expect reject: R1 type=sock_common_or_null expected=sock_common, sock, tcp_sock, xdp_sock
	r1 = *(u64 *)(r1 + 168)
	call 95
	r0 = 0
	exit

;; case tc_fullsock_of_the_context
;; type sched_cls
;; expect reject: R1 type=ctx expected=sock_common, sock, tcp_sock, xdp_sock
	call 95
	r0 = 0
	exit

;; case tc_tcp_sock_reads_snd_cwnd_and_bytes_acked
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 0)
	r2 = *(u64 *)(r0 + 88)
	r3 = *(u32 *)(r0 + 108)
out:
	r0 = 0
	exit

;; case tc_tcp_sock_bytes_acked_as_four_bytes
;; type sched_cls
;; expect reject: R0 invalid tcp_sock access off=88 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 88)
out:
	r0 = 0
	exit

;; case tc_tcp_sock_narrow_load
;; type sched_cls
;; expect reject: R0 invalid tcp_sock access off=0 size=2
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r1 = *(u16 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case tc_tcp_sock_past_its_end
;; type sched_cls
;; expect reject: R0 invalid tcp_sock access off=112 size=4
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r1 = *(u32 *)(r0 + 112)
out:
	r0 = 0
	exit

;; case tc_tcp_sock_write
;; type sched_cls
;; expect reject: R0 cannot write into tcp_sock
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r1 = 1
	*(u32 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case tc_tcp_sock_of_a_fullsock
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 95
	if r0 == 0 goto out
	r1 = r0
	call 96
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 4)
out:
	r0 = 0
	exit

;; case tc_listener_sock_reads_src_port
;; type sched_cls
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 98
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 44)
out:
	r0 = 0
	exit

;; case cgroup_skb_tcp_sock
;; type cgroup_skb
;; expect accept
	r1 = *(u64 *)(r1 + 168)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 16)
out:
	r0 = 1
	exit

;; case sock_ops_tcp_sock
;; type sock_ops
;; expect accept
	r1 = *(u64 *)(r1 + 184)
	if r1 == 0 goto out
	call 96
	if r0 == 0 goto out
	r0 = *(u64 *)(r0 + 80)
out:
	r0 = 1
	exit

;; case xdp_may_not_call_sk_fullsock
;; type xdp
;; expect reject: program of this type cannot use helper bpf_sk_fullsock#95
	r1 = 0
	call 95
	r0 = 2
	exit

;; case tc_sk_storage_counter
;; type sched_cls
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = *(u64 *)(r1 + 168)
	if r2 == 0 goto out
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 += 1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case tc_sk_storage_of_unchecked_sk
;; type sched_cls
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 type=sock_common_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_
	r2 = *(u64 *)(r1 + 168)
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	r0 = 0
	exit

;; case tc_sk_storage_value_past_its_end
;; type sched_cls
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=4 size=8
	r2 = *(u64 *)(r1 + 168)
	if r2 == 0 goto out
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 4)
out:
	r0 = 0
	exit

;; case tc_sk_storage_delete
;; type sched_cls
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = *(u64 *)(r1 + 168)
	if r2 == 0 goto out
	ld_pseudo r1, 5, 0
	call 108
out:
	r0 = 0
	exit

;; case tc_sk_storage_of_a_hash_map
;; type sched_cls
;; map values hash key=4 value=8 max=4
;; expect reject: cannot pass map_type 1 into func bpf_sk_storage_get#107
	r2 = *(u64 *)(r1 + 168)
	if r2 == 0 goto out
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
out:
	r0 = 0
	exit

;; case sk_storage_map_passed_to_map_lookup
;; type sched_cls
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect reject: cannot pass map_type 24 into func bpf_map_lookup_elem#1
	r1 = 0
	*(u32 *)(r10 - 4) = r1
	ld_pseudo r1, 5, 0
	r2 = r10
	r2 += -4
	call 1
	r0 = 0
	exit

# cgroup_sock programs' bpf_sk_storage_get takes their context, the socket.
;; case cgroup_sock_storage_of_the_context
;; type cgroup_sock
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = r1
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	r0 = 1
	exit

;; case cgroup_sock_storage_of_the_stack
;; type cgroup_sock
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 type=fp expected=ctx
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	r0 = 1
	exit

;; case sock_ops_sk_used_unchecked
;; type sock_ops
;; expect reject: R1 invalid mem access 'sock_or_null'
	r1 = *(u64 *)(r1 + 184)
	r0 = *(u32 *)(r1 + 4)
	r0 = 1
	exit

;; case sk_msg_sk_is_never_null
;; type sk_msg
;; expect accept
	r1 = *(u64 *)(r1 + 72)
	r0 = *(u32 *)(r1 + 4)
	r0 = 1
	exit

;; case sk_msg_sk_storage
;; type sk_msg
;; map socks sk_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = *(u64 *)(r1 + 72)
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 107
	r0 = 1
	exit

# bpf_msg_pull_data moves the message's data: pointers into it are stale.
;; case sk_msg_pull_data_then_reload
;; type sk_msg
;; expect accept
	r6 = r1
	r2 = 0
	r3 = 4
	r4 = 0
	call 63
	r2 = *(u64 *)(r6 + 0)
	r3 = *(u64 *)(r6 + 8)
	r4 = r2
	r4 += 4
	if r4 > r3 goto out
	r0 = *(u32 *)(r2 + 0)
out:
	r1 = r6
	r2 = 64
	call 62
	r0 = 1
	exit

;; case sk_msg_data_stale_after_pull_data
;; type sk_msg
;; expect reject: R7 invalid mem access 'scalar'
	r6 = r1
	r7 = *(u64 *)(r6 + 0)
	r3 = *(u64 *)(r6 + 8)
	r4 = r7
	r4 += 4
	if r4 > r3 goto out
	r1 = r6
	r2 = 0
	r3 = 4
	r4 = 0
	call 63
	r0 = *(u32 *)(r7 + 0)
out:
	r0 = 1
	exit

;; case sock_ops_setsockopt_from_stack
;; type sock_ops
;; expect accept
	r2 = 1
	*(u32 *)(r10 - 4) = r2
	r2 = 6
	r3 = 3
	r4 = r10
	r4 += -4
	r5 = 4
	call 49
	r0 = 1
	exit

# Root may pass never-written stack as memory a helper reads.
;; case sock_ops_setsockopt_uninitialised_value
;; type sock_ops
;; expect accept
	r2 = 6
	r3 = 3
	r4 = r10
	r4 += -8
	r5 = 8
	call 49
	r0 = 1
	exit

;; case sock_addr_getsockopt_into_stack
;; type cgroup_sock_addr
;; attach cgroup_inet4_connect
;; expect accept
	r2 = 6
	r3 = 13
	r4 = r10
	r4 += -16
	r5 = 16
	call 57
	r0 = 1
	exit

;; case sock_ops_getsockopt_zero_size
;; type sock_ops
;; expect reject: R5 invalid zero-sized read: u64=[0,0]
	r2 = 6
	r3 = 13
	r4 = r10
	r4 += -16
	r5 = 0
	call 57
	r0 = 1
	exit
