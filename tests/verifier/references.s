# Acquired references must be released on every path: ring buffer records
# (reserve, then submit or discard), sockets from bpf_sk_lookup_* (then
# bpf_sk_release); a released reference is gone; a tail call may not
# leave one behind. Spin locks: a map value with a BTF-described
# bpf_spin_lock may be locked and must be unlocked, with no calls in
# between. Selftests: verifier_ringbuf.c, verifier_ref_tracking.c,
# verifier_spin_lock.c, verifier_sock.c.
# bpf_sk_lookup_tcp(ctx, tuple, tuple_size, netns, flags); the tuple is
# struct bpf_sock_tuple, 12 bytes for IPv4.

;; case ringbuf_reserve_submit
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	*(u64 *)(r0 + 0) = 1
	r1 = r0
	r2 = 0
	call 132
out:
	r0 = 0
	exit

;; case ringbuf_reserve_discard
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	r1 = r0
	r2 = 0
	call 133
out:
	r0 = 0
	exit

;; case ringbuf_reserve_leaked
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: BPF_EXIT instruction in main prog would lead to reference leak
;; detail Unreleased reference id=2 alloc_insn=4
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	r0 = 0
	exit

;; case ringbuf_submit_unchecked
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R1 type=ringbuf_mem_or_null expected=ringbuf_mem
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	r1 = r0
	r2 = 0
	call 132
	r0 = 0
	exit

;; case ringbuf_record_dereferenced_unchecked
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R0 invalid mem access 'ringbuf_mem_or_null'
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	*(u64 *)(r0 + 0) = 1
	r0 = 0
	exit

;; case ringbuf_submitted_twice
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R1 type=scalar expected=ringbuf_mem
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	r2 = 0
	call 132
	r1 = r6
	r2 = 0
	call 132
out:
	r0 = 0
	exit

;; case ringbuf_record_used_after_submit
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R6 invalid mem access 'scalar'
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	r2 = 0
	call 132
	*(u64 *)(r6 + 0) = 1
out:
	r0 = 0
	exit

;; case ringbuf_write_past_the_record
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to memory, mem_size=8 off=8 size=8
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	*(u64 *)(r0 + 8) = 1
	r1 = r0
	r2 = 0
	call 132
out:
	r0 = 0
	exit

;; case ringbuf_reserve_unknown_size
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect reject: R2 is not a known constant'
	r2 = *(u32 *)(r1 + 0)
	r2 &= 64
	ld_pseudo r1, 5, 0
	r3 = 0
	call 131
	if r0 == 0 goto out
	r1 = r0
	r2 = 0
	call 133
out:
	r0 = 0
	exit

;; case ringbuf_output_bounded_size
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect accept
	r3 = *(u32 *)(r1 + 0)
	r3 &= 7
	*(u64 *)(r10 - 8) = 0
	ld_pseudo r1, 5, 0
	r2 = r10
	r2 += -8
	r4 = 0
	call 130
	r0 = 0
	exit

;; case sk_lookup_and_release
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
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sk_lookup_leaked
;; type sched_cls
;; expect reject: BPF_EXIT instruction in main prog would lead to reference leak
;; detail Unreleased reference id=2 alloc_insn=7
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	r0 = 0
	exit

;; case sk_release_unchecked
;; type sched_cls
;; expect reject: R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	r1 = r0
	call 86
	r0 = 0
	exit

;; case sk_released_on_one_branch_only
;; type sched_cls
;; expect reject: BPF_EXIT instruction in main prog would lead to reference leak
;; detail Unreleased reference id=2 alloc_insn=8
	r6 = *(u32 *)(r1 + 0)
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	if r6 == 0 goto out
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sk_release_of_non_socket
;; type sched_cls
;; expect reject: R1 type=fp expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_
	r1 = r10
	call 86
	r0 = 0
	exit

;; case tail_call_holding_a_socket
;; type sched_cls
;; map progs prog_array key=4 value=4 max=4
;; expect reject: tail_call would lead to reference leak
;; detail Unreleased reference id=2 alloc_insn=8
	r6 = r1
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r7 = r0
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
	r1 = r7
	call 86
out:
	r0 = 0
	exit

;; case spin_lock_and_unlock
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	r1 = r6
	call 94
out:
	r0 = 0
	exit

;; case spin_lock_held_at_exit
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	call 93
out:
	r0 = 0
	exit

