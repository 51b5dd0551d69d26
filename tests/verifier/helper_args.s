# Helper calls: each argument is checked against the helper's prototype
# (map pointer, pointer to initialised memory of the map's key/value size,
# ARG_CONST_SIZE and ARG_CONST_SIZE_OR_ZERO sizes bounded and non-negative),
# r1-r5 are clobbered by the call, and each program type may call only its
# own set of helpers. Selftests: verifier_helper_access_var_len.c,
# verifier_helper_packet_access.c, verifier_helper_value_access.c,
# verifier_helper_restricted.c, verifier_unpriv.c.

;; case key_is_a_scalar
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect reject: R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
	r2 = 0
	ld_pseudo r1, 5, 0
	call 1
	r0 = 0
	exit

;; case map_argument_is_ctx
;; type socket_filter
;; expect reject: R1 type=ctx expected=map_ptr
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	call 1
	r0 = 0
	exit

;; case key_runs_past_the_frame
;; type socket_filter
;; map values hash key=8 value=8 max=4
;; expect reject: invalid read from stack R2 off=-4 size=8
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = 0
	exit

;; case key_from_uninitialised_stack_for_root
;; type socket_filter
;; map values hash key=8 value=8 max=4
;; expect accept
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	r0 = 0
	exit

;; case update_with_value_on_stack
;; type socket_filter
;; map values hash key=4 value=8 max=4
;; expect accept
	*(u32 *)(r10 - 4) = 1
	*(u64 *)(r10 - 16) = 2
	r2 = r10
	r2 += -4
	r3 = r10
	r3 += -16
	r4 = 0
	ld_pseudo r1, 5, 0
	call 2
	r0 = 0
	exit

;; case key_in_checked_packet
;; type xdp
;; map values hash key=4 value=8 max=4
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 4
	if r3 > r4 goto out
	ld_pseudo r1, 5, 0
	call 1
out:
	r0 = 2
	exit

;; case key_in_unchecked_packet
;; type xdp
;; map values hash key=4 value=8 max=4
;; expect reject: R2 offset is outside of the packet
;; detail invalid access to packet, off=0 size=4, R2(id=0,off=0,r=2)
	r2 = *(u32 *)(r1 + 0)
	r4 = *(u32 *)(r1 + 4)
	r3 = r2
	r3 += 2
	if r3 > r4 goto out
	ld_pseudo r1, 5, 0
	call 1
out:
	r0 = 2
	exit

;; case argument_registers_clobbered
;; type socket_filter
;; expect reject: R1 !read_ok
	r1 = 1
	call 5
	r0 = r1
	exit

;; case callee_saved_registers_survive
;; type socket_filter
;; expect accept
	r6 = 1
	call 5
	r0 = r6
	exit

;; case probe_read_constant_size
;; type kprobe
;; expect accept
	r3 = *(u64 *)(r1 + 0)
	r1 = r10
	r1 += -8
	r2 = 8
	call 113
	r0 = 0
	exit

;; case probe_read_zero_size
;; type kprobe
;; expect accept
	r3 = *(u64 *)(r1 + 0)
	r1 = r10
	r1 += -8
	r2 = 0
	call 113
	r0 = 0
	exit

;; case probe_read_size_larger_than_buffer
;; type kprobe
;; expect reject: invalid write to stack R1 off=-8 size=16
	r3 = *(u64 *)(r1 + 0)
	r1 = r10
	r1 += -8
	r2 = 16
	call 113
	r0 = 0
	exit

;; case probe_read_unbounded_size
;; type kprobe
;; expect reject: R2 min value is negative, either use unsigned or 'var &= const'
	r3 = *(u64 *)(r1 + 0)
	r2 = *(u64 *)(r1 + 8)
	r1 = r10
	r1 += -64
	call 113
	r0 = 0
	exit

;; case probe_read_bounded_size
;; type kprobe
;; expect accept
	r3 = *(u64 *)(r1 + 0)
	r2 = *(u64 *)(r1 + 8)
	if r2 > 64 goto out
	r1 = r10
	r1 += -64
	call 113
out:
	r0 = 0
	exit

;; case probe_read_size_may_be_negative
;; type kprobe
;; expect reject: R2 min value is negative, either use unsigned or 'var &= const'
	r3 = *(u64 *)(r1 + 0)
	r2 = *(u64 *)(r1 + 8)
	if r2 s> 64 goto out
	r1 = r10
	r1 += -64
	call 113
out:
	r0 = 0
	exit

;; case get_current_comm_sized
;; type kprobe
;; expect accept
	r1 = r10
	r1 += -16
	r2 = 16
	call 16
	r0 = 0
	exit

;; case get_current_comm_zero_size
;; type kprobe
;; expect reject: R2 invalid zero-sized read: u64=[0,0]
	r1 = r10
	r1 += -16
	r2 = 0
	call 16
	r0 = 0
	exit

;; case skb_load_bytes_in_xdp
;; type xdp
;; expect reject: program of this type cannot use helper bpf_skb_load_bytes#26
	r2 = 0
	r3 = r10
	r3 += -8
	r4 = 8
	call 26
	r0 = 2
	exit

;; case skb_load_bytes_in_tc
;; type sched_cls
;; expect accept
	r2 = 0
	r3 = r10
	r3 += -8
	r4 = 8
	call 26
	r0 = 0
	exit

;; case xdp_adjust_head_in_socket_filter
;; type socket_filter
;; expect reject: program of this type cannot use helper bpf_xdp_adjust_head#44
	r2 = 0
	call 44
	r0 = 0
	exit

;; case unknown_helper_id
;; type socket_filter
;; expect reject: invalid func unknown#100000
	call 100000
	r0 = 0
	exit

;; case get_current_pid_tgid_in_kprobe
;; type kprobe
;; expect accept
	call 14
	r0 = 0
	exit

;; case trace_printk_from_stack
;; type kprobe
;; expect accept
	r1 = 0x0a6968
	*(u64 *)(r10 - 8) = r1
	r1 = r10
	r1 += -8
	r2 = 4
	call 6
	r0 = 0
	exit

;; case lookup_in_ringbuf
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: invalid zero-sized read
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	r0 = 0
	exit

;; case redirect_in_xdp
;; type xdp
;; expect accept
	r1 = 1
	r2 = 0
	call 23
	exit

;; case redirect_in_socket_filter
;; type socket_filter
;; expect reject: program of this type cannot use helper bpf_redirect#23
	r1 = 1
	r2 = 0
	call 23
	r0 = 0
	exit

;; case get_current_pid_tgid_in_xdp
;; type xdp
;; expect accept
	call 14
	r0 = 2
	exit

;; case ktime_in_socket_filter
;; type socket_filter
;; expect accept
	call 5
	r0 = 0
	exit

;; case perf_event_output_in_xdp
;; type xdp
;; map events perf_event_array key=4 value=4 max=4
;; expect accept
	*(u64 *)(r10 - 8) = 0
	ld_pseudo r2, 5, 0
	r3 = 0xffffffff ll
	r4 = r10
	r4 += -8
	r5 = 8
	call 25
	r0 = 2
	exit

;; case perf_event_output_to_array_map
;; type xdp
;; map events array key=4 value=4 max=1
;; expect reject: cannot pass map_type 2 into func bpf_perf_event_output#25
	*(u64 *)(r10 - 8) = 0
	ld_pseudo r2, 5, 0
	r3 = 0xffffffff ll
	r4 = r10
	r4 += -8
	r5 = 8
	call 25
	r0 = 2
	exit