;; case helper_call_while_locked
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: function calls are not allowed while holding a lock
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	call 5
	r1 = r6
	call 94
out:
	r0 = 0
	exit

;; case unlock_without_lock
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: bpf_spin_unlock without taking a lock
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	call 94
out:
	r0 = 0
	exit

;; case spin_lock_on_map_without_btf
;; type sched_cls
;; map plain hash key=4 value=8 max=1
;; expect reject: map 'plain' has to have BTF in order to use bpf_spin_lock
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	r1 = r6
	call 94
out:
	r0 = 0
	exit

;; case spin_lock_field_read_directly
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: bpf_spin_lock cannot be accessed directly by load/store
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r0 = *(u32 *)(r0 + 0)
out:
	r0 = 0
	exit

;; case value_beside_the_lock_is_accessible
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	r1 = *(u32 *)(r6 + 4)
	r1 += 1
	*(u32 *)(r6 + 4) = r1
	r1 = r6
	call 94
out:
	r0 = 0
	exit

;; case sk_released_on_both_branches
;; type sched_cls
;; expect accept
	r6 = *(u32 *)(r1 + 0)
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r1 = r0
	if r6 == 0 goto other
	call 86
	goto out
other:
	call 86
out:
	r0 = 0
	exit

;; case tail_call_after_release
;; type sched_cls
;; map progs prog_array key=4 value=4 max=4
;; expect accept
	r6 = r1
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r1 = r0
	call 86
	r1 = r6
	ld_pseudo r2, 5, 0
	r3 = 0
	call 12
out:
	r0 = 0
	exit

;; case sk_lookup_udp_and_release
;; type sched_cls
;; expect accept
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 85
	if r0 == 0 goto out
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sk_field_read_before_release
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
	r6 = *(u32 *)(r0 + 4)
	r1 = r0
	call 86
out:
	r0 = 0
	exit

;; case sk_field_read_after_release
;; type sched_cls
;; expect reject: R6 invalid mem access 'scalar'
	*(u64 *)(r10 - 16) = 0
	*(u32 *)(r10 - 8) = 0
	r2 = r10
	r2 += -16
	r3 = 12
	r4 = -1
	r5 = 0
	call 84
	if r0 == 0 goto out
	r6 = r0
	r1 = r0
	call 86
	r0 = *(u32 *)(r6 + 4)
out:
	r0 = 0
	exit

;; case ringbuf_reserved_and_submitted_by_subprogram
;; type socket_filter
;; map events ringbuf key=0 value=0 max=4096
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 8
	r3 = 0
	call 131
	if r0 == 0 goto out
	r1 = r0
	call submit
out:
	r0 = 0
	exit
submit:
	r2 = 0
	call 132
	r0 = 0
	exit

;; case static_call_while_locked
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; func main static
;; func f static
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	call f
	r1 = r6
	call 94
out:
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case global_call_while_locked
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; func main static
;; func f global
;; expect reject: use static function instead
;; detail global function calls are not allowed while holding a lock,
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	call f
	r1 = r6
	call 94
out:
	r0 = 0
	exit
f:
	r0 = 0
	exit

;; case unlock_of_another_value
;; type sched_cls
;; map locked hash key=4 value=8 max=2 spin_lock
;; expect reject: bpf_spin_unlock of different lock
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	*(u32 *)(r10 - 8) = 1
	r2 = r10
	r2 += -8
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r7 = r0
	r1 = r6
	call 93
	r1 = r7
	call 94
out:
	r0 = 0
	exit

;; case lock_at_wrong_offset
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: off 4 doesn't point to 'struct bpf_spin_lock' that is at 0
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r1 = r0
	r1 += 4
	call 93
out:
	r0 = 0
	exit

;; case lock_twice
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect reject: function calls are not allowed while holding a lock
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	r1 = r6
	call 93
out:
	r0 = 0
	exit

;; case lock_unlock_and_read_the_rest
;; type sched_cls
;; map locked hash key=4 value=8 max=1 spin_lock
;; expect accept
	*(u32 *)(r10 - 4) = 0
	r2 = r10
	r2 += -4
	ld_pseudo r1, 5, 0
	call 1
	if r0 == 0 goto out
	r6 = r0
	r1 = r6
	call 93
	r7 = *(u32 *)(r6 + 4)
	r1 = r6
	call 94
out:
	r0 = 0
	exit
